"""Rate limits that hold (issue 11, items 1 and 4): sign-in is limited per username and per client
address (THROTTLE_LOGIN_RATE), the client address is the connection's unless NUM_PROXIES trusts
proxies, counts are shared by every process through the cache, and a cache outage allows the request
and logs a warning instead of answering 500."""

import json
import logging
import os
import subprocess
import sys
import uuid
from decimal import Decimal
from pathlib import Path

import pytest
from django.core.cache import cache, caches
from django.test import override_settings

from tests.accounts.api_helpers import assert_problem, post
from tests.conftest import REDIS_TEST_URL
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "correct-horse-battery"  # UserFactory's
QUOTE = "/api/loans/quote/?amount=100.00&term_months=1&interest_rate=0"
DEAD_REDIS = {
    "default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": "redis://127.0.0.1:1/0"}
}


@pytest.fixture(autouse=True)
def clean_cache():
    cache.clear()
    yield
    cache.clear()


def sign_in(api, username: str, password: str = "wrong-guess", **extra):  # noqa: S107 - a test guess
    return post(api, "/api/auth/token/", {"username": username, "password": password}, **extra)


# Item 1: per client address, per username ---------------------------------------------------------


def test_rotating_x_forwarded_for_does_not_escape_the_sign_in_limit(api, settings):
    settings.THROTTLE_LOGIN_RATE = "3/min"
    for n in range(3):
        response = sign_in(api, f"victim{n}", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}", REMOTE_ADDR="198.51.100.7")
        assert_problem(response, 400, "validation_error")

    response = sign_in(api, "victim9", HTTP_X_FORWARDED_FOR="203.0.113.99", REMOTE_ADDR="198.51.100.7")

    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1
    other_client = sign_in(api, "victim9", REMOTE_ADDR="198.51.100.8")
    assert_problem(other_client, 400, "validation_error")  # another address has its own count


def test_the_username_limit_holds_across_addresses_and_letter_case(api, settings):
    settings.THROTTLE_LOGIN_RATE = "3/min"
    UserFactory(username="alice")
    for n, name in enumerate(["alice", "ALICE", "Alice"]):
        assert_problem(sign_in(api, name, REMOTE_ADDR=f"192.0.2.{n}"), 400, "validation_error")

    response = sign_in(api, "alice", PASSWORD, REMOTE_ADDR="192.0.2.200")  # even the right password

    assert_problem(response, 429, "throttled")
    assert "token" not in response.json()
    assert sign_in(api, "bob", REMOTE_ADDR="192.0.2.201").status_code == 400  # other usernames are not locked


def test_the_anonymous_limit_keys_on_the_connection_not_on_x_forwarded_for(api, settings):
    settings.THROTTLE_ANON_RATE = "2/min"
    assert api.get(QUOTE, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 200
    assert api.get(QUOTE, HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 200

    assert_problem(api.get(QUOTE, HTTP_X_FORWARDED_FOR="203.0.113.3"), 429, "throttled")


def test_with_num_proxies_the_address_the_last_proxy_saw_is_the_client(api, settings):
    settings.THROTTLE_LOGIN_RATE = "2/min"
    settings.NUM_PROXIES = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    for n in range(2):  # a client-forged first entry does not change the address the proxy appended
        response = sign_in(api, f"u{n}", HTTP_X_FORWARDED_FOR=f"6.6.6.{n}, 203.0.113.5", **proxy)
        assert response.status_code == 400

    assert_problem(sign_in(api, "u9", HTTP_X_FORWARDED_FOR="6.6.6.9, 203.0.113.5", **proxy), 429, "throttled")
    assert sign_in(api, "u9", HTTP_X_FORWARDED_FOR="203.0.113.6", **proxy).status_code == 400  # another client


def test_password_change_counts_as_a_sign_in_attempt(api, settings):
    settings.THROTTLE_LOGIN_RATE = "2/min"
    user = UserFactory(username="carol")
    from tests.factories import token_for

    api.credentials(HTTP_AUTHORIZATION=f"Token {token_for(user)}")
    body = {"old_password": "guess", "new_password": "an0ther-L0ng-secret"}
    for n in range(2):
        assert post(api, "/api/auth/password/", body, REMOTE_ADDR=f"192.0.2.{n}").status_code == 400

    response = post(api, "/api/auth/password/", {**body, "old_password": PASSWORD}, REMOTE_ADDR="192.0.2.50")

    assert_problem(response, 429, "throttled")
    user.refresh_from_db()
    assert user.check_password(PASSWORD)


def test_the_login_rate_defaults_to_10_per_minute_and_proxies_to_0():
    from lenme import settings as module

    env = {k: v for k, v in os.environ.items() if k not in {"THROTTLE_LOGIN_RATE", "NUM_PROXIES"}}
    probe = "from django.conf import settings as s; import django; django.setup(); print(s.THROTTLE_LOGIN_RATE, s.NUM_PROXIES)"
    result = subprocess.run(  # noqa: S603 - our own interpreter and a fixed probe
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "lenme.settings", "THROTTLE_LOGIN_RATE": "10/min", "NUM_PROXIES": ""},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.stdout.split() == ["10/min", "0"], result.stderr
    assert 'env_str("THROTTLE_LOGIN_RATE", "10/min")' in Path(module.__file__).read_text()


# Item 4: a cache outage allows and logs; counts are shared across processes -----------------------


def test_a_cache_outage_degrades_to_allow_and_log_on_deposit_and_token(api, settings, caplog):
    user = UserFactory(username="dora", balance=Decimal("10.00"))
    from tests.factories import token_for

    key = token_for(user)
    settings.THROTTLE_USER_RATE = "1000/min"
    settings.THROTTLE_ANON_RATE = "100/min"
    settings.THROTTLE_LOGIN_RATE = "10/min"

    with override_settings(CACHES=DEAD_REDIS), caplog.at_level(logging.WARNING, logger="lenme.throttling"):
        assert "127.0.0.1:1" in str(caches["default"]._servers)  # nothing listens on port 1
        deposit = post(api, "/api/accounts/deposit/", {"amount": "5.00"}, HTTP_AUTHORIZATION=f"Token {key}")
        token = sign_in(api, "dora", PASSWORD)

    assert deposit.status_code == 200, deposit.content
    assert deposit.json()["balance"] == "15.00"
    assert token.status_code == 200 and token.json()["token"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "cache unavailable" in r.getMessage()]
    assert len(warnings) >= 3  # user throttle on deposit; anon, address and username throttles on token


class ExplodingCache:
    def __getattr__(self, name):
        raise ConnectionError("cache down")


def test_a_cache_that_raises_never_makes_a_500(api, settings, monkeypatch):
    from rest_framework.throttling import SimpleRateThrottle

    settings.THROTTLE_ANON_RATE = "1/min"
    settings.THROTTLE_LOGIN_RATE = "1/min"
    monkeypatch.setattr(SimpleRateThrottle, "cache", ExplodingCache())

    for _ in range(3):  # over every rate, yet allowed: nothing can be counted
        assert api.get(QUOTE).status_code == 200
        assert sign_in(api, "nobody").status_code == 400


WORKER = """
import json, sys
import django
django.setup()
from django.test import Client
client = Client(REMOTE_ADDR=sys.argv[1])
print(json.dumps([client.get(sys.argv[2]).status_code for _ in range(int(sys.argv[3]))]))
"""


@pytest.mark.redis
def test_throttle_counts_are_shared_by_separate_processes_through_cache_url():
    address = f"198.18.{uuid.uuid4().int % 250}.{uuid.uuid4().int % 250}"  # a fresh count in a shared Redis
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "lenme.settings",
        "DEBUG": "1",
        "CACHE_URL": REDIS_TEST_URL,
        "THROTTLE_ANON_RATE": "5/min",
        "DJANGO_ALLOWED_HOSTS": "testserver",
    }
    # One process after the other: the second sees the first's count. (Run at the same time, DRF's
    # read-modify-write of the request history can lose an update and let a sixth request through; a
    # known limit of its throttles, noted for its own issue.)
    statuses = []
    for _ in range(2):
        worker = subprocess.run(  # noqa: S603 - our own interpreter and a fixed script
            [sys.executable, "-c", WORKER, address, QUOTE, "4"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert worker.returncode == 0, worker.stderr
        statuses += json.loads(worker.stdout)

    assert statuses == [200] * 4 + [200] + [429] * 3  # 5/min in all, not 5 per process
