"""Helpers for the HTTP contract tests: problem+json and field-shape assertions, and the lending flow
driven through the API (never the ORM) so every test starts from states the API itself produced."""

import re
from decimal import Decimal

from django.contrib.auth import get_user_model

from accounts.models import Profile, Transaction

PROBLEM_TYPE = "application/problem+json"
MONEY_RE = re.compile(r"^-?\d+\.\d{2}$")
ISO_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|\+00:00)$")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")

ACCOUNT_FIELDS = {"id", "username", "balance", "reserved_balance", "available_balance"}
# v2 added `note_id` and `payment` to transactions, `lenders` and `principal_outstanding` to loans and
# `amount`, `filled_amount`, `fee`, `funded_at` to offers (API.md, Notes).
TRANSACTION_FIELDS = {
    "id",
    "kind",
    "from_user",
    "to_user",
    "amount",
    "loan",
    "note",
    "note_id",
    "payment",
    "created_at",
}
LOAN_FIELDS = {
    "id", "borrower", "lender", "lenders", "amount", "term_months", "interest_rate", "lenme_fee", "total_loan_amount",
    "monthly_payment_amount", "principal_outstanding", "status", "autopay", "created_at", "accepted_at", "funded_at",
    "completed_at", "days_past_due", "delinquency", "defaulted_at", "closed_reason",
}  # fmt: skip
LOAN_DETAIL_FIELDS = LOAN_FIELDS | {"payments"}
OFFER_FIELDS = {
    "id", "loan", "lender", "interest_rate", "amount", "filled_amount", "fee", "reserved_amount", "status", "funded_at",
    "created_at",
}  # fmt: skip
PAYMENT_FIELDS = {
    "id", "loan", "number", "due_date", "amount", "principal", "interest", "late_fee", "overdue", "paid", "paid_at",
    "status", "loan_status",
}  # fmt: skip
PAGE_FIELDS = {"count", "next", "previous", "results"}


# Shapes --------------------------------------------------------------------------------------------


def assert_problem(response, status: int, code: str, *, field: str | None = "<any>") -> dict:
    """An RFC 9457 problem with this status and code; on a 400 an `errors` list naming `field`."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"] == PROBLEM_TYPE, response["Content-Type"]
    body = response.json()
    expected_keys = {"type", "title", "status", "detail", "code"}
    if status == 400:
        expected_keys.add("errors")
    assert set(body) == expected_keys, body
    assert body["status"] == status and body["code"] == code, body
    assert isinstance(body["type"], str) and body["type"]
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    if status == 400:
        assert isinstance(body["errors"], list) and body["errors"], body
        for error in body["errors"]:
            assert set(error) == {"field", "code", "detail"}, error
            assert error["field"] is None or isinstance(error["field"], str)
            assert isinstance(error["code"], str) and isinstance(error["detail"], str)
        if field != "<any>":
            assert field in [e["field"] for e in body["errors"]], body["errors"]
    return body


def assert_money(value, expected: str | None = None) -> None:
    assert isinstance(value, str) and MONEY_RE.match(value), value
    if expected is not None:
        assert value == expected


def assert_timestamp(value, *, nullable: bool = False) -> None:
    if nullable and value is None:
        return
    assert isinstance(value, str) and ISO_RE.match(value), value


def assert_id(value, *, nullable: bool = False) -> None:
    if nullable and value is None:
        return
    assert type(value) is int and value > 0, value


def assert_loan_shape(loan: dict, *, detail: bool = False) -> None:
    assert set(loan) == (LOAN_DETAIL_FIELDS if detail else LOAN_FIELDS), set(loan) ^ LOAN_FIELDS
    assert_id(loan["id"])
    assert_id(loan["borrower"])
    assert_id(loan["lender"], nullable=True)
    assert_money(loan["amount"])
    assert type(loan["term_months"]) is int
    assert loan["interest_rate"] is None or MONEY_RE.match(loan["interest_rate"])
    assert_money(loan["lenme_fee"])
    assert_money(loan["total_loan_amount"])
    assert loan["monthly_payment_amount"] is None or MONEY_RE.match(loan["monthly_payment_amount"])
    assert loan["status"] in {"DRAFT", "OPEN", "OFFERED", "ACCEPTED", "FUNDED", "COMPLETED", "CANCELLED"}
    assert type(loan["autopay"]) is bool
    assert_timestamp(loan["created_at"])
    for key in ("accepted_at", "funded_at", "completed_at"):
        assert_timestamp(loan[key], nullable=True)
    if detail:
        assert isinstance(loan["payments"], list)
        for payment in loan["payments"]:
            assert_payment_shape(payment)


def assert_offer_shape(offer: dict) -> None:
    assert set(offer) == OFFER_FIELDS, offer
    for key in ("id", "loan", "lender"):
        assert_id(offer[key])
    assert_money(offer["interest_rate"])
    assert_money(offer["reserved_amount"])
    assert offer["status"] in {"PENDING", "ACCEPTED", "REJECTED", "WITHDRAWN", "EXPIRED"}
    assert_timestamp(offer["created_at"])


def assert_payment_shape(payment: dict) -> None:
    assert set(payment) == PAYMENT_FIELDS, payment
    assert_id(payment["id"])
    assert_id(payment["loan"])
    assert type(payment["number"]) is int
    assert isinstance(payment["due_date"], str) and DATE_RE.match(payment["due_date"])
    for key in ("amount", "principal", "interest", "late_fee"):
        assert_money(payment[key])
    assert type(payment["overdue"]) is bool and type(payment["paid"]) is bool
    assert_timestamp(payment["paid_at"], nullable=True)


def assert_account_shape(account: dict) -> None:
    assert set(account) == ACCOUNT_FIELDS, account
    assert_id(account["id"])
    assert isinstance(account["username"], str)
    for key in ("balance", "reserved_balance", "available_balance"):
        assert_money(account[key])


def assert_page(body: dict) -> list:
    assert set(body) == PAGE_FIELDS, body
    assert type(body["count"]) is int
    return body["results"]


# The flow through the API --------------------------------------------------------------------------


def post(client, url: str, data=None, **extra):
    return client.post(url, data, format="json", **extra)


def account(client) -> dict:
    response = client.get("/api/accounts/me/")
    assert response.status_code == 200, response.content
    return response.json()


def balances(client) -> tuple[str, str, str]:
    body = account(client)
    return body["balance"], body["reserved_balance"], body["available_balance"]


def deposit(client, amount: str) -> dict:
    response = post(client, "/api/accounts/deposit/", {"amount": amount})
    assert response.status_code == 200, response.content
    return response.json()


def create_loan(client, amount="5000.00", term_months=6, interest_rate: str | None = "15.00", **extra) -> dict:
    body = {"amount": amount, "term_months": term_months, **extra}
    if interest_rate is not None:
        body["interest_rate"] = interest_rate
    response = post(client, "/api/loans/", body)
    assert response.status_code == 201, response.content
    return response.json()


def make_offer(client, loan_id: int, rate: str) -> dict:
    response = post(client, f"/api/loans/{loan_id}/offers/", {"interest_rate": rate})
    assert response.status_code == 201, response.content
    return response.json()


def accept(client, loan_id: int, offer_id: int | None = None) -> dict:
    response = post(client, f"/api/loans/{loan_id}/accept/", {} if offer_id is None else {"offer_id": offer_id})
    assert response.status_code == 200, response.content
    return response.json()


def fund(client, loan_id: int) -> dict:
    response = post(client, f"/api/loans/{loan_id}/fund/")
    assert response.status_code == 200, response.content
    return response.json()


def pay(client, loan_id: int, payment_id: int) -> dict:
    response = post(client, f"/api/loans/{loan_id}/payments/{payment_id}/pay/")
    assert response.status_code == 200, response.content
    return response.json()


def funded_loan(borrower_api, lender_api, *, loser_api=None, amount="5000.00", term_months=6, rate="15.00") -> dict:
    """A FUNDED loan lent by lender_api's user; loser_api (if given) made a higher offer that lost."""
    loan = create_loan(borrower_api, amount=amount, term_months=term_months, interest_rate="20.00")
    make_offer(lender_api, loan["id"], rate)
    if loser_api is not None:
        make_offer(loser_api, loan["id"], "19.99")
    accept(borrower_api, loan["id"])
    return fund(lender_api, loan["id"])


# Ledger reads (the platform user cannot log in, so its side is read from the database) ----------


def ledger_sum(user) -> Decimal:
    """What the ledger says the user holds: money in minus money out."""
    rows = Transaction.objects.filter(to_user=user).values_list("amount", flat=True)
    out = Transaction.objects.filter(from_user=user).values_list("amount", flat=True)
    return sum(rows, Decimal("0")) - sum(out, Decimal("0"))


def platform_user():
    return get_user_model().objects.get(username="lenme")


def platform_balance() -> str:
    return f"{Profile.objects.get(user=platform_user()).balance:.2f}"
