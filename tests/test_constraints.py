"""The database itself refuses what must never happen, even when a raw SQL write bypasses every line
of application code: a negative balance or reservation, a reservation above the balance, a second
PENDING offer by one lender on one loan, a second ACCEPTED offer on one loan."""

from decimal import Decimal

import pytest
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import Profile
from loans.models import Offer
from tests.conftest import client_for

pytestmark = pytest.mark.django_db


def raw(sql: str, params: list) -> None:
    """One raw statement in a savepoint, so a refused write leaves the test's transaction usable."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)


def profile_of(user) -> Profile:
    return Profile.objects.get(user=user)


def insert_offer(loan_id: int, lender_id: int, status: str, reserved: str = "0.00") -> None:
    now = timezone.now()
    raw(
        "INSERT INTO loans_offer (loan_id, lender_id, interest_rate, amount, reserved_amount, status, created_at,"
        " updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",  # v2: an offer has its `amount`
        [loan_id, lender_id, Decimal("9.00"), Decimal("100.00"), Decimal(reserved), status, now, now],
    )


# Profiles -------------------------------------------------------------------------------------------------


def test_a_negative_balance_is_refused(lender):
    pk = profile_of(lender).pk
    with pytest.raises(IntegrityError, match="profile_balance_non_negative"):
        raw("UPDATE accounts_profile SET balance = %s WHERE id = %s", [Decimal("-0.01"), pk])
    assert profile_of(lender).balance == Decimal("10000.00")


def test_a_negative_reservation_is_refused(lender):
    pk = profile_of(lender).pk
    with pytest.raises(IntegrityError, match="profile_reserved_non_negative"):
        raw("UPDATE accounts_profile SET reserved_balance = %s WHERE id = %s", [Decimal("-0.01"), pk])
    assert profile_of(lender).reserved_balance == Decimal("0.00")


def test_a_reservation_above_the_balance_is_refused(lender):
    pk = profile_of(lender).pk
    with pytest.raises(IntegrityError, match="profile_reserved_within_balance"):
        raw("UPDATE accounts_profile SET reserved_balance = %s WHERE id = %s", [Decimal("10000.01"), pk])
    # Lowering the balance under an existing reservation is the same violation from the other side.
    raw("UPDATE accounts_profile SET reserved_balance = %s WHERE id = %s", [Decimal("500.00"), pk])
    with pytest.raises(IntegrityError, match="profile_reserved_within_balance"):
        raw("UPDATE accounts_profile SET balance = %s WHERE id = %s", [Decimal("499.99"), pk])
    assert (profile_of(lender).balance, profile_of(lender).reserved_balance) == (
        Decimal("10000.00"),
        Decimal("500.00"),
    )


def test_a_reservation_equal_to_the_balance_is_allowed(lender):
    """The control: the same raw statement within the limits goes through."""
    pk = profile_of(lender).pk
    raw("UPDATE accounts_profile SET reserved_balance = balance WHERE id = %s", [pk])
    assert profile_of(lender).reserved_balance == Decimal("10000.00")


def test_a_zero_or_negative_ledger_row_is_refused(lender):
    now = timezone.now()
    for amount in (Decimal("0.00"), Decimal("-1.00")):
        with pytest.raises(IntegrityError, match="transaction_amount_positive"):
            raw(
                "INSERT INTO accounts_transaction (kind, to_user_id, amount, note, created_at) VALUES (%s, %s, %s, '', %s)",
                ["deposit", lender.pk, amount, now],
            )


# Offers -----------------------------------------------------------------------------------------------------


@pytest.fixture
def loan(borrower):
    reply = client_for(borrower).post(
        "/api/loans/", {"amount": "1000.00", "term_months": 4, "interest_rate": "12.00"}, format="json"
    )
    assert reply.status_code == 201
    return reply.json()


def make_offer(user, loan: dict) -> dict:
    reply = client_for(user).post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00"}, format="json")
    assert reply.status_code == 201, reply.content
    return reply.json()


def test_a_second_pending_offer_by_one_lender_on_one_loan_is_refused(loan, lender):
    make_offer(lender, loan)

    with pytest.raises(IntegrityError, match="offer_one_pending_per_lender|UNIQUE constraint failed: loans_offer"):
        insert_offer(loan["id"], lender.pk, "PENDING")
    assert Offer.objects.filter(loan_id=loan["id"], lender=lender).count() == 1


def test_an_old_offer_does_not_block_a_new_pending_one(loan, lender):
    """The control: the uniqueness is only among PENDING offers."""
    make_offer(lender, loan)
    insert_offer(loan["id"], lender.pk, "WITHDRAWN")
    insert_offer(loan["id"], lender.pk, "REJECTED")
    assert Offer.objects.filter(loan_id=loan["id"], lender=lender).count() == 3


def test_an_offer_cannot_be_filled_beyond_its_amount(loan, borrower, lender, lender2):
    """v2 lets several offers be ACCEPTED on one loan (the v1 constraint `offer_one_accepted_per_loan`
    is gone with notes); what must never break is a fill above the offer's amount."""
    make_offer(lender, loan)
    other = make_offer(lender2, loan)
    accepted = client_for(borrower).post(f"/api/loans/{loan['id']}/accept/", {}, format="json")
    assert accepted.status_code == 200

    with pytest.raises(IntegrityError, match="offer_filled_within_amount|CHECK constraint failed"):
        raw("UPDATE loans_offer SET filled_amount = amount + 1 WHERE id = %s", [other["id"]])
    with pytest.raises(IntegrityError, match="offer_amount_positive|CHECK constraint failed"):
        raw("UPDATE loans_offer SET amount = 0 WHERE id = %s", [other["id"]])
    assert Offer.objects.filter(loan_id=loan["id"], status="ACCEPTED").count() == 1


def test_a_dead_offer_cannot_keep_a_hold(loan, lender):
    offer = make_offer(lender, loan)

    with pytest.raises(IntegrityError, match="offer_hold_only_while_live"):
        raw("UPDATE loans_offer SET status = 'WITHDRAWN' WHERE id = %s", [offer["id"]])
    assert Offer.objects.get(pk=offer["id"]).status == "PENDING"
