"""Shared fixtures: API clients authenticated by token, users with money, and loans at each stage."""

import functools
import os
from decimal import Decimal

import pytest
from django.db import connection
from rest_framework.test import APIClient

from tests import factories

REDIS_TEST_URL = os.environ.get("CELERY_TEST_BROKER_URL", "redis://127.0.0.1:6379/15")


@functools.cache
def redis_available() -> bool:
    try:
        import redis

        return bool(redis.Redis.from_url(REDIS_TEST_URL, socket_connect_timeout=1).ping())
    except Exception:
        return False


def _missing_service(item) -> tuple[str, bool] | None:
    """(why the test cannot run here, whether CI requires it) or None when it can run."""
    if "postgres" in item.keywords and connection.vendor != "postgresql":
        return "needs PostgreSQL (set DATABASE_URL)", os.environ.get("REQUIRE_POSTGRES") == "1"
    if "redis" in item.keywords and not redis_available():
        return f"needs Redis at {REDIS_TEST_URL}", os.environ.get("REQUIRE_REDIS") == "1"
    return None


def pytest_runtest_setup(item):
    """PostgreSQL-only tests skip on SQLite and Redis tests without Redis; REQUIRE_POSTGRES=1 and
    REQUIRE_REDIS=1 (set by CI) turn those skips into failures."""
    missing = _missing_service(item)
    if missing:
        reason, required = missing
        if required:
            pytest.fail(f"{reason}: required here, so this test may not be skipped", pytrace=False)
        pytest.skip(reason)


@pytest.fixture(autouse=True)
def _test_settings(settings):
    settings.THROTTLE_USER_RATE = ""
    settings.THROTTLE_ANON_RATE = ""
    settings.THROTTLE_LOGIN_RATE = ""
    # Users and clients are made by the dozen: PBKDF2's deliberate slowness buys the tests nothing,
    # and WhiteNoise would otherwise index every static file again for each new APIClient.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.WHITENOISE_AUTOREFRESH = True


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
