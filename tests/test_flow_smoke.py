"""The Lenme example end to end through the HTTP API: a borrower asks for 5000.00 over 6 months at
15.00% at most; two lenders offer; the lowest rate (12.00%) is accepted and funded; six installments
are paid and the loan is COMPLETED. Every balance, every ledger row and every party's
GET /api/transactions/ is checked, and each user's ledger sums to their balance."""

from decimal import Decimal

import pytest

from accounts.models import Transaction
from tests.accounts.api_helpers import (
    assert_loan_shape,
    assert_page,
    balances,
    ledger_sum,
    platform_balance,
    platform_user,
    post,
)

pytestmark = pytest.mark.django_db

# 5000.00 at 12.00% for 6 months (r = 1%): level 862.74, computed independently with exact fractions.
SCHEDULE_12 = [
    ("862.74", "812.74", "50.00"),
    ("862.74", "820.87", "41.87"),
    ("862.74", "829.08", "33.66"),
    ("862.74", "837.37", "25.37"),
    ("862.74", "845.74", "17.00"),
    ("862.74", "854.20", "8.54"),
]


def ledger(client) -> list[tuple]:
    """The caller's GET /api/transactions/, newest first, as (kind, from, to, amount, loan)."""
    response = client.get("/api/transactions/?page_size=200")
    assert response.status_code == 200
    rows = assert_page(response.json())
    assert response.json()["count"] == len(rows)
    return [(r["kind"], r["from_user"], r["to_user"], r["amount"], r["loan"]) for r in rows]


def test_lenme_example_end_to_end(borrower, lender, lender2, borrower_api, lender_api, lender2_api):
    platform = platform_user()
    assert platform_balance() == "0.00"

    # The borrower asks for 5000.00 over 6 months at 15.00% at most.
    response = post(borrower_api, "/api/loans/", {"amount": "5000.00", "term_months": 6, "interest_rate": "15.00"})
    assert response.status_code == 201, response.content
    loan = response.json()
    assert_loan_shape(loan)
    loan_id = loan["id"]
    assert (loan["status"], loan["total_loan_amount"], loan["monthly_payment_amount"]) == ("OPEN", "5003.75", None)

    # Two lenders offer; each offer holds amount + fee.
    high = post(lender_api, f"/api/loans/{loan_id}/offers/", {"interest_rate": "15.00"})
    low = post(lender2_api, f"/api/loans/{loan_id}/offers/", {"interest_rate": "12.00"})
    assert high.status_code == 201 and low.status_code == 201
    assert balances(lender_api) == ("10000.00", "5003.75", "4996.25")
    assert balances(lender2_api) == ("10000.00", "5003.75", "4996.25")
    listed = borrower_api.get(f"/api/loans/{loan_id}/offers/").json()["results"]
    assert [(o["lender"], o["interest_rate"]) for o in listed] == [(lender2.pk, "12.00"), (lender.pk, "15.00")]
    assert borrower_api.get(f"/api/loans/{loan_id}/").json()["status"] == "OFFERED"

    # The borrower accepts the best offer: the other is rejected and released.
    accepted = post(borrower_api, f"/api/loans/{loan_id}/accept/", {})
    assert accepted.status_code == 200, accepted.content
    assert (accepted.json()["status"], accepted.json()["lender"]) == ("ACCEPTED", lender2.pk)
    assert (accepted.json()["interest_rate"], accepted.json()["monthly_payment_amount"]) == ("12.00", "862.74")
    assert balances(lender_api) == ("10000.00", "0.00", "10000.00")
    assert balances(lender2_api) == ("10000.00", "5003.75", "4996.25")
    assert lender_api.get(f"/api/loans/{loan_id}/offers/").json()["results"][0]["status"] == "REJECTED"

    # The lender funds: principal to the borrower, fee to the platform, the schedule is created.
    funded = post(lender2_api, f"/api/loans/{loan_id}/fund/")
    assert funded.status_code == 200, funded.content
    body = funded.json()
    assert body["status"] == "FUNDED"
    assert [(p["amount"], p["principal"], p["interest"]) for p in body["payments"]] == SCHEDULE_12
    assert balances(borrower_api) == ("5000.00", "0.00", "5000.00")
    assert balances(lender2_api) == ("4996.25", "0.00", "4996.25")
    assert platform_balance() == "3.75"

    # The borrower tops up the interest and pays the six installments in order.
    assert post(borrower_api, "/api/accounts/deposit/", {"amount": "176.44"}).status_code == 200
    for row in body["payments"]:
        paid = post(borrower_api, f"/api/loans/{loan_id}/payments/{row['id']}/pay/")
        assert paid.status_code == 200, paid.content
        assert paid.json()["paid"] is True
    assert paid.json()["loan_status"] == "COMPLETED"
    final = borrower_api.get(f"/api/loans/{loan_id}/").json()
    assert final["status"] == "COMPLETED" and final["completed_at"] is not None

    # Balances: the borrower repaid everything, lender2 earned 176.44 interest net of the 3.75 fee.
    assert balances(borrower_api) == ("0.00", "0.00", "0.00")
    assert balances(lender_api) == ("10000.00", "0.00", "10000.00")
    assert balances(lender2_api) == ("10172.69", "0.00", "10172.69")
    assert platform_balance() == "3.75"

    # Every ledger row, as each party sees it (newest first).
    repayments = [("repayment", borrower.pk, lender2.pk, "862.74", loan_id)] * 6
    funding = ("funding", lender2.pk, borrower.pk, "5000.00", loan_id)
    fee = ("fee", lender2.pk, platform.pk, "3.75", loan_id)
    assert ledger(borrower_api) == [*repayments, ("deposit", None, borrower.pk, "176.44", None), funding]
    assert ledger(lender2_api) == [*repayments, fee, funding, ("deposit", None, lender2.pk, "10000.00", None)]
    assert ledger(lender_api) == [("deposit", None, lender.pk, "10000.00", None)]
    platform_rows = Transaction.objects.filter(to_user=platform) | Transaction.objects.filter(from_user=platform)
    assert [(t.kind, t.from_user_id, t.amount, t.loan_id) for t in platform_rows] == [
        ("fee", lender2.pk, Decimal("3.75"), loan_id)
    ]
    assert Transaction.objects.filter(loan_id=loan_id).count() == 8
    assert list(Transaction.objects.filter(kind="repayment").values_list("payment__number", flat=True).order_by("id")) == [
        1, 2, 3, 4, 5, 6,
    ]  # fmt: skip

    # The ledger is the truth: each user's rows sum to their balance.
    for user, client in ((borrower, borrower_api), (lender, lender_api), (lender2, lender2_api)):
        assert ledger_sum(user) == Decimal(balances(client)[0])
    assert ledger_sum(platform) == Decimal(platform_balance())


WORKED_EXAMPLE = {
    "amounts": ["870.17", "870.17", "870.17", "870.17", "870.16", "870.16"],
    "interest": ["62.50", "52.40", "42.18", "31.83", "21.35", "10.74"],
}


def test_worked_example_at_15_percent_via_funding_and_via_quote(api, borrower_api, lender_api):
    quote = api.get("/api/loans/quote/?amount=5000.00&term_months=6&interest_rate=15.00")
    assert quote.status_code == 200, quote.content
    assert [p["amount"] for p in quote.json()["payments"]] == WORKED_EXAMPLE["amounts"]
    assert [p["interest"] for p in quote.json()["payments"]] == WORKED_EXAMPLE["interest"]
    assert quote.json()["total_repayment"] == "5221.00"

    loan = post(borrower_api, "/api/loans/", {"amount": "5000.00", "term_months": 6, "interest_rate": "15.00"}).json()
    assert post(lender_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "15.00"}).status_code == 201
    assert post(borrower_api, f"/api/loans/{loan['id']}/accept/", {}).status_code == 200
    funded = post(lender_api, f"/api/loans/{loan['id']}/fund/").json()

    assert [p["amount"] for p in funded["payments"]] == WORKED_EXAMPLE["amounts"]
    assert [p["interest"] for p in funded["payments"]] == WORKED_EXAMPLE["interest"]
    assert sum(Decimal(p["amount"]) for p in funded["payments"]) == Decimal("5221.00")
    assert funded["monthly_payment_amount"] == quote.json()["monthly_payment_amount"] == "870.17"
    strip = [{k: p[k] for k in ("number", "amount", "principal", "interest")} for p in funded["payments"]]
    assert strip == quote.json()["payments"]
