"""GET /healthz (liveness, no database) and GET /readyz (database reachable, migrations applied)."""

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from lenme.api import health


def test_healthz_is_ok_without_token_or_database(client):
    response = client.get("/healthz")  # no django_db mark: any database access would raise

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_healthz_answers_even_when_the_database_is_down(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("connection refused")

    monkeypatch.setattr(connection, "cursor", refuse)
    monkeypatch.setattr(connection, "ensure_connection", refuse)

    assert client.get("/healthz").json() == {"status": "ok"}


def test_healthz_ignores_a_bad_token(client):
    response = client.get("/healthz", HTTP_AUTHORIZATION="Token not-a-token")

    assert response.status_code == 200


@pytest.mark.parametrize("path", ["/healthz/", "/readyz/", "/api/healthz"])
def test_probes_have_no_trailing_slash_and_live_outside_api(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.django_db
def test_readyz_is_ok_when_the_database_answers_and_migrations_are_applied(client):
    with CaptureQueriesContext(connection) as captured:
        response = client.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert any("SELECT 1" in q["sql"] for q in captured.captured_queries)


@pytest.mark.django_db
def test_readyz_is_503_problem_when_the_database_is_down(client, monkeypatch):
    def refuse(*args, **kwargs):
        raise OperationalError("could not connect to server: password=hunter2")

    monkeypatch.setattr(connection, "cursor", refuse)

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    body = response.json()
    assert body["status"] == 503 and body["code"] == "not_ready"
    assert "hunter2" not in response.content.decode()  # the driver's message is not echoed


@pytest.mark.django_db
def test_readyz_is_503_problem_while_a_migration_is_pending(client, monkeypatch):
    monkeypatch.setattr(health, "_migrations_applied", False)
    monkeypatch.setattr(health, "unapplied_migrations", lambda: ["loans.0002_next"])

    response = client.get("/readyz")

    assert response.status_code == 503
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "not_ready"
    assert "1 migration" in response.json()["detail"]


@pytest.mark.django_db
def test_readyz_loads_the_migration_graph_until_it_has_seen_it_applied(client, monkeypatch):
    calls = []
    monkeypatch.setattr(health, "_migrations_applied", False)
    monkeypatch.setattr(health, "unapplied_migrations", lambda: calls.append(1) or [])

    assert [client.get("/readyz").status_code for _ in range(3)] == [200, 200, 200]
    assert len(calls) == 1  # later probes only check that the database answers


@pytest.mark.django_db
def test_unapplied_migrations_lists_what_the_database_lacks(monkeypatch):
    assert health.unapplied_migrations() == []

    from django.db.migrations.recorder import MigrationRecorder

    # The app's latest migration (a later one applied would hide an earlier one missing from the plan).
    latest = MigrationRecorder.Migration.objects.filter(app="loans").order_by("-name").first().name
    MigrationRecorder.Migration.objects.filter(app="loans", name=latest).delete()

    assert health.unapplied_migrations() == [f"loans.{latest}"]


@pytest.mark.django_db
def test_probes_are_not_redirected_to_https_in_production(client, settings):
    """The orchestrator probes the process over plain http; the API itself is still redirected."""
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").status_code == 200
    assert client.get("/api/loans/quote/").status_code == 301
