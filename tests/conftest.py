"""Shared fixtures: API clients authenticated by token, users with money, and loans at each stage."""

import os
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests import factories


def pytest_collection_modifyitems(config, items):
    """PostgreSQL-only tests skip on SQLite, and fail instead when REQUIRE_POSTGRES=1 (CI)."""
    on_postgres = connection.vendor == "postgresql"
    required = os.environ.get("REQUIRE_POSTGRES") == "1"
    for item in items:
        if "postgres" in item.keywords and not on_postgres:
            if required:
                item.add_marker(
                    pytest.mark.xfail(
                        reason="REQUIRE_POSTGRES=1 but the database is not PostgreSQL", strict=True, run=False
                    )
                )
            else:
                item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (set DATABASE_URL)"))


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.THROTTLE_USER_RATE = ""
    settings.THROTTLE_ANON_RATE = ""
    # Password hashing is deliberately slow; tests create many users.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def api():
    return APIClient()


def client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {factories.token_for(user)}")
    return client


@pytest.fixture
def borrower(db):
    return factories.UserFactory(username="borrower")


@pytest.fixture
def lender(db):
    return factories.UserFactory(username="lender", balance=Decimal("10000.00"))


@pytest.fixture
def lender2(db):
    return factories.UserFactory(username="lender2", balance=Decimal("10000.00"))


@pytest.fixture
def stranger(db):
    return factories.UserFactory(username="stranger", balance=Decimal("10000.00"))


@pytest.fixture
def borrower_api(borrower):
    return client_for(borrower)


@pytest.fixture
def lender_api(lender):
    return client_for(lender)


@pytest.fixture
def lender2_api(lender2):
    return client_for(lender2)


@pytest.fixture
def stranger_api(stranger):
    return client_for(stranger)
