"""Issue 11 item 3: no request reaches a 5xx. Every route in the URLconf (resolved from the URL
patterns, ids substituted) is tried with every HTTP method, with and without auth, and with hostile
headers (Content-Type charsets that are no text encoding, unknown charsets, odd Accept); every answer
is below 500, and every 4xx from the API is a problem+json body."""

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.accounts.api_helpers import assert_problem

METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "HEAD", "PROPFIND", "TRACE"]
BAD_CHARSETS = ["base64", "rot13", "hex", "zlib", "bz2", "uu", "quopri", "no-such-charset", "", "utf-8;x", "idna"]


def _routes(resolver=None, prefix: str = "") -> list[str]:
    """Every concrete path of the URLconf, converters replaced by an id (admin excluded: Django's own)."""
    out = []
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if route.startswith("admin/"):
            continue
        if isinstance(pattern, URLResolver):
            out.extend(_routes(pattern, route))
        elif isinstance(pattern, URLPattern):
            out.append(route)
    return out


def _concrete(route: str, ident: int) -> str:
    import re

    return "/" + re.sub(r"<(?:\w+:)?\w+>", str(ident), route).lstrip("^").rstrip("$")


@pytest.fixture
def world(db):
    """A signed-in user (ids 1 and 999999 then resolve to nothing of theirs: 404/403 paths)."""
    borrower = factories.UserFactory(username="sweeper")
    return {"token": factories.token_for(borrower)}


def _check(response, label):
    assert response.status_code < 500, (label, response.status_code, response.content[:300])
    if 400 <= response.status_code < 500 and label[0] != "HEAD":  # HEAD: headers only
        assert response["Content-Type"].startswith("application/problem+json"), label
        body = json.loads(response.content)
        assert {"type", "title", "status", "detail", "code"} <= body.keys(), label
        assert body["status"] == response.status_code, label


def test_routes_are_discovered():
    routes = _routes()
    assert "api/auth/register/" in routes and "api/loans/<int:loan_id>/payments/<int:payment_id>/pay/" in routes
    assert "api/docs/" in routes and "swagger/" in routes and "api/redoc/" in routes


@pytest.mark.parametrize("authenticated", [False, True])
def test_every_method_on_every_route_is_below_500(world, authenticated):
    client = Client(raise_request_exception=False)
    auth = {"HTTP_AUTHORIZATION": f"Token {world['token']}"} if authenticated else {}
    for route in _routes():
        for ident in (1, 999999):
            path = _concrete(route, ident)
            for method in METHODS:
                response = client.generic(method, path, b'{"amount": "1.00"}', "application/json", **auth)
                _check(response, (method, path, authenticated))


@pytest.mark.parametrize("authenticated", [False, True])
def test_hostile_headers_on_every_route_are_below_500(world, authenticated):
    client = Client(raise_request_exception=False)
    auth = {"HTTP_AUTHORIZATION": f"Token {world['token']}"} if authenticated else {}
    for route in _routes():
        path = _concrete(route, 1)
        for method in ("GET", "POST", "OPTIONS"):
            for charset in BAD_CHARSETS:
                response = client.generic(
                    method, path, b'{"username": "x"}', f"application/json; charset={charset}", **auth
                )
                _check(response, (method, path, charset))
            for accept in ("text/html", "application/xml", "*/*;q=abc", "\x00", "application/json; version=9"):
                response = client.generic(method, path, b"{}", "application/json", HTTP_ACCEPT=accept, **auth)
                _check(response, (method, path, accept))
            for content_type in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data", "a/b/c"):
                response = client.generic(method, path, b"a=b", content_type, **auth)
                _check(response, (method, path, content_type))


@pytest.mark.parametrize("charset", ["base64", "rot13", "hex", "zlib", "no-such-charset"])
@pytest.mark.parametrize("path", ["/api/auth/register/", "/api/auth/token/"])
def test_bad_charset_on_sign_in_and_register_is_a_parse_error(db, path, charset):
    client = Client(raise_request_exception=False)
    body = b'{"username": "a", "password": "b"}'
    response = client.generic("POST", path, body, f"application/json; charset={charset}")
    assert_problem(response, 400, "parse_error", field=None)


@pytest.mark.parametrize("path", ["/api/docs/", "/swagger/", "/api/redoc/"])
def test_options_on_the_docs_is_not_a_500(db, path):
    response = Client(raise_request_exception=False).options(path)
    assert response.status_code in (200, 405), response.content[:200]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_statement_timeout_is_409_conflict_and_moves_no_money():
    """SQLSTATE 57014 (query_canceled): a deposit waits on a row another transaction holds until the
    statement_timeout cancels it. That is a 409 `conflict`, safe to retry, never a 500."""
    import threading

    from django.db import connection, connections, transaction

    from accounts.models import Profile
    from tests.conftest import client_for

    user = factories.UserFactory(username="timed")
    client = client_for(user)
    locked, release = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                Profile.objects.select_for_update().get(user=user)
                locked.set()
                release.wait(10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(10)
        with connection.cursor() as cursor:
            cursor.execute("SET statement_timeout = '300ms'")
        response = client.post("/api/accounts/deposit/", {"amount": "10.00"}, format="json")
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
        release.set()
        holder.join()
    assert_problem(response, 409, "conflict", field=None)
    assert client.get("/api/accounts/me/").json()["balance"] == "0.00"


_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20) | st.decimals(allow_nan=False, places=3),
    lambda children: st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=10), children, max_size=3),
    max_leaves=8,
)
_fields = st.sampled_from(
    ["amount", "term_months", "interest_rate", "offer_id", "enabled", "username", "password", "email", "x"]
)
_bodies = st.dictionaries(_fields, _json, max_size=4) | _json


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=_bodies, route=st.sampled_from([r for r in _routes() if r.startswith("api/")]))
def test_generated_bodies_on_every_api_route_are_below_500(world, body, route):
    """Hypothesis-generated JSON bodies, POSTed signed in to every API route (in place of schemathesis)."""
    client = Client(raise_request_exception=False)
    raw = json.dumps(body, default=str).encode()
    response = client.generic(
        "POST", _concrete(route, 1), raw, "application/json", HTTP_AUTHORIZATION=f"Token {world['token']}"
    )
    _check(response, ("POST", route, raw[:80]))
