"""Query-count pins on the hot money endpoints, token authentication included; the schedule of any
term is written by one INSERT."""

import pytest
from django.db import connection

from tests.accounts.api_helpers import (
    accept,
    create_loan,
    deposit,
    funded_loan,
    make_offer,
    pay,
    post,
)

pytestmark = pytest.mark.django_db


def pin(postgresql: int, sqlite: int) -> int:
    """The statements an endpoint takes: PostgreSQL folds several into one (WITH ... INSERT, UPDATE
    ... FROM VALUES, the payment's note rows and order check with its lock); SQLite keeps ORM steps."""
    return postgresql if connection.vendor == "postgresql" else sqlite


def payment_inserts(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("INSERT") and "loans_payment" in q["sql"]]


def test_offer_submit_query_count(borrower_api, lender_api, lender2_api, django_assert_max_num_queries):
    loan = create_loan(borrower_api)
    make_offer(lender2_api, loan["id"], "14.00")  # the loan is OFFERED already: the path with most checks

    # v2: +2 for the outbox (webhook endpoints, email row), folded into the notification's INSERT on PostgreSQL
    with django_assert_max_num_queries(pin(9, 11)):
        response = post(lender_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "12.00"})
    assert response.status_code == 201


def test_first_offer_query_count(borrower_api, lender_api, django_assert_max_num_queries):
    loan = create_loan(borrower_api)

    with django_assert_max_num_queries(pin(10, 12)):  # v2: the outbox (webhook endpoints, email row)
        response = post(lender_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "12.00"})
    assert response.status_code == 201


@pytest.mark.parametrize("term", [6, 360])
def test_fund_query_count_and_one_schedule_insert(borrower_api, lender_api, django_assert_max_num_queries, term):
    loan = create_loan(borrower_api, amount="1000.00", term_months=term)
    make_offer(lender_api, loan["id"], "7.00")
    accept(borrower_api, loan["id"])

    # v2: 12 + one INSERT for the notes and one for all their rows (API.md, Notes), +2 for the outbox
    # (one statement with the notifications on PostgreSQL).
    with django_assert_max_num_queries(pin(13, 16)) as captured:
        response = post(lender_api, f"/api/loans/{loan['id']}/fund/")
    assert response.status_code == 200
    assert len(response.json()["payments"]) == term
    assert len(payment_inserts(captured.captured_queries)) == 1


def test_pay_query_count(borrower_api, lender_api, django_assert_max_num_queries):
    loan = funded_loan(borrower_api, lender_api)

    # PostgreSQL: token; loan lock; payment and profile locks with the order check, note rows and days
    # past due; one statement for balances + ledger rows, payment UPDATE, notification + email + endpoint
    # locks (and the test's SAVEPOINT / RELEASE). SQLite: the ORM steps, +2 for the outbox.
    with django_assert_max_num_queries(pin(6, 14)):
        response = post(borrower_api, f"/api/loans/{loan['id']}/payments/{loan['payments'][0]['id']}/pay/")
    assert response.status_code == 200


def test_paying_the_last_installment_query_count(borrower_api, lender_api, django_assert_max_num_queries):
    loan = funded_loan(borrower_api, lender_api, amount="100.00", term_months=2)
    deposit(borrower_api, "10.00")
    pay(borrower_api, loan["id"], loan["payments"][0]["id"])

    # v2: + one UPDATE turning the loan's notes REPAID, + the loan's status, +2 for the outbox on SQLite.
    with django_assert_max_num_queries(pin(10, 15)):
        response = post(borrower_api, f"/api/loans/{loan['id']}/payments/{loan['payments'][1]['id']}/pay/")
    assert response.json()["loan_status"] == "COMPLETED"


def test_list_endpoints_do_not_query_per_row(borrower_api, lender_api, django_assert_max_num_queries):
    loan = funded_loan(borrower_api, lender_api, amount="1000.00", term_months=120)
    for _ in range(10):
        create_loan(borrower_api)

    for url in (
        "/api/loans/",
        f"/api/loans/{loan['id']}/",
        f"/api/loans/{loan['id']}/payments/",
        f"/api/loans/{loan['id']}/offers/",
        "/api/transactions/",
    ):
        with django_assert_max_num_queries(5):
            assert borrower_api.get(url).status_code == 200
    with django_assert_max_num_queries(5):
        assert lender_api.get("/api/loans/available/").status_code == 200


def statements(queries) -> list[str]:
    """What went to the database, without the test's own SAVEPOINT / RELEASE around nested blocks."""
    return [q["sql"] for q in queries if "SAVEPOINT" not in q["sql"].upper()]


def test_deposit_is_the_token_lookup_and_one_statement_on_postgresql(borrower_api, django_assert_max_num_queries):
    """PostgreSQL: the balance UPDATE ... RETURNING and its ledger INSERT are one statement, autocommitted."""
    with django_assert_max_num_queries(2 if connection.vendor == "postgresql" else 6) as captured:
        response = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"})
    assert response.status_code == 200 and response.json()["balance"] == "10.00"
    if connection.vendor == "postgresql":
        assert len(statements(captured.captured_queries)) == 2


def test_deposit_with_idempotency_key_query_count(borrower_api, django_assert_max_num_queries):
    """PostgreSQL: token; in the money step's transaction the claim (advisory lock + INSERT ... ON
    CONFLICT, one statement), the credit, the stored response. SQLite: the claim committed first, then
    lock the record, credit, store."""
    with django_assert_max_num_queries(pin(6, 11)) as captured:
        response = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, HTTP_IDEMPOTENCY_KEY="q-1")
    assert response.status_code == 200
    if connection.vendor == "postgresql":
        assert len(statements(captured.captured_queries)) == 4


def test_replayed_deposit_query_count(borrower_api, django_assert_max_num_queries):
    post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, HTTP_IDEMPOTENCY_KEY="q-2")

    # Token, claim, the stored record read (PostgreSQL: inside the step's transaction, so + the test's
    # SAVEPOINT / RELEASE, which are BEGIN / COMMIT in production).
    with django_assert_max_num_queries(pin(5, 3)) as captured:
        response = post(borrower_api, "/api/accounts/deposit/", {"amount": "10.00"}, HTTP_IDEMPOTENCY_KEY="q-2")
    assert response["Idempotent-Replayed"] == "true"
    assert len(statements(captured.captured_queries)) == 3


def test_pay_with_idempotency_key_query_count(borrower_api, lender_api, django_assert_max_num_queries):
    loan = funded_loan(borrower_api, lender_api)

    # The pay's (test_pay_query_count) plus the keyed record: PostgreSQL claim and store, in the money
    # step's transaction (SQLite: claim, lock, store); the service's block joins it without a SAVEPOINT.
    with django_assert_max_num_queries(pin(8, 17)):
        response = post(
            borrower_api,
            f"/api/loans/{loan['id']}/payments/{loan['payments'][0]['id']}/pay/",
            HTTP_IDEMPOTENCY_KEY="pay-1",
        )
    assert response.status_code == 200
