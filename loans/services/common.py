"""Building blocks every lending service and job shares: the lifecycle check, holds released, saves.

Services and jobs call these while they already hold the loan's lock (see lenme.locks).
"""

from decimal import Decimal

from django.utils import timezone

from accounts.services import profiles_save
from lenme.db import save_fields
from lenme.errors import (
    InvalidState,
    NotFound,
)
from lenme.locks import lock_loan, lock_profiles
from lenme.money import ZERO
from loans import policies
from loans.models import (
    LOAN_TRANSITIONS,
    OFFER_TRANSITIONS,
    Loan,
    LoanStatus,
    Note,
    NoteStatus,
    NotificationKind,
    Offer,
    OfferStatus,
)
from loans.notifications import Event
from loans.selectors import loan_is_visible


def check_transition(obj: Loan | Offer, new_status: str) -> None:
    """The one place the lifecycle is enforced: refuses any move the transition tables do not list."""
    table = LOAN_TRANSITIONS if isinstance(obj, Loan) else OFFER_TRANSITIONS
    if new_status not in table[obj.status]:
        kind = "loan" if isinstance(obj, Loan) else "offer"
        raise InvalidState(f"The {kind} is {obj.status}; it cannot become {new_status}.")


def transition(obj: Loan | Offer, new_status: str) -> None:
    check_transition(obj, new_status)
    obj.status = new_status


def _locked_visible_loan(loan_id: int, user) -> Loan:
    loan = lock_loan(loan_id)
    if loan is None or not loan_is_visible(loan, user):
        raise NotFound("No such loan.")
    return loan


_require_borrower = policies.require_borrower


# Building blocks for services and jobs that already hold the loan's lock ---------------------------


def offers_release(
    offers: list[Offer],
    new_status: str,
    *,
    also_save: tuple[Offer, ...] = (),
    cut: tuple[tuple[Offer, Decimal], ...] = (),
) -> None:
    """Move locked offers to new_status and give their holds back to their lenders (whose profiles
    this locks), saving offers and profiles; also_save are offers changed by the caller, and cut lists
    (offer, amount) for offers that stay live with their hold cut by amount (accept)."""
    profiles = lock_profiles([*(o.lender_id for o in offers), *(o.lender_id for o, _ in cut)])
    for offer, amount in cut:
        if amount:
            profiles[offer.lender_id].release_funds(amount)
            offer.reserved_amount -= amount
    for offer in offers:
        transition(offer, new_status)
        profiles[offer.lender_id].release_funds(offer.reserved_amount)
        offer.reserved_amount = ZERO
    _save_offers([*also_save, *offers])
    profiles_save(profiles.values())


def loan_reopen_if_no_pending(loan: Loan) -> None:
    """OFFERED -> OPEN once the last PENDING offer is gone."""
    if loan.status == LoanStatus.OFFERED and not loan.offers.filter(status=OfferStatus.PENDING).exists():
        transition(loan, LoanStatus.OPEN)
        _save_loan(loan, "status")


def loan_drop_lender(loan: Loan, new_status: str) -> None:
    """Cancel or a lapsed funding deadline: no lender any more, the requested rate shows again."""
    transition(loan, new_status)
    loan.lender = None
    loan.lender_ids = []
    loan.first_installment = None
    loan.interest_rate = loan.requested_interest_rate
    loan.accepted_at = None
    _save_loan(loan, "status", "lender", "lender_ids", "first_installment", "interest_rate", "accepted_at")


def loan_complete(loan: Loan, *, reason: str, at, lender_ids, message: str) -> list[Event]:
    """FUNDED or DEFAULTED -> COMPLETED (its last installment paid, or paid off early: `reason`), with
    nothing past due; every note REPAID (charged-off principal kept). Returns the loan_completed events
    for the borrower and each lender, for the caller to send with its own."""
    transition(loan, LoanStatus.COMPLETED)
    loan.completed_at = at
    loan.closed_reason = reason
    loan.days_past_due = 0
    _save_loan(loan, "status", "completed_at", "closed_reason", "days_past_due")
    Note.objects.filter(loan=loan).update(status=NoteStatus.REPAID)
    return [
        Event(uid, NotificationKind.LOAN_COMPLETED, message, loan.pk)
        for uid in (loan.borrower_id, *dict.fromkeys(lender_ids))
    ]


def _save_offers(offers: list[Offer]) -> None:
    if offers:
        now = timezone.now()
        for offer in offers:
            offer.updated_at = now
        Offer.objects.bulk_update(
            offers, ["status", "reserved_amount", "filled_amount", "fee", "funded_at", "updated_at"]
        )


def _save_loan(loan: Loan, *fields: str, batch=None) -> None:
    save_fields(loan, [*fields, "updated_at"], batch=batch)  # loan.save(update_fields=...), written once
