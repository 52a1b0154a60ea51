"""Idempotency-Key through the HTTP API: a retried POST replays the first response byte for byte and
moves money once; the key is per user, bound to one request, freed by a 400 or a 5xx, in flight while
the first runs, taken over when the first died, and purged after 24 h."""

import io
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import IdempotencyRecord, Profile, Transaction
from lenme.api.idempotency import request_fingerprint
from loans.models import Loan, Offer, Payment
from tests import factories
from tests.conftest import client_for

pytestmark = pytest.mark.django_db

DEPOSIT = "/api/accounts/deposit/"


def post(client, path: str, body=None, *, key: str | None = None, **extra):
    if key is not None:
        extra["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(path, body, format="json", **extra)


def money(user) -> tuple[Decimal, Decimal]:
    profile = Profile.objects.get(user=user)
    return profile.balance, profile.reserved_balance


def assert_replay(first, again) -> None:
    assert again.status_code == first.status_code
    assert again.content == first.content
    assert again["Content-Type"] == first["Content-Type"]
    assert again["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first


def new_loan(borrower_api, amount: str = "1000.00", term: int = 4) -> dict:
    reply = post(borrower_api, "/api/loans/", {"amount": amount, "term_months": term, "interest_rate": "12.00"})
    assert reply.status_code == 201, reply.content
    return reply.json()


def offered_loan(borrower_api, lender_api) -> tuple[dict, dict]:
    loan = new_loan(borrower_api)
    offer = post(lender_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00"})
    assert offer.status_code == 201, offer.content
    return loan, offer.json()


def accepted_loan(borrower_api, lender_api) -> dict:
    loan, offer = offered_loan(borrower_api, lender_api)
    reply = post(borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_id": offer["id"]})
    assert reply.status_code == 200, reply.content
    return reply.json()


def funded_loan(borrower_api, lender_api) -> dict:
    loan = accepted_loan(borrower_api, lender_api)
    reply = post(lender_api, f"/api/loans/{loan['id']}/fund/")
    assert reply.status_code == 200, reply.content
    return reply.json()


# Replays move money once -----------------------------------------------------------------------------


def test_retried_deposit_replays_the_first_response_and_deposits_once(borrower, borrower_api):
    first = post(borrower_api, "/api/accounts/deposit/", {"amount": "250.00"}, key="dep-1")
    again = post(borrower_api, "/api/accounts/deposit/", {"amount": "250.00"}, key="dep-1")

    assert first.status_code == 200 and first.json()["balance"] == "250.00"
    assert_replay(first, again)
    assert money(borrower) == (Decimal("250.00"), Decimal("0.00"))
    assert Transaction.objects.filter(kind="deposit", to_user=borrower).count() == 1


def test_retried_offer_replays_201_and_reserves_once(borrower_api, lender, lender_api):
    loan = new_loan(borrower_api)
    path = f"/api/loans/{loan['id']}/offers/"

    first = post(lender_api, path, {"interest_rate": "10.00"}, key="offer-1")
    again = post(lender_api, path, {"interest_rate": "10.00"}, key="offer-1")

    assert first.status_code == 201
    assert_replay(first, again)
    assert Offer.objects.filter(loan_id=loan["id"], lender=lender).count() == 1
    assert money(lender) == (Decimal("10000.00"), Decimal("1003.75"))


def test_retried_accept_replays_and_accepts_once(borrower_api, lender, lender_api, lender2, lender2_api):
    loan, offer = offered_loan(borrower_api, lender_api)
    other = post(lender2_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "11.00"}).json()
    path = f"/api/loans/{loan['id']}/accept/"

    first = post(borrower_api, path, {}, key="accept-1")
    again = post(borrower_api, path, {}, key="accept-1")

    assert first.status_code == 200 and first.json()["lender"] == lender.pk
    assert_replay(first, again)
    assert Offer.objects.get(pk=offer["id"]).status == "ACCEPTED"
    assert Offer.objects.get(pk=other["id"]).status == "REJECTED"
    assert money(lender) == (Decimal("10000.00"), Decimal("1003.75"))
    assert money(lender2) == (Decimal("10000.00"), Decimal("0.00"))


def test_retried_fund_replays_and_moves_the_money_once(borrower, borrower_api, lender, lender_api):
    loan = accepted_loan(borrower_api, lender_api)
    path = f"/api/loans/{loan['id']}/fund/"

    first = post(lender_api, path, key="fund-1")
    again = post(lender_api, path, key="fund-1")

    assert first.status_code == 200 and first.json()["status"] == "FUNDED"
    assert_replay(first, again)
    assert money(borrower) == (Decimal("1000.00"), Decimal("0.00"))
    assert money(lender) == (Decimal("8996.25"), Decimal("0.00"))
    assert Transaction.objects.filter(loan_id=loan["id"], kind="funding").count() == 1
    assert Transaction.objects.filter(loan_id=loan["id"], kind="fee").count() == 1
    assert Payment.objects.filter(loan_id=loan["id"]).count() == 4


def test_retried_pay_replays_and_pays_once(borrower, borrower_api, lender, lender_api):
    loan = funded_loan(borrower_api, lender_api)
    first_row, second_row = loan["payments"][:2]
    path = f"/api/loans/{loan['id']}/payments/{first_row['id']}/pay/"

    first = post(borrower_api, path, key="pay-1")
    again = post(borrower_api, path, key="pay-1")

    assert first.status_code == 200 and first.json()["paid"] is True
    assert_replay(first, again)
    assert Transaction.objects.filter(loan_id=loan["id"], kind="repayment").count() == 1
    assert money(borrower)[0] == Decimal("1000.00") - Decimal(first_row["amount"])
    assert Payment.objects.get(pk=second_row["id"]).paid is False
    # Without the key the same call is a new request, and the installment is already paid.
    fresh = post(borrower_api, path)
    assert fresh.status_code == 409 and fresh.json()["code"] == "already_paid"


def test_without_a_key_every_request_executes(borrower, borrower_api):
    post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"})
    second = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"})

    assert second.json()["balance"] == "20.00" and "Idempotent-Replayed" not in second
    assert not IdempotencyRecord.objects.exists()


# The key is bound to one request of one user -----------------------------------------------------------


def test_same_key_with_another_body_is_422_and_executes_nothing(borrower, borrower_api):
    first = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key="k")
    other = post(borrower_api, "/api/accounts/deposit/", {"amount": "20.00"}, key="k")

    assert other.status_code == 422
    assert other["Content-Type"] == "application/problem+json"
    assert other.json()["code"] == "idempotency_key_reused"
    assert money(borrower)[0] == Decimal("10.00")
    assert_replay(first, post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key="k"))


def test_same_key_on_another_path_is_422(borrower, borrower_api):
    post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key="k")
    other = post(borrower_api, "/api/accounts/withdraw/", {"amount": "10.00"}, key="k")

    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"
    assert money(borrower)[0] == Decimal("10.00")


def test_same_key_with_another_query_string_is_422(borrower, borrower_api):
    post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key="k")
    other = post(borrower_api, "/api/accounts/deposit/?source=bank", {"amount": "10.00"}, key="k")

    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


def test_keys_are_per_user(borrower, borrower_api, lender, lender_api):
    mine = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key="shared")
    theirs = post(lender_api, "/api/accounts/deposit/", {"amount": "10.00"}, key="shared")

    assert mine.status_code == theirs.status_code == 200
    assert "Idempotent-Replayed" not in theirs
    assert money(borrower)[0] == Decimal("10.00") and money(lender)[0] == Decimal("10010.00")


def test_json_body_is_compared_as_parsed_data(borrower, borrower_api):
    """Key order, whitespace and how a number is written do not change the fingerprint."""
    first = borrower_api.post(
        "/api/loans/",
        data=b'{"amount": 500.0, "term_months": 6, "interest_rate": "12.00"}',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="loan-1",
    )
    again = borrower_api.post(
        "/api/loans/",
        data=b'{ "interest_rate":"12.00","term_months":6,\n  "amount":500.00 }',
        content_type="application/json",
        HTTP_IDEMPOTENCY_KEY="loan-1",
    )

    assert first.status_code == 201, first.content
    assert_replay(first, again)
    assert Loan.objects.filter(borrower=borrower).count() == 1


def test_a_string_and_a_number_are_different_requests(borrower, borrower_api):
    post(borrower_api, "/api/accounts/deposit/", {"amount": 10}, key="k")
    other = post(borrower_api, "/api/accounts/deposit/", {"amount": "10"}, key="k")

    assert other.status_code == 422 and other.json()["code"] == "idempotency_key_reused"


# What is stored, what is not ----------------------------------------------------------------------------


def test_a_400_is_not_stored_so_the_corrected_retry_executes(borrower, borrower_api):
    bad = post(borrower_api, "/api/accounts/deposit/", {"amount": "-5.00"}, key="fix-me")
    fixed = post(borrower_api, "/api/accounts/deposit/", {"amount": "5.00"}, key="fix-me")

    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    assert fixed.status_code == 200 and "Idempotent-Replayed" not in fixed
    assert money(borrower)[0] == Decimal("5.00")


def test_a_parse_error_is_not_stored(borrower, borrower_api):
    bad = borrower_api.post(
        "/api/accounts/deposit/", data=b'{"amount":', content_type="application/json", HTTP_IDEMPOTENCY_KEY="k"
    )
    fixed = post(borrower_api, "/api/accounts/deposit/", {"amount": "5.00"}, key="k")

    assert bad.status_code == 400 and bad.json()["code"] == "parse_error"
    assert fixed.status_code == 200 and money(borrower)[0] == Decimal("5.00")


def test_a_409_is_stored_and_replayed_even_when_a_retry_would_now_succeed(borrower, borrower_api):
    first = post(borrower_api, "/api/accounts/withdraw/", {"amount": "50.00"}, key="wd")
    post(borrower_api, "/api/accounts/deposit/", {"amount": "100.00"})
    again = post(borrower_api, "/api/accounts/withdraw/", {"amount": "50.00"}, key="wd")

    assert first.status_code == 409 and first.json()["code"] == "insufficient_funds"
    assert_replay(first, again)
    assert money(borrower)[0] == Decimal("100.00")
    assert not Transaction.objects.filter(kind="withdrawal").exists()


def test_a_404_is_stored_and_replayed(lender_api):
    first = post(lender_api, "/api/loans/999999/offers/", {"interest_rate": "10.00"}, key="nf")
    again = post(lender_api, "/api/loans/999999/offers/", {"interest_rate": "10.00"}, key="nf")

    assert first.status_code == 404 and first.json()["code"] == "not_found"
    assert_replay(first, again)


def test_a_403_is_stored_and_replayed(borrower, borrower_api):
    loan = new_loan(borrower_api)
    first = post(borrower_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00"}, key="own")
    again = post(borrower_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00"}, key="own")

    assert first.status_code == 403 and first.json()["code"] == "permission_denied"
    assert_replay(first, again)
    assert not Offer.objects.exists()


def test_a_5xx_frees_the_key_so_the_retry_executes(borrower, monkeypatch):
    from accounts import services

    real = services.account_deposit
    calls = {"n": 0}

    def broken_once(**kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the database went away")
        return real(**kwargs)

    monkeypatch.setattr(services, "account_deposit", broken_once)
    client = APIClient(raise_request_exception=False)
    client.credentials(HTTP_AUTHORIZATION=f"Token {factories.token_for(borrower)}")

    crashed = post(client, "/api/accounts/deposit/", {"amount": "7.00"}, key="boom")
    assert crashed.status_code == 500
    assert not IdempotencyRecord.objects.filter(key="boom").exists()
    assert money(borrower)[0] == Decimal("0.00")

    retried = post(client, "/api/accounts/deposit/", {"amount": "7.00"}, key="boom")
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried
    assert money(borrower)[0] == Decimal("7.00")


def hold_first_request(monkeypatch, user, body: dict, key: str, *, on_enter=None):
    """Start a keyed deposit that stops inside its money step (after on_enter, in its thread); returns
    (release, join -> its reply, or the exception it raised)."""
    from accounts import services

    real = services.account_deposit
    entered, release = threading.Event(), threading.Event()

    def slow_deposit(**kwargs):
        if on_enter:
            on_enter()
        entered.set()
        assert release.wait(timeout=20)
        return real(**kwargs)

    monkeypatch.setattr(services, "account_deposit", slow_deposit)
    replies = {}

    def first_request():
        try:
            replies["first"] = post(client_for(user), DEPOSIT, body, key=key)
        except Exception as exc:
            replies["first"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=first_request)
    thread.start()
    assert entered.wait(timeout=20)

    def join():
        release.set()
        thread.join(timeout=30)
        monkeypatch.setattr(services, "account_deposit", real)
        return replies["first"]

    return release, join


# In flight, and taken over when the first request died ------------------------------------------------


def _claim(user, key: str, path: str, body: dict, *, age_seconds: int) -> IdempotencyRecord:
    """An IN_FLIGHT record as a first request leaves it while it runs (or after it died)."""
    return IdempotencyRecord.objects.create(
        user=user,
        key=key,
        fingerprint=request_fingerprint(method="POST", full_path=path, data=body),
        locked_at=timezone.now() - timedelta(seconds=age_seconds),
    )


def test_a_repeat_while_the_first_is_in_flight_is_409_at_once(borrower, borrower_api):
    _claim(borrower, "busy", "/api/accounts/deposit/", {"amount": "10.00"}, age_seconds=5)

    reply = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key="busy")

    assert reply.status_code == 409 and reply.json()["code"] == "idempotency_in_flight"
    assert money(borrower)[0] == Decimal("0.00")
    assert IdempotencyRecord.objects.get(key="busy").state == "in_flight"  # still the first's


def test_another_body_while_in_flight_is_422(borrower, borrower_api):
    _claim(borrower, "busy", "/api/accounts/deposit/", {"amount": "10.00"}, age_seconds=5)

    reply = post(borrower_api, "/api/accounts/deposit/", {"amount": "99.00"}, key="busy")

    assert reply.status_code == 422 and reply.json()["code"] == "idempotency_key_reused"


def test_a_key_whose_first_request_died_over_60_s_ago_is_taken_over(borrower, borrower_api):
    _claim(borrower, "dead", "/api/accounts/deposit/", {"amount": "10.00"}, age_seconds=61)

    reply = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key="dead")
    again = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key="dead")

    assert reply.status_code == 200 and reply.json()["balance"] == "10.00"
    assert_replay(reply, again)
    assert money(borrower)[0] == Decimal("10.00")


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_duplicate_gets_409_at_once_while_the_first_is_still_executing(monkeypatch, settings):
    """The first request is held inside its money step; the duplicate neither waits nor executes.

    LENME_IDEMPOTENCY_LOCK_SECONDS=0 makes the record look stale at once: a first request that is alive
    still holds its claim (a row lock; on PostgreSQL an advisory lock), so it is never taken over.
    """
    settings.LENME_IDEMPOTENCY_LOCK_SECONDS = 0
    user = factories.UserFactory(username="slow")
    release, join = hold_first_request(monkeypatch, user, {"amount": "10.00"}, "slow")
    try:
        duplicate = post(client_for(user), "/api/accounts/deposit/", {"amount": "10.00"}, key="slow")
        assert duplicate.status_code == 409 and duplicate.json()["code"] == "idempotency_in_flight"
        assert not release.is_set()  # answered while the first was still held
    finally:
        replies = {"first": join()}

    assert replies["first"].status_code == 200
    assert_replay(replies["first"], post(client_for(user), "/api/accounts/deposit/", {"amount": "10.00"}, key="slow"))
    assert money(user)[0] == Decimal("10.00")
    assert Transaction.objects.filter(kind="deposit", to_user=user).count() == 1


# The header itself ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "key",
    ["x" * 256, "has space", "caf\u00e9", "", "tab\there", "abc\n"],
    ids=["256 chars", "space", "non-ASCII", "empty", "control char", "trailing newline"],
)
def test_an_invalid_key_is_400_and_executes_nothing(borrower, borrower_api, key):
    reply = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key=key)

    assert reply.status_code == 400
    body = reply.json()
    assert body["code"] == "validation_error" and body["errors"][0]["field"] == "Idempotency-Key"
    assert money(borrower)[0] == Decimal("0.00")
    assert not IdempotencyRecord.objects.exists()


def test_a_key_of_255_visible_characters_is_accepted(borrower, borrower_api):
    key = ("~!az09" * 50)[:255]
    first = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key=key)

    assert first.status_code == 200
    assert_replay(first, post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, key=key))


def test_get_ignores_the_header(borrower_api):
    first = borrower_api.get("/api/accounts/me/", HTTP_IDEMPOTENCY_KEY="g")
    invalid = borrower_api.get("/api/accounts/me/", HTTP_IDEMPOTENCY_KEY="not valid")

    assert first.status_code == invalid.status_code == 200
    assert "Idempotent-Replayed" not in invalid
    assert not IdempotencyRecord.objects.exists()


def test_register_and_token_ignore_the_header(api):
    body = {"username": "newcomer", "password": "a-l0ng-Passw0rd!"}
    registered = api.post("/api/auth/register/", body, format="json", HTTP_IDEMPOTENCY_KEY="not valid")
    token = api.post("/api/auth/token/", body, format="json", HTTP_IDEMPOTENCY_KEY="not valid")

    assert registered.status_code == 201 and token.status_code == 200
    assert not IdempotencyRecord.objects.exists()


# Expiry -----------------------------------------------------------------------------------------------------


def test_purge_removes_records_older_than_24_h(borrower, borrower_api):
    post(borrower_api, "/api/accounts/deposit/", {"amount": "1.00"}, key="old")
    post(borrower_api, "/api/accounts/deposit/", {"amount": "1.00"}, key="new")
    IdempotencyRecord.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=24, seconds=1))

    out = io.StringIO()
    call_command("purge_idempotency_keys", stdout=out)

    assert "purged 1" in out.getvalue()
    assert list(IdempotencyRecord.objects.values_list("key", flat=True)) == ["new"]


def test_a_key_older_than_24_h_executes_afresh(borrower, borrower_api):
    post(borrower_api, "/api/accounts/deposit/", {"amount": "1.00"}, key="reuse")
    IdempotencyRecord.objects.filter(key="reuse").update(created_at=timezone.now() - timedelta(hours=25))

    again = post(borrower_api, "/api/accounts/deposit/", {"amount": "1.00"}, key="reuse")

    assert again.status_code == 200 and "Idempotent-Replayed" not in again
    assert money(borrower)[0] == Decimal("2.00")


def test_an_invalid_key_still_answers_404_and_403_first(borrower, borrower_api, lender_api, stranger_api):
    """The contract's precedence (404 > 403 > 400) holds for a bad Idempotency-Key too."""
    draft = borrower_api.post(
        "/api/loans/", {"amount": "100.00", "term_months": 2, "draft": True}, format="json"
    ).json()
    bad_key = {"HTTP_IDEMPOTENCY_KEY": "has space"}
    hidden = stranger_api.post(f"/api/loans/{draft['id']}/publish/", format="json", **bad_key)
    assert hidden.status_code == 404 and hidden.json()["code"] == "not_found"
    borrower_api.post(f"/api/loans/{draft['id']}/publish/", format="json")
    forbidden = lender_api.post(f"/api/loans/{draft['id']}/cancel/", format="json", **bad_key)
    assert forbidden.status_code == 403 and forbidden.json()["code"] == "permission_denied"
    own = borrower_api.post(f"/api/loans/{draft['id']}/cancel/", format="json", **bad_key)
    assert own.status_code == 400 and own.json()["code"] == "validation_error"
    assert Loan.objects.get(pk=draft["id"]).status == "OPEN"
    assert stranger_api.post("/api/notifications/999999/read/", **bad_key).status_code == 404
