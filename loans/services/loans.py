"""Loan writes that move no money but holds: create, publish, cancel, autopay; and notification_read."""

from decimal import Decimal

from django.conf import settings

from lenme.db import atomic_retry
from lenme.errors import (
    InvalidState,
    ValidationFailed,
)
from lenme.locks import lock_offers
from loans.models import (
    Loan,
    LoanStatus,
    Notification,
    NotificationKind,
    OfferStatus,
)
from loans.notifications import Event, notify
from loans.selectors import notification_get
from loans.services.common import (
    _locked_visible_loan,
    _require_borrower,
    _save_loan,
    check_transition,
    loan_drop_lender,
    offers_release,
    transition,
)


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


def notification_read(*, notification_id: int, user) -> Notification:
    notification = notification_get(notification_id=notification_id, user=user)
    if not notification.read:
        notification.read = True
        notification.save(update_fields=["read"])
    return notification
