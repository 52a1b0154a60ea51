"""The API's documentation: a valid OpenAPI 3 schema listing exactly the contract's endpoints (API.md),
and the Swagger UI / Redoc pages working offline (only this app's own static files, served by WhiteNoise)."""

import json
import re

import pytest
from django.core.management import call_command
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.validation import validate_schema

# Every endpoint of API.md, as (method, path) with path parameters written {}.
CONTRACT = {
    ("post", "/api/auth/register/"),
    ("post", "/api/auth/token/"),
    ("post", "/api/auth/logout/"),  # v2
    ("post", "/api/auth/password/"),  # v2
    ("get", "/api/accounts/me/"),
    ("post", "/api/accounts/deposit/"),
    ("post", "/api/accounts/withdraw/"),
    ("get", "/api/transactions/"),
    ("get", "/api/loans/"),
    ("post", "/api/loans/"),
    ("get", "/api/loans/available/"),
    ("get", "/api/loans/quote/"),
    ("get", "/api/loans/{}/"),
    ("post", "/api/loans/{}/publish/"),
    ("post", "/api/loans/{}/cancel/"),
    ("post", "/api/loans/{}/accept/"),
    ("post", "/api/loans/{}/fund/"),
    ("post", "/api/loans/{}/autopay/"),
    ("get", "/api/loans/{}/offers/"),
    ("post", "/api/loans/{}/offers/"),
    ("post", "/api/loans/{}/offers/{}/withdraw/"),
    ("post", "/api/loans/{}/reject/{}/"),
    ("get", "/api/loans/{}/payments/"),
    ("post", "/api/loans/{}/payments/{}/pay/"),
    ("get", "/api/loans/{}/payoff/"),  # v2
    ("post", "/api/loans/{}/payoff/"),  # v2
    ("post", "/api/loans/{}/prepay/"),  # v2
    ("get", "/api/notifications/"),
    ("post", "/api/notifications/{}/read/"),
    # v2: Notes
    ("get", "/api/notes/"),
    ("get", "/api/notes/{}/"),
    ("get", "/api/loans/{}/notes/"),
    ("get", "/api/portfolio/"),
    ("get", "/api/webhooks/"),
    ("post", "/api/webhooks/"),
    ("delete", "/api/webhooks/{}/"),
    ("post", "/api/webhooks/{}/test/"),
    ("get", "/api/webhooks/{}/deliveries/"),
    ("post", "/api/webhooks/{}/enable/"),
    ("get", "/healthz"),
    ("get", "/readyz"),
}
NO_AUTH = {
    ("post", "/api/auth/register/"),
    ("post", "/api/auth/token/"),
    ("get", "/api/loans/quote/"),
    ("get", "/healthz"),
    ("get", "/readyz"),
}
HTTP_METHODS = {"get", "put", "patch", "post", "delete", "head", "options", "trace"}
DOC_PAGES = ["/api/docs/", "/swagger/", "/api/redoc/"]


def normalized(path: str) -> str:
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.fixture(scope="module")
def schema(django_db_blocker) -> dict:
    from django.test import Client

    with django_db_blocker.unblock():
        response = Client().get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def operations(schema: dict) -> dict[tuple[str, str], dict]:
    return {
        (method, normalized(path)): operation
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if method in HTTP_METHODS
    }


def test_schema_is_a_valid_openapi_3_document(schema):
    assert schema["openapi"].startswith("3.")
    validate_schema(schema)  # raises on any violation of the OpenAPI 3 JSON schema
    assert schema["info"]["title"] == "Lenme API"


def test_schema_endpoint_serves_yaml_by_default(client):
    response = client.get("/api/schema/")

    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/vnd.oai.openapi")
    assert b"openapi: 3." in response.content


def test_schema_generates_without_warnings_and_validates(tmp_path):
    """`manage.py spectacular --validate --fail-on-warn`, as a release check would run it."""
    GENERATOR_STATS.reset()  # warnings are collected process-wide
    out = tmp_path / "schema.yml"

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    assert out.read_text().startswith("openapi: 3.")


def test_schema_lists_exactly_the_contract_endpoints(schema):
    documented = set(operations(schema))

    assert documented - CONTRACT == set(), "endpoints documented but not in API.md"
    assert CONTRACT - documented == set(), "endpoints of API.md missing from the schema"


def test_schema_declares_token_auth_on_every_endpoint_that_needs_it(schema):
    schemes = schema["components"]["securitySchemes"]
    token = [
        name for name, s in schemes.items() if s == {**s, "type": "apiKey", "in": "header", "name": "Authorization"}
    ]
    assert len(token) == 1, schemes
    name = token[0]
    assert "Token" in schemes[name].get("description", "")

    for key, operation in operations(schema).items():
        security = operation.get("security", schema.get("security", []))
        if key in NO_AUTH:
            assert {} in security, key  # callable without a token
        else:
            assert {name: []} in security and {} not in security, key


@pytest.mark.parametrize("path", DOC_PAGES)
def test_doc_pages_are_html_with_only_local_assets(client, path):
    response = client.get(path)

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/html")
    page = response.content.decode()
    external = re.findall(r"""(?:https?:)?//[A-Za-z0-9.-]+\.[A-Za-z]{2,}[^\s"'<>]*""", page)
    assert external == [], f"{path} loads assets from other hosts: {external}"
    assert '"/api/schema/"' in page


@pytest.mark.parametrize("path", DOC_PAGES)
def test_assets_of_doc_pages_are_served_by_the_app(client, path):
    page = client.get(path).content.decode()
    assets = re.findall(r"""(?:src|href)="(/static/[^"]+)\"""", page)
    assert any(a.endswith(".js") for a in assets), assets
    if path != "/api/redoc/":
        assert any(a.endswith(".css") for a in assets), assets

    for asset in assets:
        response = client.get(asset)
        assert response.status_code == 200, asset
        body = b"".join(response.streaming_content) if response.streaming else response.content
        assert len(body) > 500, asset
        if asset.endswith(".js"):
            assert "javascript" in response["Content-Type"], asset
        if asset.endswith(".css"):
            assert response["Content-Type"].startswith("text/css"), asset


def test_swagger_ui_bundle_is_the_real_swagger_ui(client):
    response = client.get("/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")

    assert response.status_code == 200
    assert b"SwaggerUIBundle" in b"".join(response.streaming_content)


def test_every_operation_has_a_summary_and_no_developer_docstring(schema):
    """Swagger readers see what each endpoint does, never a view class's docstring."""
    from lenme.api.views import ActionView
    from loans.views import LoanActionView

    internal = [ActionView.__doc__.split("\n")[0], LoanActionView.__doc__.split("\n")[0]]
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            assert operation.get("summary"), (method, path)
            assert not any(text in operation.get("description", "") for text in internal), (method, path)


def test_schema_declares_replay_and_rate_limit_headers_and_page_size_bounds(schema):
    deposit = schema["paths"]["/api/accounts/deposit/"]["post"]["responses"]
    assert "Idempotent-Replayed" in deposit["200"]["headers"]
    assert "Retry-After" in deposit["429"]["headers"]
    page_size = next(p for p in schema["paths"]["/api/loans/"]["get"]["parameters"] if p["name"] == "page_size")
    assert (page_size["schema"]["minimum"], page_size["schema"]["maximum"], page_size["schema"]["default"]) == (
        1,
        200,
        50,
    )
