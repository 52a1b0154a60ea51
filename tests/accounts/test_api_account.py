"""GET /api/accounts/me/, POST deposit and withdraw, GET /api/transactions/: shapes, limits, hostile
amounts that must never move money, the ledger, and query-count pins."""

from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import Transaction
from tests.accounts.api_helpers import (
    assert_account_shape,
    assert_page,
    assert_problem,
    balances,
    deposit,
    ledger_sum,
    post,
)
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_me_shows_the_callers_balances(lender, lender_api):
    response = lender_api.get("/api/accounts/me/")

    assert response.status_code == 200
    body = response.json()
    assert_account_shape(body)
    assert body == {
        "id": lender.pk,
        "username": "lender",
        "balance": "10000.00",
        "reserved_balance": "0.00",
        "available_balance": "10000.00",
    }


@pytest.mark.parametrize(
    "method, url",
    [
        ("get", "/api/accounts/me/"),
        ("post", "/api/accounts/deposit/"),
        ("post", "/api/accounts/withdraw/"),
        ("get", "/api/transactions/"),
    ],
)
def test_account_endpoints_need_a_token(api, method, url):
    response = getattr(api, method)(url, {"amount": "1.00"}, format="json")

    assert_problem(response, 401, "not_authenticated")


def test_bad_token_is_authentication_failed(api):
    api.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef0123456789abcdef01234567")

    assert_problem(api.get("/api/accounts/me/"), 401, "authentication_failed")


@pytest.mark.parametrize("header", ["Token abc\x00def", "Token " + "a" * 5000, "Token é", "Token a b", "Bearer abc"])
def test_malformed_token_is_401_never_500(api, header):
    api.credentials(HTTP_AUTHORIZATION=header)

    response = api.get("/api/accounts/me/")

    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] in ("authentication_failed", "not_authenticated")


def test_deposit_adds_to_balance_and_writes_a_deposit_row(borrower, borrower_api):
    response = post(borrower_api, "/api/accounts/deposit/", {"amount": "1234.56"})

    assert response.status_code == 200, response.content
    assert_account_shape(response.json())
    assert response.json()["balance"] == "1234.56"
    assert response.json()["available_balance"] == "1234.56"
    row = Transaction.objects.get(to_user=borrower)
    assert (row.kind, row.from_user_id, row.amount, row.loan_id) == ("deposit", None, Decimal("1234.56"), None)


@pytest.mark.parametrize("amount, stored", [(100, "100.00"), ("0.01", "0.01"), (12.5, "12.50"), ("7.1", "7.10")])
def test_deposit_accepts_strings_and_numbers_with_at_most_two_decimals(borrower_api, amount, stored):
    response = post(borrower_api, "/api/accounts/deposit/", {"amount": amount})

    assert response.status_code == 200, response.content
    assert response.json()["balance"] == stored


def test_deposit_limits_are_inclusive(borrower_api):
    assert post(borrower_api, "/api/accounts/deposit/", {"amount": "100000000.00"}).status_code == 200
    assert_problem(
        post(borrower_api, "/api/accounts/deposit/", {"amount": "100000000.01"}),
        400,
        "validation_error",
        field="amount",
    )
    assert balances(borrower_api)[0] == "100000000.00"


def test_deposit_never_takes_a_balance_above_the_maximum():
    rich = UserFactory(username="rich", balance=Decimal("999999999999.99"))
    rich_api = client_for(rich)

    response = post(rich_api, "/api/accounts/deposit/", {"amount": "0.01"})

    assert_problem(response, 400, "validation_error", field="amount")
    assert balances(rich_api)[0] == "999999999999.99"
    assert Transaction.objects.filter(to_user=rich).count() == 1


HOSTILE_AMOUNTS = [
    "1.000",
    "1.001",
    1.001,
    "1e3",
    "1E3",
    "NaN",
    "nan",
    "Infinity",
    "-Infinity",
    "inf",
    0,
    "0",
    "0.00",
    -5,
    "-5",
    "-0.01",
    "abc",
    "",
    " 5",
    "5 ",
    "5\n",
    "+5",
    "0x10",
    "1_000",
    "５",
    "1,5",
    True,
    False,
    None,
    [],
    ["5"],
    {},
    {"amount": "5"},
    "9" * 40,
    int("9" * 40),
    "100000000.01",
]


@pytest.mark.parametrize("amount", HOSTILE_AMOUNTS, ids=repr)
@pytest.mark.parametrize("action", ["deposit", "withdraw"])
def test_hostile_amounts_are_400_and_move_no_money(lender, lender_api, action, amount):
    before = Transaction.objects.count()

    response = post(lender_api, f"/api/accounts/{action}/", {"amount": amount})

    assert_problem(response, 400, "validation_error", field="amount")
    assert balances(lender_api) == ("10000.00", "0.00", "10000.00")
    assert Transaction.objects.count() == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount": 1e3}',
        b'{"amount": 1E3}',
        b'{"amount": 1.5e1}',
        b'{"amount": 100.000}',
        b'{"amount": 0.001}',
        b'{"amount": -0}',
        b'{"amount": ' + b"9" * 40 + b"}",
        b'{"amount": ' + b"9" * 40 + b".99}",
    ],
)
def test_hostile_json_numbers_are_400(lender_api, raw):
    response = lender_api.post("/api/accounts/deposit/", raw, content_type="application/json")

    assert_problem(response, 400, "validation_error", field="amount")
    assert balances(lender_api)[0] == "10000.00"


@pytest.mark.parametrize(
    "raw",
    [
        b'{"amount": NaN}',
        b'{"amount": Infinity}',
        b'{"amount": -Infinity}',
        b'{"amount": "5"',
        b"{'amount': '5'}",
        b'{"amount": 5,}',
        b"\xff\xfe",
        b"[" * 100000,
        b'{"a":' * 100000,
        b'{"amount": ' + b"9" * 5000 + b"}",
    ],
    ids=[
        "NaN",
        "Infinity",
        "-Infinity",
        "truncated",
        "single-quotes",
        "trailing-comma",
        "not-utf8",
        "deep-list",
        "deep-object",
        "5000-digit-int",
    ],
)
def test_invalid_json_is_parse_error_and_moves_no_money(lender_api, raw):
    response = lender_api.post("/api/accounts/deposit/", raw, content_type="application/json")

    assert_problem(response, 400, "parse_error")
    assert balances(lender_api)[0] == "10000.00"


@pytest.mark.parametrize("raw", [b'[{"amount": "5.00"}]', b'"5.00"', b"5", b"true", b"null"])
def test_non_object_body_is_400_for_the_body_as_a_whole(lender_api, raw):
    response = lender_api.post("/api/accounts/deposit/", raw, content_type="application/json")

    assert_problem(response, 400, "validation_error", field=None)
    assert balances(lender_api)[0] == "10000.00"


def test_missing_amount_is_400(lender_api):
    assert_problem(post(lender_api, "/api/accounts/deposit/", {}), 400, "validation_error", field="amount")
    assert_problem(lender_api.post("/api/accounts/withdraw/"), 400, "validation_error", field="amount")


def test_form_encoded_body_is_415(lender_api):
    response = lender_api.post("/api/accounts/deposit/", {"amount": "5.00"})

    assert response.status_code == 415
    assert response["Content-Type"] == "application/problem+json"
    assert response.json()["code"] == "unsupported_media_type"


def test_withdraw_takes_from_balance_and_writes_a_withdrawal_row(lender, lender_api):
    response = post(lender_api, "/api/accounts/withdraw/", {"amount": "2500.25"})

    assert response.status_code == 200, response.content
    assert_account_shape(response.json())
    assert balances(lender_api) == ("7499.75", "0.00", "7499.75")
    row = Transaction.objects.get(kind="withdrawal")
    assert (row.from_user_id, row.to_user_id, row.amount) == (lender.pk, None, Decimal("2500.25"))


def test_withdraw_whole_available_balance_is_allowed(lender_api):
    assert post(lender_api, "/api/accounts/withdraw/", {"amount": "10000.00"}).status_code == 200
    assert balances(lender_api) == ("0.00", "0.00", "0.00")


def test_withdraw_over_available_is_insufficient_funds(lender, lender_api, borrower_api):
    loan = post(borrower_api, "/api/loans/", {"amount": "5000.00", "term_months": 6}).json()
    assert post(lender_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00"}).status_code == 201

    # 10000.00 held, 5003.75 reserved: 4996.25 available.
    response = post(lender_api, "/api/accounts/withdraw/", {"amount": "4996.26"})

    assert_problem(response, 409, "insufficient_funds")
    assert balances(lender_api) == ("10000.00", "5003.75", "4996.25")
    assert post(lender_api, "/api/accounts/withdraw/", {"amount": "4996.25"}).status_code == 200
    assert balances(lender_api) == ("5003.75", "5003.75", "0.00")


def test_withdraw_with_no_money_is_insufficient_funds(borrower_api):
    assert_problem(post(borrower_api, "/api/accounts/withdraw/", {"amount": "0.01"}), 409, "insufficient_funds")


def test_account_get_methods_only_where_documented(lender_api):
    response = lender_api.get("/api/accounts/deposit/")

    assert response.status_code == 405
    assert response["Content-Type"] == "application/problem+json"


# Transactions --------------------------------------------------------------------------------------


def test_transactions_lists_the_callers_rows_newest_first(lender, lender_api, stranger):
    deposit(lender_api, "1.00")
    post(lender_api, "/api/accounts/withdraw/", {"amount": "2.00"})

    response = lender_api.get("/api/transactions/")

    assert response.status_code == 200
    results = assert_page(response.json())
    assert response.json()["count"] == 3
    assert [(r["kind"], r["amount"]) for r in results] == [
        ("withdrawal", "2.00"),
        ("deposit", "1.00"),
        ("deposit", "10000.00"),
    ]
    first = results[0]
    assert first["from_user"] == lender.pk and first["to_user"] is None and first["loan"] is None
    assert type(first["id"]) is int and isinstance(first["note"], str)
    assert results[1]["from_user"] is None and results[1]["to_user"] == lender.pk
    assert ledger_sum(lender) == Decimal("9999.00") == Decimal(lender_api.get("/api/accounts/me/").json()["balance"])


def test_transactions_exclude_other_users_rows(lender_api, stranger):
    results = lender_api.get("/api/transactions/").json()["results"]

    assert len(results) == 1 and results[0]["to_user"] != stranger.pk


def test_transactions_paginate(borrower_api):
    for _ in range(3):
        deposit(borrower_api, "1.00")

    first = borrower_api.get("/api/transactions/?page_size=2").json()
    second = borrower_api.get("/api/transactions/?page_size=2&page=2").json()

    assert first["count"] == 3 and len(first["results"]) == 2 and first["previous"] is None
    assert first["next"].endswith("/api/transactions/?page=2&page_size=2")
    assert len(second["results"]) == 1 and second["next"] is None and second["previous"]
    assert {r["id"] for r in first["results"]}.isdisjoint(r["id"] for r in second["results"])


# Query counts (token authentication included) ------------------------------------------------------


def test_deposit_query_count_is_pinned(lender_api, django_assert_max_num_queries):
    # PostgreSQL: the token lookup and one statement (balance UPDATE ... RETURNING + ledger INSERT).
    with django_assert_max_num_queries(2 if connection.vendor == "postgresql" else 6):
        response = post(lender_api, "/api/accounts/deposit/", {"amount": "5.00"})
    assert response.status_code == 200


def test_withdraw_query_count_is_pinned(lender_api, django_assert_max_num_queries):
    # PostgreSQL: token, profile lock, balance + ledger row in one statement (and the test's SAVEPOINTs).
    with django_assert_max_num_queries(5 if connection.vendor == "postgresql" else 6):
        response = post(lender_api, "/api/accounts/withdraw/", {"amount": "5.00"})
    assert response.status_code == 200


# Throttling ----------------------------------------------------------------------------------------


@pytest.fixture
def clean_cache():
    from django.core.cache import cache

    cache.clear()
    yield
    cache.clear()


def test_over_the_rate_limit_is_429_throttled_with_retry_after(settings, clean_cache, lender_api):
    settings.THROTTLE_USER_RATE = "2/min"
    assert lender_api.get("/api/accounts/me/").status_code == 200
    assert lender_api.get("/api/accounts/me/").status_code == 200

    response = lender_api.get("/api/accounts/me/")

    assert_problem(response, 429, "throttled")
    assert int(response["Retry-After"]) >= 1
    assert_problem(post(lender_api, "/api/accounts/deposit/", {"amount": "5.00"}), 429, "throttled")
    settings.THROTTLE_USER_RATE = ""
    assert balances(lender_api)[0] == "10000.00"
