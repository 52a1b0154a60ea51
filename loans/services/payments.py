"""Installment payments: each pays amount + late fee from the borrower to the lender."""

from django.utils import timezone

from accounts.models import TransactionKind
from accounts.services import ledger_transfer, profiles_save
from lenme.db import atomic_retry
from lenme.errors import (
    AlreadyPaid,
    InsufficientFunds,
    InvalidState,
    NotFound,
    OutOfOrder,
)
from lenme.locks import lock_payments, lock_profiles
from loans.models import (
    Loan,
    LoanStatus,
    NotificationKind,
    Payment,
)
from loans.notifications import Event, notify
from loans.services.common import _locked_visible_loan, _require_borrower, _save_loan, transition


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
