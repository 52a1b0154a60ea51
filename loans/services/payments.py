"""Installment payments: each pays amount + late fee from the borrower to its notes' lenders."""

import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import TransactionKind
from accounts.services import ledger_transfer, profiles_save
from lenme.db import WriteBatch, atomic_retry, instance_from_row, save_fields, select_columns
from lenme.errors import (
    AlreadyPaid,
    InsufficientFunds,
    InvalidState,
    NotFound,
    OutOfOrder,
)
from lenme.locks import lock_payments, lock_profiles
from lenme.money import ZERO, split_largest_remainder
from loans.delinquency import days_past_due_from
from loans.models import (
    REPAYING_LOAN_STATUSES,
    UNPAID,
    ClosedReason,
    Loan,
    Note,
    NotePayment,
    NotificationKind,
    Payment,
)
from loans.notifications import Event, notify
from loans.payoff import late_fee_owed
from loans.services.chargeoff import loan_days_past_due_set
from loans.services.common import _locked_visible_loan, _require_borrower, loan_complete


def payment_charge_late_fee(payment: Payment, *, on: datetime.date) -> bool:
    """An installment unpaid (or being paid) on a day after its due date owes LENME_LATE_FEE once:
    mark it overdue and add the fee, unless that was done already (the overdue flag guards it) or it is
    0.00. The caller holds the payment's lock and saves it. Returns whether it changed."""
    if not late_fee_owed(due_date=payment.due_date, amount=payment.amount, fee_added=payment.overdue, on=on):
        return False
    payment.overdue = True
    payment.late_fee += settings.LENME_LATE_FEE
    return True


def payment_settle(*, loan: Loan, payment: Payment, today: datetime.date | None = None) -> None:
    """Pay one installment to its notes' lenders: each note its row plus its share of the late fee
    (largest remainder over the rows' amounts, ties to the lower note id), one repayment row per note
    (none for 0.00). The caller holds the loan's and the payment's locks (which guard its note rows)
    and has checked the order. Raises InsufficientFunds before writing anything. (v2) On a DEFAULTED
    loan what the notes receive is a recovery (counted from the ledger rows after `defaulted_at`); the
    last installment completes the loan either way and its notes are REPAID (charged-off principal kept).
    Then the loan's days past due are set again as of `today` (the payment's day; the sweep's for
    autopay). (v2) Paid on a day after its due date, it first owes the late fee (payment_charge_late_fee)
    if no sweep has added it yet."""
    today = today or timezone.localdate()
    charged = payment_charge_late_fee(payment, on=today)
    rows = getattr(payment, "locked_note_rows", None)  # read with the payment's lock (payment_pay)
    if rows is None:
        rows = list(NotePayment.objects.filter(payment=payment).select_related("note").order_by("note_id"))
    if not rows:  # pragma: no cover - funding writes a row per note for every installment
        raise InvalidState(f"Installment {payment.number} of loan #{loan.pk} has no note rows.")
    profiles = lock_profiles([loan.borrower_id, *(r.note.lender_id for r in rows)])
    borrower_profile = profiles[loan.borrower_id]
    due = payment.amount_due()
    if not borrower_profile.has_sufficient_funds(due):
        raise InsufficientFunds(
            f"This installment needs {due}; your available balance is {borrower_profile.available_balance():.2f}."
        )
    shares = split_largest_remainder(payment.late_fee, [r.amount for r in rows])
    several = len(rows) > 1
    if sum((r.amount for r in rows), ZERO) != payment.amount:
        if several:  # pragma: no cover - funding writes installments as the sums of their rows
            raise InvalidState(f"Installment {payment.number} of loan #{loan.pk} does not match its notes' rows.")
        parts = [due]  # one note (v1): it is paid the installment, exactly as v1 paid its lender
    else:
        parts = [row.amount + share for row, share in zip(rows, shares, strict=True)]
    entries = []
    for row, share, part in zip(rows, shares, parts, strict=True):
        row.late_fee = share
        if part > 0:  # no ledger row for 0.00
            entries.append(
                ledger_transfer(
                    kind=TransactionKind.REPAYMENT,
                    amount=part,
                    from_profile=borrower_profile,
                    to_profile=profiles[row.note.lender_id],
                    loan=loan,
                    payment=payment,
                    loan_note=row.note,
                    note=f"Loan #{loan.pk} installment {payment.number}"
                    + (f" (note #{row.note_id})" if several else ""),
                )
            )
    days_past_due = _days_past_due_after(payment, today)
    # PostgreSQL: when nothing is read after them (days past due known, not the last installment), the
    # step's writes go as one statement; otherwise each is sent as it is made.
    batch = (
        WriteBatch()
        if connection.vendor == "postgresql" and days_past_due is not None and payment.number != loan.term_months
        else None
    )
    profiles_save(profiles.values(), entries, batch=batch)
    if payment.late_fee > 0:
        NotePayment.objects.bulk_update(rows, ["late_fee"])
    payment.paid = True
    payment.paid_at = timezone.now()
    save_fields(payment, ["paid", "paid_at", *(["overdue", "late_fee"] if charged else [])], batch=batch)
    events = [
        Event(
            row.note.lender_id,
            NotificationKind.PAYMENT_RECEIVED,
            f"Installment {payment.number} of loan #{loan.pk} paid: {due}."
            if not several
            else f"Installment {payment.number} of loan #{loan.pk} paid: {part} to your note #{row.note_id}.",
            loan.pk,
        )
        for row, part in zip(rows, parts, strict=True)
    ]
    if payment.number == loan.term_months:
        # FUNDED or DEFAULTED -> COMPLETED: repaid after all.
        events += loan_complete(
            loan,
            reason=ClosedReason.REPAID,
            at=payment.paid_at,
            lender_ids=[r.note.lender_id for r in rows],
            message=f"Loan #{loan.pk} is repaid in full.",
        )
    loan_days_past_due_set(loan=loan, today=today, days_past_due=days_past_due, batch=batch)
    payment.loan = loan
    notify(*events, batch=batch)
    if batch is not None:
        batch.execute()


def _days_past_due_after(payment: Payment, today: datetime.date) -> int | None:
    """The loan's days past due once this payment is paid, from what payment_pay's lock query read
    (the oldest other counting installment: the loan's lock keeps them as read); None: ask."""
    if getattr(payment, "locked_for_day", None) != today:
        return None
    return days_past_due_from(payment.oldest_other_due, today)


def _lock_payment_with_rows(loan: Loan, payment_id: int, today: datetime.date) -> list[Payment]:
    """PostgreSQL, one statement: lock the payment (as lock_payments), with the order check
    (`earlier_unpaid`), the due date of the loan's oldest other installment that counts for days past
    due as of today, and its note rows with their notes (which its lock guards)."""
    payment_table, row_table, note_table = (m._meta.db_table for m in (Payment, NotePayment, Note))
    sql = (
        f"SELECT {select_columns(Payment, 'p')}, "  # noqa: S608 - names from the models, values as parameters
        f"EXISTS (SELECT 1 FROM {payment_table} e WHERE e.loan_id = p.loan_id AND e.number < p.number "
        "AND NOT e.paid AND NOT e.settled), "
        f"(SELECT MIN(o.due_date) FROM {payment_table} o WHERE o.loan_id = p.loan_id AND o.id <> p.id "
        "AND NOT o.paid AND NOT o.settled AND o.amount > 0 AND o.due_date < %s), "
        f"{select_columns(NotePayment, 'r')}, {select_columns(Note, 'n')} "
        f"FROM {payment_table} p LEFT JOIN {row_table} r ON r.payment_id = p.id "
        f"LEFT JOIN {note_table} n ON n.id = r.note_id "
        "WHERE p.loan_id = %s AND p.id = %s ORDER BY r.note_id FOR UPDATE OF p"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [today, loan.pk, payment_id])
        result = cursor.fetchall()
    if not result:
        return []
    width = len(Payment._meta.concrete_fields)
    payment = instance_from_row(Payment, result[0])
    payment.earlier_unpaid, payment.oldest_other_due = result[0][width], result[0][width + 1]
    payment.locked_for_day = today
    payment.locked_note_rows = []
    for row in result:
        note_row = instance_from_row(NotePayment, row, width + 2)
        if note_row is not None:
            NotePayment.note.field.set_cached_value(
                note_row, instance_from_row(Note, row, width + 2 + len(NotePayment._meta.concrete_fields))
            )
            payment.locked_note_rows.append(note_row)
    return [payment]


@atomic_retry
def payment_pay(*, loan_id: int, payment_id: int, borrower) -> Payment:
    loan = _locked_visible_loan(loan_id, borrower)
    today = timezone.localdate()
    if connection.vendor == "postgresql":
        payments = _lock_payment_with_rows(loan, payment_id, today)
    else:
        earlier_unpaid = Payment.objects.filter(UNPAID, loan=OuterRef("loan"), number__lt=OuterRef("number"))
        payments = lock_payments(loan.payments.filter(pk=payment_id).annotate(earlier_unpaid=Exists(earlier_unpaid)))
    if not payments:
        raise NotFound("No such payment on this loan.")
    payment = payments[0]
    _require_borrower(loan, borrower)
    if payment.paid:
        raise AlreadyPaid()
    if payment.settled:
        raise AlreadyPaid("This installment was settled by the loan's payoff.")
    if loan.status not in REPAYING_LOAN_STATUSES:  # pragma: no cover - unpaid rows exist only on these
        raise InvalidState(f"The loan is {loan.status}.")
    if payment.earlier_unpaid:
        raise OutOfOrder()
    payment_settle(loan=loan, payment=payment, today=today)
    return payment
