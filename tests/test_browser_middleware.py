"""Session, auth and messages middleware serve the admin and the docs pages; a cookie-less call to the
JSON API skips them (lenme.middleware) and is answered exactly as through them."""

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from rest_framework.authentication import SessionAuthentication
from rest_framework.renderers import JSONRenderer
from rest_framework.test import APIClient
from rest_framework.views import APIView

from lenme.middleware import is_api_call
from tests import factories


def _headers(response) -> dict:
    return {k: v for k, v in response.headers.items() if k != "X-Request-ID"}


@pytest.mark.django_db
def test_a_cookie_less_api_call_skips_the_browser_middleware_and_is_answered_the_same():
    token = factories.token_for(factories.UserFactory(username="cookieless"))
    api = APIClient(HTTP_AUTHORIZATION=f"Token {token}")

    bare = api.get("/api/accounts/me/")
    api.cookies["unrelated"] = "1"
    with_cookie = api.get("/api/accounts/me/")

    assert not hasattr(bare.wsgi_request, "session") and not hasattr(bare.wsgi_request, "_messages")
    assert hasattr(with_cookie.wsgi_request, "session") and hasattr(with_cookie.wsgi_request, "_messages")
    assert (bare.status_code, bare.content, _headers(bare)) == (
        with_cookie.status_code,
        with_cookie.content,
        _headers(with_cookie),
    )
    assert "Set-Cookie" not in bare.headers and "Cookie" not in bare.headers.get("Vary", "")


@pytest.mark.django_db
@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/", "/api/schema/", "/admin/login/", "/healthz"])
def test_docs_admin_and_probes_go_through_the_whole_stack(path):
    response = Client().get(path)

    assert response.status_code in (200, 302)
    assert hasattr(response.wsgi_request, "session")


@pytest.mark.django_db
def test_swagger_page_still_sets_its_csrf_cookie():
    response = Client().get("/api/docs/")

    assert response.status_code == 200 and "csrftoken" in response.cookies


@pytest.mark.django_db
def test_admin_sign_in_keeps_csrf_and_sessions():
    get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-admin-1")
    browser = Client(enforce_csrf_checks=True)
    credentials = {"username": "root", "password": "pw-for-admin-1", "next": "/admin/"}

    assert browser.post("/admin/login/", credentials).status_code == 403  # no CSRF token
    page = browser.get("/admin/login/")
    token = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.content).group(1).decode()
    signed_in = browser.post("/admin/login/", {**credentials, "csrfmiddlewaretoken": token})

    assert signed_in.status_code == 302 and "sessionid" in signed_in.cookies
    assert browser.get("/admin/").status_code == 200


def _paths(resolver=None, prefix: str = "/") -> list[str]:
    out = []
    for pattern in (resolver or get_resolver()).url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            out.extend(_paths(pattern, route))
        elif isinstance(pattern, URLPattern):
            out.append(re.sub(r"<(?:\w+:)?\w+>", "1", route))
    return out


def test_every_view_a_cookie_less_call_reaches_needs_no_browser_middleware(rf):
    """Only token-authenticated JSON views behind the skip: none reads a session (SessionAuthentication)
    or renders a page; all are csrf_exempt, as CSRF would refuse a cookie-less POST to any other."""
    skipped = [path for path in _paths() if is_api_call(rf.get(path))]
    assert "/api/accounts/deposit/" in skipped and "/api/docs/" not in skipped

    for path in skipped:
        view = resolve(path).func
        cls = getattr(view, "cls", None)
        assert cls is not None and issubclass(cls, APIView), path
        assert getattr(view, "csrf_exempt", False), path
        assert not any(issubclass(a, SessionAuthentication) for a in cls.authentication_classes), path
        assert all(issubclass(r, JSONRenderer) for r in cls.renderer_classes), path
