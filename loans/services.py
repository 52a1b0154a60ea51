"""Writes for the lending flow. Each service owns its transaction (lenme.db.atomic_retry), locks what
it changes in the global order of lenme.locks, re-reads state under the lock, checks, then mutates.

Checks run in the contract's precedence: 404 (not visible) -> 403 -> 400 -> 409 invalid_state -> 409s.
"""

from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError
from django.utils import timezone

from accounts.models import TransactionKind
from accounts.services import ledger_transfer, platform_user, profiles_save
from lenme.api.errors import (
    AlreadyPaid,
    DuplicateOffer,
    Forbidden,
    InsufficientFunds,
    InvalidState,
    NotFound,
    OutOfOrder,
    ValidationFailed,
)
from lenme.db import atomic_retry
from lenme.locks import lock_loan, lock_offers, lock_payments, lock_profiles
from lenme.money import ZERO
from loans.models import (
    LIVE_LOAN_STATUSES,
    LOAN_TRANSITIONS,
    OFFER_TRANSITIONS,
    Loan,
    LoanStatus,
    Notification,
    NotificationKind,
    Offer,
    OfferStatus,
    Payment,
)
from loans.notifications import Event, notify
from loans.schedule import build_schedule
from loans.selectors import loan_is_visible, notification_get


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


def _require_borrower(loan: Loan, user) -> None:
    if loan.borrower_id != user.pk:
        raise Forbidden("Only the loan's borrower may do this.")


# Building blocks for services and jobs that already hold the loan's lock ---------------------------


def offers_release(offers: list[Offer], new_status: str, *, also_save: tuple[Offer, ...] = ()) -> None:
    """Move locked offers to new_status and give their holds back to their lenders (whose profiles
    this locks), saving offers and profiles; also_save are offers changed by the caller."""
    profiles = lock_profiles(o.lender_id for o in offers)
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
    loan.interest_rate = loan.requested_interest_rate
    loan.accepted_at = None
    _save_loan(loan, "status", "lender", "interest_rate", "accepted_at")


def _save_offers(offers: list[Offer]) -> None:
    if offers:
        now = timezone.now()
        for offer in offers:
            offer.updated_at = now
        Offer.objects.bulk_update(offers, ["status", "reserved_amount", "updated_at"])


def _save_loan(loan: Loan, *fields: str) -> None:
    loan.save(update_fields=[*fields, "updated_at"])


# Loans ---------------------------------------------------------------------------------------------


@atomic_retry
def loan_create(
    *, borrower, amount: Decimal, term_months: int, interest_rate: Decimal | None = None, draft: bool = False
) -> Loan:
    if amount < term_months:
        raise ValidationFailed.field(
            "amount", f"A {term_months}-month loan needs an amount of at least {term_months}.00.", "min_value"
        )
    return Loan.objects.create(
        borrower=borrower,
        amount=amount,
        term_months=term_months,
        requested_interest_rate=interest_rate,
        interest_rate=interest_rate,
        lenme_fee=settings.LENME_FEE,
        status=LoanStatus.DRAFT if draft else LoanStatus.OPEN,
    )


@atomic_retry
def loan_publish(*, loan_id: int, borrower) -> Loan:
    loan = _locked_visible_loan(loan_id, borrower)
    _require_borrower(loan, borrower)
    if loan.status != LoanStatus.DRAFT:
        raise InvalidState(f"Only a DRAFT loan can be published; this one is {loan.status}.")
    transition(loan, LoanStatus.OPEN)
    _save_loan(loan, "status")
    return loan


@atomic_retry
def loan_cancel(*, loan_id: int, borrower) -> Loan:
    loan = _locked_visible_loan(loan_id, borrower)
    _require_borrower(loan, borrower)
    check_transition(loan, LoanStatus.CANCELLED)  # before anything is touched
    live = lock_offers(loan.offers.filter(status__in=[OfferStatus.PENDING, OfferStatus.ACCEPTED]))
    offers_release(live, OfferStatus.REJECTED)
    loan_drop_lender(loan, LoanStatus.CANCELLED)
    notify(
        *(
            Event(
                o.lender_id,
                NotificationKind.OFFER_REJECTED,
                f"Loan #{loan.pk} was cancelled by its borrower; your offer was released.",
                loan.pk,
            )
            for o in live
        )
    )
    return loan


@atomic_retry
def loan_autopay_set(*, loan_id: int, borrower, enabled: bool) -> Loan:
    loan = _locked_visible_loan(loan_id, borrower)
    _require_borrower(loan, borrower)
    if loan.status in (LoanStatus.COMPLETED, LoanStatus.CANCELLED):
        raise InvalidState(f"Autopay cannot change on a {loan.status} loan.")
    loan.autopay = enabled
    _save_loan(loan, "autopay")
    return loan


# Offers --------------------------------------------------------------------------------------------


@atomic_retry
def offer_submit(*, loan_id: int, lender, interest_rate: Decimal) -> Offer:
    loan = _locked_visible_loan(loan_id, lender)
    if loan.borrower_id == lender.pk:
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


@atomic_retry
def loan_fund(*, loan_id: int, lender) -> Loan:
    loan = _locked_visible_loan(loan_id, lender)
    if loan.lender_id != lender.pk:
        raise Forbidden("Only the loan's lender may fund it.")
    if loan.status != LoanStatus.ACCEPTED:
        raise InvalidState(f"Only an ACCEPTED loan can be funded; this one is {loan.status}.")
    offer = lock_offers(loan.offers.filter(status=OfferStatus.ACCEPTED))[0]
    platform_name = settings.LENME_PLATFORM_USERNAME
    profiles = lock_profiles([loan.lender_id, loan.borrower_id], platform_username=platform_name)
    platform = next((p for p in profiles.values() if p.user.username == platform_name), None)
    if platform is None:  # the fee account is made by a migration; recreate it if someone removed it
        platform_user()
        profiles = lock_profiles([loan.lender_id, loan.borrower_id], platform_username=platform_name)
        platform = next(p for p in profiles.values() if p.user.username == platform_name)
    lender_profile, borrower_profile = profiles[loan.lender_id], profiles[loan.borrower_id]

    lender_profile.release_funds(offer.reserved_amount)
    offer.reserved_amount = ZERO
    entries = [
        ledger_transfer(
            kind=TransactionKind.FUNDING,
            amount=loan.amount,
            from_profile=lender_profile,
            to_profile=borrower_profile,
            loan=loan,
            note=f"Loan #{loan.pk} principal",
        )
    ]
    if loan.lenme_fee > 0:  # no ledger row for a zero fee
        entries.append(
            ledger_transfer(
                kind=TransactionKind.FEE,
                amount=loan.lenme_fee,
                from_profile=lender_profile,
                to_profile=platform,
                loan=loan,
                note=f"Loan #{loan.pk} Lenme fee",
            )
        )
    profiles_save(profiles.values(), entries)
    _save_offers([offer])

    transition(loan, LoanStatus.FUNDED)
    loan.funded_at = timezone.now()
    _save_loan(loan, "status", "funded_at")
    rows = build_schedule(
        amount=loan.amount, annual_rate=loan.interest_rate, term_months=loan.term_months, start=loan.funded_at.date()
    )
    payments = Payment.objects.bulk_create(
        Payment(
            loan=loan, number=r.number, due_date=r.due_date, amount=r.amount, principal=r.principal, interest=r.interest
        )
        for r in rows
    )
    loan.schedule = payments  # serialized with the response without another query
    notify(
        Event(
            loan.borrower_id,
            NotificationKind.LOAN_FUNDED,
            f"Loan #{loan.pk} is funded: {loan.amount} is in your balance.",
            loan.pk,
        )
    )
    return loan


# Payments ------------------------------------------------------------------------------------------


def payment_settle(*, loan: Loan, payment: Payment) -> None:
    """Pay one installment (amount + late fee) to the lender; the caller holds the loan's and the
    payment's locks and has checked the order. Raises InsufficientFunds before writing anything."""
    profiles = lock_profiles([loan.borrower_id, loan.lender_id])
    borrower_profile, lender_profile = profiles[loan.borrower_id], profiles[loan.lender_id]
    due = payment.amount_due()
    if not borrower_profile.has_sufficient_funds(due):
        raise InsufficientFunds(
            f"This installment needs {due}; your available balance is {borrower_profile.available_balance():.2f}."
        )
    entry = ledger_transfer(
        kind=TransactionKind.REPAYMENT,
        amount=due,
        from_profile=borrower_profile,
        to_profile=lender_profile,
        loan=loan,
        payment=payment,
        note=f"Loan #{loan.pk} installment {payment.number}",
    )
    profiles_save(profiles.values(), [entry])
    payment.paid = True
    payment.paid_at = timezone.now()
    payment.save(update_fields=["paid", "paid_at"])
    events = [
        Event(
            loan.lender_id,
            NotificationKind.PAYMENT_RECEIVED,
            f"Installment {payment.number} of loan #{loan.pk} paid: {due}.",
            loan.pk,
        )
    ]
    if payment.number == loan.term_months:
        transition(loan, LoanStatus.COMPLETED)
        loan.completed_at = payment.paid_at
        _save_loan(loan, "status", "completed_at")
        events += [
            Event(uid, NotificationKind.LOAN_COMPLETED, f"Loan #{loan.pk} is repaid in full.", loan.pk)
            for uid in (loan.borrower_id, loan.lender_id)
        ]
    payment.loan = loan
    notify(*events)


@atomic_retry
def payment_pay(*, loan_id: int, payment_id: int, borrower) -> Payment:
    loan = _locked_visible_loan(loan_id, borrower)
    payments = lock_payments(loan.payments.filter(pk=payment_id))
    if not payments:
        raise NotFound("No such payment on this loan.")
    payment = payments[0]
    _require_borrower(loan, borrower)
    if payment.paid:
        raise AlreadyPaid()
    if loan.status != LoanStatus.FUNDED:  # pragma: no cover - unpaid rows exist only on FUNDED loans
        raise InvalidState(f"The loan is {loan.status}.")
    if loan.payments.filter(number__lt=payment.number, paid=False).exists():
        raise OutOfOrder()
    payment_settle(loan=loan, payment=payment)
    return payment


# Notifications -------------------------------------------------------------------------------------


def notification_read(*, notification_id: int, user) -> Notification:
    notification = notification_get(notification_id=notification_id, user=user)
    if not notification.read:
        notification.read = True
        notification.save(update_fields=["read"])
    return notification
