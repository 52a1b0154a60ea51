"""Offer writes: submit (reserving the hold), withdraw, reject, and the borrower's accept."""

from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from accounts.services import profiles_save
from lenme.db import atomic_retry
from lenme.errors import (
    DuplicateOffer,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotCovered,
    NotFound,
    ValidationFailed,
)
from lenme.locks import lock_offers, lock_profiles
from lenme.money import ZERO, ceil_cents, round_fraction, split_largest_remainder
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
from loans.schedule import first_payment
from loans.services.common import (
    _locked_visible_loan,
    _require_borrower,
    _save_loan,
    loan_reopen_if_no_pending,
    offers_release,
    transition,
)


def offer_hold(*, loan: Loan, amount: Decimal) -> Decimal:
    """What an offer of `amount` holds: amount + the most its fee share can be (lenme_fee * amount /
    loan amount, rounded up to the cent); a whole-loan offer holds exactly total_loan_amount."""
    return amount + ceil_cents(Fraction(loan.lenme_fee) * Fraction(amount) / Fraction(loan.amount))


MAX_ID = 2**63 - 1


def _fill_order(offer: Offer) -> tuple:
    return (offer.interest_rate, offer.created_at, offer.pk)


@atomic_retry
def offer_submit(*, loan_id: int, lender, interest_rate: Decimal, amount: Decimal | None = None) -> Offer:
    loan = _locked_visible_loan(loan_id, lender)
    if policies.is_borrower(loan, lender):
        raise Forbidden("You cannot make an offer on your own loan.")
    if loan.requested_interest_rate is not None and interest_rate > loan.requested_interest_rate:
        raise ValidationFailed.field(
            "interest_rate", f"The borrower accepts at most {loan.requested_interest_rate}%.", "max_value"
        )
    minimum = min(settings.LENME_MIN_NOTE, loan.amount)
    if amount is not None and not minimum <= amount <= loan.amount:
        raise ValidationFailed.field(
            "amount", f"An offer on this loan is for {minimum} to {loan.amount}.", "out_of_range"
        )
    if loan.status not in LIVE_LOAN_STATUSES:
        raise InvalidState(f"Offers are accepted on OPEN or OFFERED loans; this one is {loan.status}.")
    if loan.offers.filter(lender=lender, status=OfferStatus.PENDING).exists():
        raise DuplicateOffer()
    profile = lock_profiles([lender.pk])[lender.pk]
    amount = loan.amount if amount is None else amount  # left out: the whole loan (v1)
    hold = offer_hold(loan=loan, amount=amount)
    if not profile.has_sufficient_funds(hold):
        raise InsufficientFunds(
            f"This offer holds {hold}; your available balance is {profile.available_balance():.2f}."
        )
    profile.reserve_funds(hold)
    profiles_save([profile])
    try:
        offer = Offer.objects.create(
            loan=loan, lender=lender, interest_rate=interest_rate, amount=amount, reserved_amount=hold
        )
    except IntegrityError as exc:  # the partial unique index, should a check above ever be bypassed
        raise DuplicateOffer() from exc
    if loan.status == LoanStatus.OPEN:
        transition(loan, LoanStatus.OFFERED)
        _save_loan(loan, "status")
    notify(
        Event(
            loan.borrower_id,
            NotificationKind.OFFER_RECEIVED,
            f"New offer at {interest_rate}% on loan #{loan.pk}"
            + ("." if amount == loan.amount else f" for {amount} of it."),
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
def loan_accept(*, loan_id: int, borrower, offer_id: int | None = None, offer_ids: list[int] | None = None) -> Loan:
    """Choose the offers that fund the loan (every PENDING one by default), fill them in order (lowest
    rate, oldest, lowest id) until the amount is covered, split the fee by largest remainder, cut each
    filled offer's hold to filled_amount + fee and release every other PENDING offer."""
    loan = _locked_visible_loan(loan_id, borrower)
    _require_borrower(loan, borrower)
    wanted = [offer_id] if offer_id is not None else offer_ids
    if wanted is not None:
        storable = [pk for pk in wanted if pk <= MAX_ID]  # a larger id is no offer of ours
        known = set(loan.offers.filter(pk__in=storable).values_list("pk", flat=True))
        foreign = [pk for pk in wanted if pk not in known]
        if foreign:
            field = "offer_id" if offer_id is not None else "offer_ids"
            raise ValidationFailed.field(field, f"No such offer on this loan: {foreign[0]}.", "not_found")
    if loan.status != LoanStatus.OFFERED:
        raise InvalidState(f"Only an OFFERED loan can accept an offer; this one is {loan.status}.")
    pending = lock_offers(loan.offers.filter(status=OfferStatus.PENDING))
    if wanted is not None:
        by_pk = {o.pk: o for o in pending}
        if any(pk not in by_pk for pk in wanted):
            raise InvalidState(
                "That offer is not PENDING." if offer_id is not None else "A chosen offer is not PENDING."
            )
        chosen = [by_pk[pk] for pk in wanted]
    else:
        chosen = list(pending)
    if not chosen:  # pragma: no cover - an OFFERED loan always has a PENDING offer
        raise InvalidState("The loan has no PENDING offer.")
    chosen.sort(key=_fill_order)
    offered = sum((o.amount for o in chosen), ZERO)
    if offered < loan.amount:
        raise NotCovered(f"The chosen offers add up to {offered}; the loan is for {loan.amount}.")

    filled: list[Offer] = []
    uncovered = loan.amount
    for offer in chosen:
        if uncovered == 0:
            break  # chosen but not needed: released with the other PENDING offers
        offer.filled_amount = min(offer.amount, uncovered)
        uncovered -= offer.filled_amount
        filled.append(offer)
    fees = split_largest_remainder(loan.lenme_fee, [o.filled_amount for o in filled])  # ties: earlier filled
    cut = []
    for offer, fee in zip(filled, fees, strict=True):
        offer.fee = fee
        transition(offer, OfferStatus.ACCEPTED)
        cut.append((offer, offer.reserved_amount - (offer.filled_amount + fee)))  # never negative: fee <= fee hold
    filled_pks = {o.pk for o in filled}
    others = [o for o in pending if o.pk not in filled_pks]
    offers_release(others, OfferStatus.REJECTED, also_save=tuple(filled), cut=tuple(cut))

    transition(loan, LoanStatus.ACCEPTED)
    loan.lender_ids = [o.lender_id for o in filled]
    loan.lender_id = filled[0].lender_id if len(filled) == 1 else None
    loan.interest_rate = round_fraction(
        sum((Fraction(o.interest_rate) * Fraction(o.filled_amount) for o in filled), Fraction(0))
        / Fraction(loan.amount)
    )
    loan.first_installment = sum(
        (
            first_payment(amount=o.filled_amount, annual_rate=o.interest_rate, term_months=loan.term_months)
            for o in filled
        ),
        ZERO,
    )
    loan.accepted_at = timezone.now()
    _save_loan(loan, "status", "lender", "lender_ids", "interest_rate", "first_installment", "accepted_at")
    notify(
        *(
            Event(
                o.lender_id,
                NotificationKind.OFFER_ACCEPTED,
                f"Your offer at {o.interest_rate}% on loan #{loan.pk} was accepted"
                + ("" if o.filled_amount == o.amount else f" for {o.filled_amount} of its {o.amount}")
                + "; fund it to start the loan.",
                loan.pk,
            )
            for o in filled
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
