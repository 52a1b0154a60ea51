"""Installment payments: each pays amount + late fee from the borrower to its notes' lenders."""

import datetime

from django.conf import settings
from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Profile, TransactionKind
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
    profiles = getattr(payment, "locked_profiles", None)  # locked with the payment (payment_pay)
    if profiles is None:
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


def _lock_payment_with_rows(
    loan: Loan, payment_id: int, today: datetime.date, *, with_profiles: bool = False
) -> list[Payment]:
    """PostgreSQL, one statement: lock the payment (as lock_payments), with the order check
    (`earlier_unpaid`), the due date of the loan's oldest other installment that counts for days past
    due as of today, and its note rows with their notes (which its lock guards).

    with_profiles: the same statement then also locks the profiles the installment moves money
    between (the borrower's and its notes' lenders', as lock_profiles: each with its user, after the
    payment, by primary key; it locks the marks of each row in FOR UPDATE OF order, the rows in ORDER
    BY order) and sets them as `payment.locked_profiles`. Safe in one statement: what a wait for a
    profile could make stale is guarded by the loan's lock the caller holds, and a locked row is
    re-read at its newest version. [] then also when the installment has no note rows (the caller
    asks again without)."""
    payment_table, row_table, note_table = (m._meta.db_table for m in (Payment, NotePayment, Note))
    user_model = Profile._meta.get_field("user").related_model
    join = "INNER" if with_profiles else "LEFT"  # FOR UPDATE refuses the nullable side of an outer join
    sql = (
        f"SELECT {select_columns(Payment, 'p')}, "  # noqa: S608 - names from the models, values as parameters
        # Both subqueries name the loan and the payment by parameter, not by p: PostgreSQL then runs each
        # once per statement (an InitPlan), not once per row (a row per note, and per profile).
        f"EXISTS (SELECT 1 FROM {payment_table} e WHERE e.loan_id = %s AND e.number < "
        f"(SELECT x.number FROM {payment_table} x WHERE x.id = %s) AND NOT e.paid AND NOT e.settled), "
        f"(SELECT MIN(o.due_date) FROM {payment_table} o WHERE o.loan_id = %s AND o.id <> %s "
        "AND NOT o.paid AND NOT o.settled AND o.amount > 0 AND o.due_date < %s), "
        f"{select_columns(NotePayment, 'r')}, {select_columns(Note, 'n')}"
        + (f", {select_columns(Profile, 'pr')}, {select_columns(user_model, 'u')} " if with_profiles else " ")
        + f"FROM {payment_table} p {join} JOIN {row_table} r ON r.payment_id = p.id "
        f"{join} JOIN {note_table} n ON n.id = r.note_id "
        + (
            f"INNER JOIN {Profile._meta.db_table} pr ON pr.user_id = n.lender_id OR pr.user_id = %s "
            f"INNER JOIN {user_model._meta.db_table} u ON u.id = pr.user_id "
            "WHERE p.loan_id = %s AND p.id = %s ORDER BY pr.id, r.note_id FOR UPDATE OF p, pr"
            if with_profiles
            else "WHERE p.loan_id = %s AND p.id = %s ORDER BY r.note_id FOR UPDATE OF p"
        )
    )
    params = [loan.pk, payment_id, loan.pk, payment_id, today, *([loan.borrower_id] if with_profiles else [])]
    params += [loan.pk, payment_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        result = cursor.fetchall()
    if not result:
        return []
    width = len(Payment._meta.concrete_fields)
    payment = instance_from_row(Payment, result[0])
    payment.earlier_unpaid, payment.oldest_other_due = result[0][width], result[0][width + 1]
    payment.locked_for_day = today
    rows_at = width + 2
    notes_at = rows_at + len(NotePayment._meta.concrete_fields)
    profiles_at = notes_at + len(Note._meta.concrete_fields)
    users_at = profiles_at + len(Profile._meta.concrete_fields)
    note_rows: dict[int, NotePayment] = {}
    profiles: dict[int, Profile] = {}
    for row in result:
        note_row = instance_from_row(NotePayment, row, rows_at)
        if note_row is not None and note_row.pk not in note_rows:
            NotePayment.note.field.set_cached_value(note_row, instance_from_row(Note, row, notes_at))
            note_rows[note_row.pk] = note_row
        if with_profiles and row[profiles_at] not in profiles:
            profile = instance_from_row(Profile, row, profiles_at)
            Profile.user.field.set_cached_value(profile, instance_from_row(user_model, row, users_at))
            profiles[profile.pk] = profile
    payment.locked_note_rows = sorted(note_rows.values(), key=lambda r: r.note_id)
    if with_profiles:
        payment.locked_profiles = {p.user_id: p for p in profiles.values()}
    return [payment]


@atomic_retry
def payment_pay(*, loan_id: int, payment_id: int, borrower) -> Payment:
    loan = _locked_visible_loan(loan_id, borrower)
    today = timezone.localdate()
    if connection.vendor == "postgresql":
        # The borrower's own request locks the profiles too; anyone else is refused before any is locked.
        payments = _lock_payment_with_rows(loan, payment_id, today, with_profiles=loan.borrower_id == borrower.pk)
        if not payments and loan.borrower_id == borrower.pk:
            payments = _lock_payment_with_rows(loan, payment_id, today)  # which: no payment, or no note rows
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
