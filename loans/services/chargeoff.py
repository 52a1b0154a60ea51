"""Delinquency writes (v2): a loan's days past due set as of a day, and the charge-off of a FUNDED loan
that reached LENME_CHARGE_OFF_DAYS. No money moves. The caller holds the loan's lock (lenme.locks)."""

import datetime

from django.conf import settings
from django.db.models import OuterRef, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from lenme.money import ZERO
from loans.delinquency import loan_days_past_due
from loans.models import Loan, LoanStatus, Note, NotePayment, NoteStatus, NotificationKind
from loans.notifications import Event, notify
from loans.services.common import _save_loan, transition


def loan_days_past_due_set(*, loan: Loan, today: datetime.date, days_past_due: int | None = None, batch=None) -> bool:
    """After a payment: the locked loan's days past due as of the payment's day (0 once COMPLETED),
    computed unless given (read under the loan's lock). Saves only a change (with the step's
    lenme.db.WriteBatch when given one); returns whether it changed. Charging off is the sweep's (rule 6)."""
    if loan.status == LoanStatus.COMPLETED:
        days_past_due = 0
    elif days_past_due is None:
        days_past_due = loan_days_past_due(loan=loan, today=today)
    if days_past_due == loan.days_past_due:
        return False
    loan.days_past_due = days_past_due
    _save_loan(loan, "days_past_due", batch=batch)
    return True


def loan_age(*, loan: Loan, today: datetime.date, days_past_due: int | None = None) -> tuple[bool, bool]:
    """Set a locked FUNDED or DEFAULTED loan's days past due as of `today` (computed unless given) and
    charge it off when it reaches LENME_CHARGE_OFF_DAYS. Returns (days_past_due changed, charged off);
    writes nothing when neither, so a repeat is a no-op."""
    if loan.status not in (LoanStatus.FUNDED, LoanStatus.DEFAULTED):
        return False, False
    if days_past_due is None:
        days_past_due = loan_days_past_due(loan=loan, today=today)
    changed = days_past_due != loan.days_past_due
    if changed:
        loan.days_past_due = days_past_due
        _save_loan(loan, "days_past_due")
    charged_off = loan.status == LoanStatus.FUNDED and days_past_due >= settings.LENME_CHARGE_OFF_DAYS
    if charged_off:
        loan_charge_off(loan=loan)
    return changed, charged_off


def loan_charge_off(*, loan: Loan) -> None:
    """FUNDED -> DEFAULTED: every ACTIVE note -> CHARGED_OFF with its principal outstanding (its unpaid
    rows' principal) as `charged_off_principal`; `loan_defaulted` to the borrower and every lender.
    Two statements for the notes whatever their number; no money moves."""
    transition(loan, LoanStatus.DEFAULTED)
    loan.defaulted_at = timezone.now()
    _save_loan(loan, "status", "defaulted_at")
    unpaid = (
        NotePayment.objects.filter(note=OuterRef("pk"), payment__paid=False, payment__settled=False)
        .order_by()
        .values("note")
        .annotate(total=Sum("principal"))
        .values("total")
    )
    notes = Note.objects.filter(loan=loan, status=NoteStatus.ACTIVE)
    lender_ids = sorted(set(notes.values_list("lender_id", flat=True)))
    notes.update(status=NoteStatus.CHARGED_OFF, charged_off_principal=Coalesce(Subquery(unpaid), Value(ZERO)))
    message = (
        f"Loan #{loan.pk} is {loan.days_past_due} days past due and has been charged off (DEFAULTED). "
        "Payments on it are still taken and go to its lenders."
    )
    notify(
        *(
            Event(uid, NotificationKind.LOAN_DEFAULTED, message, loan.pk)
            for uid in dict.fromkeys((loan.borrower_id, *lender_ids))
        )
    )
