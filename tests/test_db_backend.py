"""The PostgreSQL backend's health check: no round trip for a live idle connection, and a connection
the server closed is found unusable (so Django reconnects instead of answering an error)."""

import pytest
from django.db import connections
from django.db.backends.postgresql import base

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _own_connection():
    """A second connection to the test database, so killing it leaves the test's own alone."""
    connection = connections.create_connection("default")
    connection.ensure_connection()
    return connection


def test_a_live_idle_connection_is_usable_without_asking_the_server(monkeypatch):
    connection = _own_connection()
    try:
        assert connection.vendor == "postgresql"

        def select_one(self):
            raise AssertionError("asked the server")

        monkeypatch.setattr(base.DatabaseWrapper, "is_usable", select_one)
        assert connection.is_usable()
    finally:
        connection.close()


def test_a_connection_the_server_closed_is_unusable_and_replaced():
    connection = _own_connection()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid = cursor.fetchone()[0]
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
            assert cursor.fetchone()[0] is True
        assert not connection.is_usable()  # the socket is readable: Django's SELECT 1 finds it closed
        connection.close()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            assert cursor.fetchone()[0] == 1
    finally:
        connection.close()


def test_the_settings_select_this_backend():
    assert connections["default"].__class__.__module__ == "lenme.postgresql.base"


def test_a_statement_run_twice_on_a_connection_is_prepared_and_bound_on_the_server():
    connection = _own_connection()
    try:
        with connection.cursor() as cursor:
            for _ in range(2):
                cursor.execute("SELECT count(*) FROM auth_user WHERE id > %s", [0])
            cursor.execute("SELECT statement FROM pg_prepared_statements")
            prepared = [row[0] for row in cursor.fetchall()]
        # Bound on the server: the statement keeps its placeholder instead of a quoted value.
        assert "SELECT count(*) FROM auth_user WHERE id > $1" in prepared
    finally:
        connection.close()
