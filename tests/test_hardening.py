"""Regressions for hostile input, precedence and robustness gaps found in review: each would have
been a 500, a wrong status, or a malformed amount."""

import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from accounts.models import Profile
from loans.models import Notification
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[1]


def _loan(borrower_api, **extra) -> dict:
    body = {"amount": "1000.00", "term_months": 4, **extra}
    response = borrower_api.post("/api/loans/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def _raw(client, path: str, body: str, content_type: str = "application/json", **headers):
    return client.post(path, data=body, content_type=content_type, **headers)


def test_malformed_body_still_answers_404_and_403_first(borrower_api, lender_api, stranger_api):
    draft = _loan(borrower_api, draft=True)
    open_loan = _loan(borrower_api)
    assert _raw(stranger_api, f"/api/loans/{draft['id']}/offers/", "{x").status_code == 404
    assert _raw(stranger_api, f"/api/loans/{draft['id']}/publish/", "{x", HTTP_IDEMPOTENCY_KEY="k1").status_code == 404
    assert _raw(lender_api, f"/api/loans/{open_loan['id']}/accept/", "{x").status_code == 403
    assert _raw(lender_api, f"/api/loans/{open_loan['id']}/accept/", "{}", "text/plain").status_code == 403
    own = _raw(borrower_api, f"/api/loans/{open_loan['id']}/accept/", "{x")
    assert own.status_code == 400 and own.json()["code"] == "parse_error"


def test_a_malformed_body_is_400_with_or_without_a_key(borrower_api):
    draft = _loan(borrower_api, draft=True)
    for headers in ({}, {"HTTP_IDEMPOTENCY_KEY": "k2"}):
        response = _raw(borrower_api, f"/api/loans/{draft['id']}/publish/", "{x", **headers)
        assert response.status_code == 400 and response.json()["code"] == "parse_error"
    assert borrower_api.get(f"/api/loans/{draft['id']}/").json()["status"] == "DRAFT"


@pytest.mark.parametrize(
    "body",
    [
        '{"amount": "1.00", "x": ' + "[" * 480 + "]" * 480 + "}",
        '{"amount": 1e1000000}',
        '{"amount": "1.00", "x": 1e1000000}',
        '{"amount": "1.00", "x": ' + "9" * 5000 + "}",
    ],
    ids=["deep-nesting", "huge-exponent", "huge-exponent-ignored-field", "huge-integer"],
)
def test_hostile_bodies_with_a_key_never_500(borrower, borrower_api, body):
    """Rejected (4xx) and nothing moved, or a valid deposit of 1.00 beside an ignored field, and then
    a replay; never a 500 from fingerprinting the body."""
    response = _raw(borrower_api, "/api/accounts/deposit/", body, HTTP_IDEMPOTENCY_KEY="hostile")
    assert response.status_code < 500, response.content
    balance = Profile.objects.get(user=borrower).balance
    assert balance == (Decimal("1.00") if response.status_code == 200 else Decimal("0.00"))
    again = _raw(borrower_api, "/api/accounts/deposit/", body, HTTP_IDEMPOTENCY_KEY="hostile")
    assert again.status_code == response.status_code and Profile.objects.get(user=borrower).balance == balance


def test_a_tagged_object_and_a_number_are_different_requests(borrower, borrower_api):
    borrower_api.post("/api/accounts/deposit/", {"amount": "10.00"}, format="json")
    first = _raw(borrower_api, "/api/accounts/withdraw/", '{"amount": 5}', HTTP_IDEMPOTENCY_KEY="c1")
    assert first.status_code == 200
    second = _raw(borrower_api, "/api/accounts/withdraw/", '{"amount": {"$number": "5"}}', HTTP_IDEMPOTENCY_KEY="c1")
    assert second.status_code == 422 and second.json()["code"] == "idempotency_key_reused"


@pytest.mark.parametrize("rate", ['"-0.00"', '"-0"', "-0.0"])
def test_negative_zero_rate_is_plain_zero(borrower_api, rate):
    response = _raw(borrower_api, "/api/loans/", f'{{"amount": "1000.00", "term_months": 4, "interest_rate": {rate}}}')
    assert response.status_code == 201 and response.json()["interest_rate"] == "0.00"
    quote = borrower_api.get("/api/loans/quote/?amount=1000.00&term_months=4&interest_rate=-0.00").json()
    assert quote["interest_rate"] == "0.00" and {row["interest"] for row in quote["payments"]} == {"0.00"}


def test_an_accept_header_never_masks_a_401(api):
    response = api.get("/api/accounts/me/", HTTP_ACCEPT="application/problem+json")
    assert response.status_code == 401 and response["Content-Type"] == "application/problem+json"


def test_quote_and_docs_ignore_a_stale_token(api):
    api.credentials(HTTP_AUTHORIZATION="Token " + "0" * 40)
    assert api.get("/api/loans/quote/?amount=5000.00&term_months=6&interest_rate=15.00").status_code == 200
    assert api.get("/api/schema/").status_code == 200


def test_a_post_without_the_trailing_slash_is_a_problem_404(borrower, borrower_api):
    response = borrower_api.post("/api/accounts/deposit", {"amount": "5.00"}, format="json")
    assert response.status_code == 404 and response["Content-Type"] == "application/problem+json"
    assert Profile.objects.get(user=borrower).balance == Decimal("0.00")


def test_notifications_are_written_with_the_money_step(borrower, borrower_api, lender):
    """No on_commit capture here: the rows exist because the step's own transaction wrote them."""
    loan = _loan(borrower_api)
    assert (
        client_for(lender)
        .post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": "5.00"}, format="json")
        .status_code
        == 201
    )
    assert Notification.objects.filter(user=borrower, kind="offer_received").count() == 1


@pytest.mark.parametrize("name,value", [("LENME_FEE", "-1"), ("LENME_FEE", "0.005"), ("LENME_LATE_FEE", "abc")])
def test_bad_fee_settings_refuse_to_start(name, value):
    env = {**os.environ, "DEBUG": "1", name: value}
    result = subprocess.run(
        [sys.executable, "-c", "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'lenme.settings'); django.setup()"],
        cwd=ROOT, env=env, capture_output=True, text=True,
    )  # fmt: skip
    assert result.returncode != 0 and "ImproperlyConfigured" in result.stderr and name in result.stderr


def test_schema_documents_errors_as_problem_json_and_money_inputs_as_string_or_number(client):
    schema = json.loads(client.get("/api/schema/?format=json").content)
    unauthorized = schema["paths"]["/api/accounts/me/"]["get"]["responses"]["401"]["content"]
    assert list(unauthorized) == ["application/problem+json"]
    amount = schema["components"]["schemas"]["AmountInputRequest"]["properties"]["amount"]
    assert {option["type"] for option in amount["oneOf"]} == {"string", "number"}
