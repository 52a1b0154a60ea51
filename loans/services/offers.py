"""Offer writes: submit (reserving the hold), withdraw, reject, and the borrower's accept."""

from decimal import Decimal

from django.db import IntegrityError
from django.utils import timezone

from accounts.services import profiles_save
from lenme.db import atomic_retry
from lenme.errors import (
    DuplicateOffer,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotFound,
    ValidationFailed,
)
from lenme.locks import lock_offers, lock_profiles
from loans import policies
from loans.models import (
    LIVE_LOAN_STATUSES,
    Loan,
    LoanStatus,
    NotificationKind,
    Offer,
    OfferStatus,
)
from loans.notifications import Event, notify
from loans.services.common import (
    _locked_visible_loan,
    _require_borrower,
    _save_loan,
    loan_reopen_if_no_pending,
    offers_release,
    transition,
)


@atomic_retry
def offer_submit(*, loan_id: int, lender, interest_rate: Decimal) -> Offer:
    loan = _locked_visible_loan(loan_id, lender)
    if policies.is_borrower(loan, lender):
        raise Forbidden("You cannot make an offer on your own loan.")
    if loan.requested_interest_rate is not None and interest_rate > loan.requested_interest_rate:
        raise ValidationFailed.field(
            "interest_rate", f"The borrower accepts at most {loan.requested_interest_rate}%.", "max_value"
        )
    if loan.status not in LIVE_LOAN_STATUSES:
        raise InvalidState(f"Offers are accepted on OPEN or OFFERED loans; this one is {loan.status}.")
    if loan.offers.filter(lender=lender, status=OfferStatus.PENDING).exists():
        raise DuplicateOffer()
    profile = lock_profiles([lender.pk])[lender.pk]
    hold = loan.total_loan_amount()
    if not profile.has_sufficient_funds(hold):
        raise InsufficientFunds(
            f"This offer holds {hold}; your available balance is {profile.available_balance():.2f}."
        )
    profile.reserve_funds(hold)
    profiles_save([profile])
    try:
        offer = Offer.objects.create(loan=loan, lender=lender, interest_rate=interest_rate, reserved_amount=hold)
    except IntegrityError as exc:  # the partial unique index, should a check above ever be bypassed
        raise DuplicateOffer() from exc
    if loan.status == LoanStatus.OPEN:
        transition(loan, LoanStatus.OFFERED)
        _save_loan(loan, "status")
    notify(
        Event(
            loan.borrower_id,
            NotificationKind.OFFER_RECEIVED,
            f"New offer at {interest_rate}% on loan #{loan.pk}.",
            loan.pk,
        )
    )
    return offer


def _locked_offer(loan: Loan, offer_id: int) -> Offer:
    offers = lock_offers(loan.offers.filter(pk=offer_id))
    if not offers:
        raise NotFound("No such offer on this loan.")
    return offers[0]


@atomic_retry
def offer_withdraw(*, loan_id: int, offer_id: int, lender) -> Offer:
    loan = _locked_visible_loan(loan_id, lender)
    offer = _locked_offer(loan, offer_id)
    if offer.lender_id != lender.pk:
        raise Forbidden("Only the offer's lender may withdraw it.")
    if offer.status != OfferStatus.PENDING:
        raise InvalidState(f"Only a PENDING offer can be withdrawn; this one is {offer.status}.")
    offers_release([offer], OfferStatus.WITHDRAWN)
    loan_reopen_if_no_pending(loan)
    return offer


@atomic_retry
def offer_reject(*, loan_id: int, offer_id: int, borrower) -> Offer:
    loan = _locked_visible_loan(loan_id, borrower)
    offer = _locked_offer(loan, offer_id)
    _require_borrower(loan, borrower)
    if offer.status != OfferStatus.PENDING:
        raise InvalidState(f"Only a PENDING offer can be rejected; this one is {offer.status}.")
    offers_release([offer], OfferStatus.REJECTED)
    loan_reopen_if_no_pending(loan)
    notify(
        Event(offer.lender_id, NotificationKind.OFFER_REJECTED, f"Your offer on loan #{loan.pk} was rejected.", loan.pk)
    )
    return offer


@atomic_retry
def loan_accept(*, loan_id: int, borrower, offer_id: int | None = None) -> Loan:
    loan = _locked_visible_loan(loan_id, borrower)
    _require_borrower(loan, borrower)
    if offer_id is not None and not loan.offers.filter(pk=offer_id).exists():
        raise ValidationFailed.field("offer_id", "No such offer on this loan.", "not_found")
    if loan.status != LoanStatus.OFFERED:
        raise InvalidState(f"Only an OFFERED loan can accept an offer; this one is {loan.status}.")
    pending = lock_offers(loan.offers.filter(status=OfferStatus.PENDING))
    if offer_id is not None:
        chosen = next((o for o in pending if o.pk == offer_id), None)
        if chosen is None:
            raise InvalidState("That offer is not PENDING.")
    elif pending:
        chosen = min(pending, key=lambda o: (o.interest_rate, o.created_at, o.pk))
    else:  # pragma: no cover - an OFFERED loan always has a PENDING offer
        raise InvalidState("The loan has no PENDING offer.")
    others = [o for o in pending if o.pk != chosen.pk]
    transition(chosen, OfferStatus.ACCEPTED)  # keeps its hold
    offers_release(others, OfferStatus.REJECTED, also_save=(chosen,))
    transition(loan, LoanStatus.ACCEPTED)
    loan.lender_id = chosen.lender_id
    loan.interest_rate = chosen.interest_rate
    loan.accepted_at = timezone.now()
    _save_loan(loan, "status", "lender", "interest_rate", "accepted_at")
    notify(
        Event(
            chosen.lender_id,
            NotificationKind.OFFER_ACCEPTED,
            f"Your offer at {chosen.interest_rate}% on loan #{loan.pk} was accepted; fund it to start the loan.",
            loan.pk,
        ),
        *(
            Event(
                o.lender_id,
                NotificationKind.OFFER_REJECTED,
                f"Loan #{loan.pk} accepted another offer; yours was released.",
                loan.pk,
            )
            for o in others
        ),
    )
    return loan
