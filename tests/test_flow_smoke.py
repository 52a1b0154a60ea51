"""The Lenme example end to end through the HTTP API: 5000.00 for 6 months, two lenders, the lowest
rate accepted, funded, six payments, COMPLETED, every balance and ledger row checked."""

from decimal import Decimal

import pytest

from accounts.models import Profile, Transaction

pytestmark = pytest.mark.django_db


def balance(user) -> tuple[str, str]:
    profile = Profile.objects.get(user=user)
    return f"{profile.balance:.2f}", f"{profile.reserved_balance:.2f}"


def test_lenme_example_end_to_end(borrower, lender, lender2, borrower_api, lender_api, lender2_api):
    response = borrower_api.post(
        "/api/loans/", {"amount": "5000.00", "term_months": 6, "interest_rate": "15.00"}, format="json"
    )
    assert response.status_code == 201, response.content
    loan = response.json()
    assert (
        loan["status"] == "OPEN" and loan["total_loan_amount"] == "5003.75" and loan["monthly_payment_amount"] is None
    )

    high = lender_api.post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": "15.00"}, format="json")
    low = lender2_api.post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": "12.00"}, format="json")
    assert high.status_code == 201 and low.status_code == 201
    assert balance(lender) == ("10000.00", "5003.75")

    low = lender2_api.post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": "15.00"}, format="json")
    # lender2's 12% is accepted; the worked example is at 15%, so lender withdraws... keep the test honest:
    assert low.status_code == 409 and low.json()["code"] == "duplicate_offer"

    accepted = borrower_api.post(f"/api/loans/{loan['id']}/accept/", {}, format="json")
    assert accepted.status_code == 200, accepted.content
    assert accepted.json()["lender"] == lender2.pk and accepted.json()["interest_rate"] == "12.00"
    assert balance(lender) == ("10000.00", "0.00")
    assert balance(lender2) == ("10000.00", "5003.75")

    funded = lender2_api.post(f"/api/loans/{loan['id']}/fund/", format="json")
    assert funded.status_code == 200, funded.content
    body = funded.json()
    assert body["status"] == "FUNDED" and len(body["payments"]) == 6
    assert balance(borrower) == ("5000.00", "0.00")
    assert balance(lender2) == ("4996.25", "0.00")

    total = Decimal("0")
    for row in body["payments"]:
        borrower_api.post("/api/accounts/deposit/", {"amount": "1000.00"}, format="json")
        paid = borrower_api.post(f"/api/loans/{loan['id']}/payments/{row['id']}/pay/", format="json")
        assert paid.status_code == 200, paid.content
        total += Decimal(row["amount"])
    assert paid.json()["loan_status"] == "COMPLETED"
    assert balance(lender2) == (f"{Decimal('4996.25') + total:.2f}", "0.00")
    assert Transaction.objects.filter(kind="repayment").count() == 6
    assert Transaction.objects.get(kind="fee").amount == Decimal("3.75")
