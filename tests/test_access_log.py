"""The access log: one line per request from the app (logger lenme.access) with request id, method,
path, status, user id and duration, and never a token, password, secret or Idempotency-Key value."""

import logging
import re

import pytest
from django.conf import settings
from django.test import override_settings

from tests import factories

LINE = re.compile(
    r"^request_id=(?P<request_id>\S+) method=(?P<method>\S+) path=(?P<path>\S+) status=(?P<status>\d{3}) "
    r"user=(?P<user>\S+) duration_ms=(?P<duration>\d+\.\d)$"
)


def access_lines(caplog) -> list[dict]:
    lines = [r.getMessage() for r in caplog.records if r.name == "lenme.access"]
    parsed = [LINE.match(line) for line in lines]
    assert all(parsed), lines
    return [m.groupdict() for m in parsed]


@pytest.fixture
def caplog_info(caplog):
    caplog.set_level(logging.INFO)
    return caplog


@pytest.mark.django_db
def test_one_line_per_request_with_the_fields(caplog_info, borrower, borrower_api):
    response = borrower_api.get("/api/accounts/me/")

    [line] = access_lines(caplog_info)
    assert line["method"] == "GET"
    assert line["path"] == "/api/accounts/me/"
    assert line["status"] == "200"
    assert line["user"] == str(borrower.pk)
    assert float(line["duration"]) >= 0
    assert response["X-Request-ID"] == line["request_id"]
    assert re.fullmatch(r"[0-9a-f]{32}", line["request_id"])


def test_anonymous_404_is_one_line_and_no_django_warning(caplog_info, client):
    response = client.get("/no/such/page")

    assert response.status_code == 404
    [line] = access_lines(caplog_info)
    assert (line["status"], line["user"], line["path"]) == ("404", "-", "/no/such/page")
    assert [r for r in caplog_info.records if r.name != "lenme.access"] == []


def test_a_sane_request_id_is_echoed(caplog_info, client):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="req-42.abc:1")

    assert response["X-Request-ID"] == "req-42.abc:1"
    assert access_lines(caplog_info)[0]["request_id"] == "req-42.abc:1"


@pytest.mark.parametrize(
    "given",
    ["x" * 129, "has space", "new\nline", "semi;colon", 'quote"d', "ümlaut", ""],
)
def test_an_insane_request_id_is_replaced(caplog_info, client, given):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=given)

    generated = response["X-Request-ID"]
    assert generated != given and re.fullmatch(r"[0-9a-f]{32}", generated)
    assert access_lines(caplog_info)[0]["request_id"] == generated


@pytest.mark.django_db
def test_no_token_password_secret_or_idempotency_key_is_logged(caplog_info, api, borrower_api):
    password = "s3cret-Passw0rd-never-logged"
    api.post("/api/auth/register/", {"username": "carol", "password": password}, format="json")
    api.post("/api/auth/token/", {"username": "carol", "password": password}, format="json")
    token = borrower_api._credentials["HTTP_AUTHORIZATION"].split()[1]
    key = "idem-key-value-never-logged"
    borrower_api.post("/api/accounts/deposit/", {"amount": "10.00"}, format="json", HTTP_IDEMPOTENCY_KEY=key)
    api.get("/api/loans/quote/?amount=5000.00&term_months=6&interest_rate=15.00&secret=query-secret-value")
    api.get("/api/accounts/me/", HTTP_AUTHORIZATION="Token bad-token-value-never-logged")

    lines = access_lines(caplog_info)
    assert [(line["path"], line["status"]) for line in lines] == [
        ("/api/auth/register/", "201"),
        ("/api/auth/token/", "200"),
        ("/api/accounts/deposit/", "200"),
        ("/api/loans/quote/", "200"),
        ("/api/accounts/me/", "401"),
    ]
    everything = caplog_info.text + "\n".join(r.getMessage() for r in caplog_info.records)
    for secret in (password, token, key, "query-secret-value", "bad-token-value-never-logged", settings.SECRET_KEY):
        assert secret not in everything


@pytest.mark.django_db
def test_path_cannot_forge_a_log_line(caplog_info, client):
    client.get("/api/loans/1%0Arequest_id=forged/")

    [line] = access_lines(caplog_info)
    assert "\n" not in line["path"] and line["path"] == "/api/loans/1%0Arequest_id=forged/"


def test_a_server_error_is_logged_with_status_500(caplog_info, client, monkeypatch):
    from lenme.api import health

    def boom(self, request):
        raise RuntimeError("boom")

    monkeypatch.setattr(health.HealthzView, "get", boom)
    client.raise_request_exception = False

    response = client.get("/healthz")

    assert response.status_code == 500
    assert access_lines(caplog_info)[0]["status"] == "500"
    assert response["X-Request-ID"]


@pytest.mark.django_db
def test_user_id_of_a_token_request_is_the_tokens_user(caplog_info):
    from tests.conftest import client_for

    lender = factories.UserFactory(username="dora")
    client_for(lender).get("/api/transactions/")

    assert access_lines(caplog_info)[0]["user"] == str(lender.pk)


def output_handlers(name: str) -> list[logging.Handler]:
    """The handlers a record of this logger reaches, as logging would walk them (pytest's own left out)."""
    found, logger = [], logging.getLogger(name)
    while logger is not None:
        found += [h for h in logger.handlers if not type(h).__module__.startswith("_pytest")]
        logger = logger.parent if logger.propagate else None
    return [h for h in found if not isinstance(h, logging.NullHandler)]


def test_each_line_reaches_the_console_once():
    """runserver logs every request on django.server; our line replaces it, so that logger is muted,
    and Django's own messages reach the console through root only (not its DEBUG console handler too)."""
    assert output_handlers("django.server") == []
    assert len(output_handlers("lenme.access")) == 1
    assert len(output_handlers("django.request")) == 1
    assert len(output_handlers("django")) == 1
    assert not logging.getLogger("django.request").isEnabledFor(logging.WARNING)  # "Not Found: ..." lines


@override_settings(DEBUG=True)
def test_one_line_in_debug_too(caplog_info, client):
    client.get("/healthz")

    assert len(access_lines(caplog_info)) == 1
