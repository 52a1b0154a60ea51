"""Funding and repayment through the HTTP API: who may fund, the money it moves, the schedule it
creates, paying installments in order, and completion."""

import datetime
from decimal import Decimal

import pytest
from dateutil.relativedelta import relativedelta

from accounts.models import Transaction
from tests.accounts.api_helpers import (
    accept,
    assert_loan_shape,
    assert_payment_shape,
    assert_problem,
    balances,
    create_loan,
    deposit,
    fund,
    funded_loan,
    make_offer,
    pay,
    platform_balance,
    post,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def accepted(borrower_api, lender_api, lender2_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "15.00")
    make_offer(lender2_api, loan["id"], "15.00")  # younger: loses
    return accept(borrower_api, loan["id"])


# Fund ----------------------------------------------------------------------------------------------


def test_fund_moves_the_money_and_creates_the_worked_example_schedule(
    accepted, borrower, lender, borrower_api, lender_api
):
    response = post(lender_api, f"/api/loans/{accepted['id']}/fund/")

    assert response.status_code == 200, response.content
    loan = response.json()
    assert_loan_shape(loan, detail=True)
    assert loan["status"] == "FUNDED" and loan["funded_at"] is not None and loan["completed_at"] is None
    assert loan["monthly_payment_amount"] == "870.17"
    rows = loan["payments"]
    assert [p["number"] for p in rows] == [1, 2, 3, 4, 5, 6]
    assert [p["amount"] for p in rows] == ["870.17"] * 4 + ["870.16"] * 2
    assert [p["interest"] for p in rows] == ["62.50", "52.40", "42.18", "31.83", "21.35", "10.74"]
    assert sum(Decimal(p["amount"]) for p in rows) == Decimal("5221.00")
    assert sum(Decimal(p["principal"]) for p in rows) == Decimal("5000.00")
    funded_on = datetime.date.fromisoformat(loan["funded_at"][:10])
    assert [p["due_date"] for p in rows] == [(funded_on + relativedelta(months=k)).isoformat() for k in range(1, 7)]
    for row in rows:
        assert (row["loan"], row["paid"], row["overdue"], row["late_fee"], row["paid_at"]) == (
            accepted["id"], False, False, "0.00", None,
        )  # fmt: skip
        assert row["loan_status"] == "FUNDED"

    assert balances(borrower_api) == ("5000.00", "0.00", "5000.00")
    assert balances(lender_api) == ("4996.25", "0.00", "4996.25")
    assert platform_balance() == "3.75"
    moved = Transaction.objects.filter(loan_id=accepted["id"]).order_by("kind")
    assert [(t.kind, t.from_user_id, t.to_user.username, t.amount) for t in moved] == [
        ("fee", lender.pk, "lenme", Decimal("3.75")),
        ("funding", lender.pk, borrower.username, Decimal("5000.00")),
    ]
    offer = lender_api.get(f"/api/loans/{accepted['id']}/offers/").json()["results"][0]
    assert (offer["status"], offer["reserved_amount"]) == ("ACCEPTED", "0.00")


def test_fund_twice_is_invalid_state_and_moves_nothing(accepted, lender_api):
    fund(lender_api, accepted["id"])
    before = Transaction.objects.count()

    assert_problem(post(lender_api, f"/api/loans/{accepted['id']}/fund/"), 409, "invalid_state")
    assert Transaction.objects.count() == before
    assert balances(lender_api) == ("4996.25", "0.00", "4996.25")


def test_fund_by_anyone_but_the_lender_is_403(accepted, borrower_api, lender2_api):
    for client in (borrower_api, lender2_api):
        assert_problem(post(client, f"/api/loans/{accepted['id']}/fund/"), 403, "permission_denied")
    assert borrower_api.get(f"/api/loans/{accepted['id']}/").json()["status"] == "ACCEPTED"


def test_fund_by_a_stranger_is_404_once_the_loan_is_accepted(accepted, stranger_api):
    assert_problem(post(stranger_api, f"/api/loans/{accepted['id']}/fund/"), 404, "not_found")


def test_fund_of_an_offered_loan_is_403_for_would_be_lenders(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")

    # No lender yet: nobody is "the loan's lender", so the caller may not fund it.
    assert_problem(post(lender_api, f"/api/loans/{loan['id']}/fund/"), 403, "permission_denied")


def test_fund_without_fee_writes_no_fee_row(settings, borrower_api, lender, lender_api):
    settings.LENME_FEE = Decimal("0.00")
    loan = create_loan(borrower_api, amount="100.00", term_months=2)
    assert loan["lenme_fee"] == "0.00" and loan["total_loan_amount"] == "100.00"
    make_offer(lender_api, loan["id"], "0.00")
    accept(borrower_api, loan["id"])

    fund(lender_api, loan["id"])

    assert list(Transaction.objects.filter(loan_id=loan["id"]).values_list("kind", flat=True)) == ["funding"]
    assert balances(lender_api) == ("9900.00", "0.00", "9900.00")


def test_fee_is_the_one_in_force_when_the_loan_was_requested(settings, borrower_api, lender_api):
    loan = create_loan(borrower_api, amount="100.00", term_months=2)
    settings.LENME_FEE = Decimal("50.00")
    make_offer(lender_api, loan["id"], "1.00")
    accept(borrower_api, loan["id"])

    funded = fund(lender_api, loan["id"])

    assert funded["lenme_fee"] == "3.75" and platform_balance() == "3.75"
    assert balances(lender_api) == ("9896.25", "0.00", "9896.25")


def test_360_month_loan_funds_with_a_full_schedule(borrower_api, lender_api):
    funded = funded_loan(borrower_api, lender_api, amount="1000.00", term_months=360, rate="7.25")

    rows = funded["payments"]
    assert len(rows) == 360 and [r["number"] for r in rows] == list(range(1, 361))
    assert sum(Decimal(r["principal"]) for r in rows) == Decimal("1000.00")
    assert all(Decimal(r["amount"]) > 0 for r in rows)
    assert len(lender_api.get(f"/api/loans/{funded['id']}/payments/").json()) == 360


# Payments list -------------------------------------------------------------------------------------


def test_payments_list_is_a_plain_array_by_number_for_borrower_and_lender(borrower_api, lender_api, lender2_api):
    loan = funded_loan(borrower_api, lender_api, loser_api=lender2_api)

    for client in (borrower_api, lender_api):
        response = client.get(f"/api/loans/{loan['id']}/payments/")
        assert response.status_code == 200
        rows = response.json()
        assert isinstance(rows, list) and [r["number"] for r in rows] == [1, 2, 3, 4, 5, 6]
        for row in rows:
            assert_payment_shape(row)
        assert rows == loan["payments"]
    assert_problem(lender2_api.get(f"/api/loans/{loan['id']}/payments/"), 403, "permission_denied")


def test_payments_list_before_funding_is_empty_for_the_borrower(borrower_api, stranger_api):
    loan = create_loan(borrower_api)

    assert borrower_api.get(f"/api/loans/{loan['id']}/payments/").json() == []
    assert_problem(stranger_api.get(f"/api/loans/{loan['id']}/payments/"), 403, "permission_denied")


# Pay -----------------------------------------------------------------------------------------------


@pytest.fixture
def funded(borrower_api, lender_api, lender2_api):
    return funded_loan(borrower_api, lender_api, loser_api=lender2_api)


def pay_url(loan: dict, number: int) -> str:
    return f"/api/loans/{loan['id']}/payments/{loan['payments'][number - 1]['id']}/pay/"


def test_pay_first_installment_moves_it_to_the_lender(funded, borrower, lender, borrower_api, lender_api):
    response = post(borrower_api, pay_url(funded, 1))

    assert response.status_code == 200, response.content
    body = response.json()
    assert_payment_shape(body)
    assert (body["number"], body["paid"], body["loan_status"], body["amount"]) == (1, True, "FUNDED", "870.17")
    assert body["paid_at"] is not None
    assert balances(borrower_api) == ("4129.83", "0.00", "4129.83")
    assert balances(lender_api) == ("5866.42", "0.00", "5866.42")
    row = Transaction.objects.get(kind="repayment")
    assert (row.from_user_id, row.to_user_id, row.amount, row.loan_id) == (
        borrower.pk, lender.pk, Decimal("870.17"), funded["id"],
    )  # fmt: skip
    listed = borrower_api.get(f"/api/loans/{funded['id']}/payments/").json()
    assert [r["paid"] for r in listed] == [True, False, False, False, False, False]


def test_pay_a_later_installment_is_out_of_order(funded, borrower_api):
    assert_problem(post(borrower_api, pay_url(funded, 2)), 409, "out_of_order")
    assert_problem(post(borrower_api, pay_url(funded, 6)), 409, "out_of_order")
    assert balances(borrower_api)[0] == "5000.00"


def test_pay_a_paid_installment_is_already_paid(funded, borrower_api):
    pay(borrower_api, funded["id"], funded["payments"][0]["id"])

    assert_problem(post(borrower_api, pay_url(funded, 1)), 409, "already_paid")
    assert balances(borrower_api)[0] == "4129.83"


def test_pay_short_is_insufficient_funds_and_moves_nothing(funded, borrower_api, lender_api):
    post(borrower_api, "/api/accounts/withdraw/", {"amount": "4129.84"})  # 870.16 left: a cent short
    before = Transaction.objects.count()

    assert_problem(post(borrower_api, pay_url(funded, 1)), 409, "insufficient_funds")
    assert Transaction.objects.count() == before
    assert balances(borrower_api) == ("870.16", "0.00", "870.16")
    assert balances(lender_api)[0] == "4996.25"


def test_pay_uses_only_the_available_balance(funded, borrower_api, stranger_api):
    """Money the borrower holds for an offer of their own is not there to repay with."""
    post(borrower_api, "/api/accounts/withdraw/", {"amount": "4000.00"})  # 1000.00 left
    other = create_loan(stranger_api, amount="200.00", term_months=1)
    make_offer(borrower_api, other["id"], "5.00")  # 203.75 reserved: 796.25 available

    assert_problem(post(borrower_api, pay_url(funded, 1)), 409, "insufficient_funds")
    assert balances(borrower_api) == ("1000.00", "203.75", "796.25")


def test_pay_by_the_lender_or_a_losing_lender_is_403(funded, lender_api, lender2_api):
    for client in (lender_api, lender2_api):
        assert_problem(post(client, pay_url(funded, 1)), 403, "permission_denied")


def test_pay_by_a_stranger_is_404(funded, stranger_api):
    assert_problem(post(stranger_api, pay_url(funded, 1)), 404, "not_found")


def test_pay_with_a_payment_id_of_another_loan_is_404(funded, borrower_api, lender_api):
    deposit(lender_api, "10000.00")
    other = funded_loan(borrower_api, lender_api, amount="100.00", term_months=2)

    url = f"/api/loans/{funded['id']}/payments/{other['payments'][0]['id']}/pay/"
    assert_problem(post(borrower_api, url), 404, "not_found")
    assert_problem(
        post(borrower_api, f"/api/loans/{funded['id']}/payments/99999999999999999999/pay/"), 404, "not_found"
    )
    assert_problem(
        post(borrower_api, f"/api/loans/999999/payments/{funded['payments'][0]['id']}/pay/"), 404, "not_found"
    )
    assert balances(borrower_api)[0] == "5100.00"


def test_last_payment_completes_the_loan(funded, borrower_api, lender_api):
    deposit(borrower_api, "221.00")
    for row in funded["payments"][:-1]:
        assert pay(borrower_api, funded["id"], row["id"])["loan_status"] == "FUNDED"

    last = pay(borrower_api, funded["id"], funded["payments"][-1]["id"])

    assert (last["number"], last["loan_status"]) == (6, "COMPLETED")
    loan = borrower_api.get(f"/api/loans/{funded['id']}/").json()
    assert loan["status"] == "COMPLETED" and loan["completed_at"] is not None
    assert all(p["paid"] for p in loan["payments"])
    assert balances(borrower_api) == ("0.00", "0.00", "0.00")
    assert balances(lender_api) == ("10217.25", "0.00", "10217.25")
    assert_problem(post(borrower_api, pay_url(funded, 6)), 409, "already_paid")
    assert_problem(post(borrower_api, f"/api/loans/{funded['id']}/cancel/"), 409, "invalid_state")


def test_due_dates_are_computed_from_the_funding_date_each_time(monkeypatch, borrower_api, lender_api):
    """Funded on Jan 31 of a leap year: Feb 29, Mar 31, Apr 30 ... never drifting to the 29th/30th."""
    loan = create_loan(borrower_api, amount="600.00", term_months=6)
    make_offer(lender_api, loan["id"], "5.00")
    accept(borrower_api, loan["id"])
    funded_at = datetime.datetime(2024, 1, 31, 23, 30, tzinfo=datetime.UTC)
    monkeypatch.setattr("django.utils.timezone.now", lambda: funded_at)

    funded = fund(lender_api, loan["id"])

    assert funded["funded_at"] == "2024-01-31T23:30:00Z"
    assert [p["due_date"] for p in funded["payments"]] == [
        "2024-02-29", "2024-03-31", "2024-04-30", "2024-05-31", "2024-06-30", "2024-07-31",
    ]  # fmt: skip
