"""(v2) Paying a loan off early, and paying extra principal: money steps like `pay`, per note.

Both run in one transaction under the global lock order (loan, its installments, then the profiles by
primary key), re-read everything under those locks and check before writing, so nothing moves on
any error. The arithmetic is loans.payoff's (pure); this module applies it to the locked rows.
"""

from collections import defaultdict
from decimal import Decimal

from django.db.models import Sum
from django.utils import timezone

from accounts.models import TransactionKind
from accounts.services import ledger_transfer, profiles_save
from lenme.db import atomic_retry
from lenme.errors import InsufficientFunds, InvalidState, OutOfOrder, QuoteChanged, ValidationFailed
from lenme.locks import lock_payments, lock_profiles
from lenme.money import ZERO, split_largest_remainder
from loans import selectors
from loans.models import (
    REPAYING_LOAN_STATUSES,
    UNPAID,
    ClosedReason,
    Loan,
    LoanStatus,
    Note,
    NotePayment,
    NotificationKind,
    Payment,
)
from loans.notifications import Event, notify
from loans.payoff import relevel_rows
from loans.services.common import _locked_visible_loan, _require_borrower, _save_loan, loan_complete
from loans.services.payments import payment_settle


def _with_schedule(loan: Loan) -> Loan:
    """The answer's `payments`: the schedule as it now stands."""
    loan.schedule = list(loan.payments.order_by("number"))
    return loan


@atomic_retry
def loan_payoff(*, loan_id: int, borrower, total: Decimal | None = None) -> Loan:
    """Pay the loan off today: the quote as of today (selectors.loan_payoff_quote). The due installments
    are paid in order as `pay` pays them (late fees included); then each note's principal of rows
    j+1..n plus its accrued interest goes to its lender in one `payoff` row (none for 0.00), rows
    j+1..n become settled, every note REPAID and the loan COMPLETED, `closed_reason` "prepaid" (or
    "repaid" when nothing was left to pay early: the last installment was among the due ones).
    A `total` that differs from the quote: QuoteChanged; a balance below it: InsufficientFunds."""
    loan = _locked_visible_loan(loan_id, borrower)
    _require_borrower(loan, borrower)
    if loan.status not in REPAYING_LOAN_STATUSES:
        raise InvalidState(f"The loan is {loan.status}; only a FUNDED or DEFAULTED loan can be paid off.")
    today = timezone.localdate()
    payments = lock_payments(loan.payments.all())
    quote = selectors.loan_payoff_quote(loan=loan, as_of=today, payments=payments)
    if total is not None and total != quote.total:
        raise QuoteChanged(f"The payoff due today is {quote.total}, not {total}.")
    notes = {n.pk: n for n in Note.objects.filter(loan=loan).order_by("pk")}
    profiles = lock_profiles([loan.borrower_id, *(n.lender_id for n in notes.values())])
    if not profiles[loan.borrower_id].has_sufficient_funds(quote.total):
        raise InsufficientFunds(
            f"Paying this loan off today needs {quote.total}; your available balance is "
            f"{profiles[loan.borrower_id].available_balance():.2f}."
        )

    by_number = {p.number: p for p in payments}
    for number in quote.due_installments:
        payment_settle(loan=loan, payment=by_number[number], today=today)
    if quote.j == loan.term_months:
        return _with_schedule(loan)  # the last installment was due: paying it completed the loan (repaid)

    profiles = lock_profiles([loan.borrower_id, *(n.lender_id for n in notes.values())])  # as settled above
    events = _pay_notes(
        loan=loan,
        kind=TransactionKind.PAYOFF,
        profiles=profiles,
        parts=[
            (
                notes[part.note_id],
                part.principal + part.accrued_interest,
                f"payoff (note #{part.note_id}): principal {part.principal:.2f}, interest {part.accrued_interest:.2f}",
                "was paid off: {amount} to your note #{note}.",
            )
            for part in quote.notes
        ],
    )
    Payment.objects.filter(UNPAID, loan=loan, number__gt=quote.j).update(settled=True)
    events += loan_complete(
        loan,
        reason=ClosedReason.PREPAID,
        at=timezone.now(),
        lender_ids=[n.lender_id for n in notes.values()],
        message=f"Loan #{loan.pk} is paid off in full.",
    )
    notify(*events)
    return _with_schedule(loan)


@atomic_retry
def loan_prepay(*, loan_id: int, borrower, amount: Decimal | None, invalid: Exception | None = None) -> Loan:
    """Pay `amount` of extra principal now. The loan must be FUNDED (checked before the amount: a body
    the view found invalid is `invalid`, raised only after that check), with no overdue installment;
    `amount` below the principal outstanding. It is split over the notes by principal outstanding
    (largest remainder, ties to the lower note id), each part to its lender in one `prepayment` row;
    then each note's unpaid rows are re-levelled (loans.payoff.relevel_rows) and the loan's unpaid
    installments are their sums again."""
    loan = _locked_visible_loan(loan_id, borrower)
    _require_borrower(loan, borrower)
    if loan.status != LoanStatus.FUNDED:
        raise InvalidState(f"The loan is {loan.status}; only a FUNDED loan takes a prepayment.")
    if invalid is not None:
        raise invalid
    today = timezone.localdate()
    payments = lock_payments(loan.payments.filter(UNPAID))
    rows_by_note: dict[int, list[NotePayment]] = defaultdict(list)
    for row in NotePayment.objects.filter(payment__in=payments).order_by("note_id", "number"):
        rows_by_note[row.note_id].append(row)
    notes = list(Note.objects.filter(loan=loan).order_by("pk"))
    outstanding = [sum((r.principal for r in rows_by_note[n.pk]), ZERO) for n in notes]
    total_outstanding = sum(outstanding, ZERO)
    if amount >= total_outstanding:
        raise ValidationFailed.field(
            "amount",
            f"Must be below the principal outstanding, {total_outstanding}; to pay it all, pay the loan off "
            f"(POST /api/loans/{loan.pk}/payoff/).",
            "max_value",
        )
    overdue = [p for p in payments if p.amount > 0 and p.due_date < today]
    if overdue:
        raise OutOfOrder(
            f"Installment {overdue[0].number} was due {overdue[0].due_date} and is unpaid; pay it before prepaying."
        )
    profiles = lock_profiles([loan.borrower_id, *(n.lender_id for n in notes)])
    borrower_profile = profiles[loan.borrower_id]
    if not borrower_profile.has_sufficient_funds(amount):
        raise InsufficientFunds(
            f"This prepayment needs {amount}; your available balance is {borrower_profile.available_balance():.2f}."
        )

    parts = split_largest_remainder(amount, outstanding)
    events = _pay_notes(
        loan=loan,
        kind=TransactionKind.PREPAYMENT,
        profiles=profiles,
        parts=[
            (note, part, f"prepayment (note #{note.pk})", "prepayment: {amount} of principal to your note #{note}.")
            for note, part in zip(notes, parts, strict=True)
        ],
    )
    changed = []
    for note, left, part in zip(notes, outstanding, parts, strict=True):
        rows = rows_by_note[note.pk]
        new_rows = relevel_rows(
            principal=left - part, rate=note.interest_rate, first_interest=rows[0].interest, rows_left=len(rows)
        )
        for row, (row_amount, principal, interest) in zip(rows, new_rows, strict=True):
            if (row.amount, row.principal, row.interest) != (row_amount, principal, interest):
                row.amount, row.principal, row.interest = row_amount, principal, interest
                changed.append(row)
    NotePayment.objects.bulk_update(changed, ["amount", "principal", "interest"], batch_size=1000)
    _installments_resum(loan=loan, payments=payments)
    notify(*events)
    return _with_schedule(loan)


def _pay_notes(*, loan: Loan, kind: str, profiles: dict, parts: list[tuple[Note, Decimal, str, str]]) -> list[Event]:
    """Move each (note, amount, ledger text, lender message) part from the borrower to the note's
    lender in one `kind` ledger row (none for 0.00), saving the locked profiles and the rows in one go;
    returns a payment_received event for each lender paid."""
    borrower_profile = profiles[loan.borrower_id]
    entries, events = [], []
    for note, amount, text, message in parts:
        if amount <= 0:
            continue  # no ledger row for 0.00
        entries.append(
            ledger_transfer(
                kind=kind,
                amount=amount,
                from_profile=borrower_profile,
                to_profile=profiles[note.lender_id],
                loan=loan,
                loan_note=note,
                note=f"Loan #{loan.pk} {text}",
            )
        )
        events.append(
            Event(
                note.lender_id,
                NotificationKind.PAYMENT_RECEIVED,
                f"Loan #{loan.pk} " + message.format(amount=amount, note=note.pk),
                loan.pk,
            )
        )
    profiles_save(profiles.values(), entries)
    return events


def _installments_resum(*, loan: Loan, payments: list[Payment]) -> None:
    """Each locked installment's amount, principal and interest = the sums of its note rows, again;
    the loan's monthly_payment_amount follows installment 1 while it is unpaid."""
    sums = {
        row["payment_id"]: row
        for row in NotePayment.objects.filter(payment__in=payments)
        .order_by()
        .values("payment_id")
        .annotate(amount=Sum("amount"), principal=Sum("principal"), interest=Sum("interest"))
    }
    changed = []
    for payment in payments:
        row = sums[payment.pk]
        if (payment.amount, payment.principal, payment.interest) != (row["amount"], row["principal"], row["interest"]):
            payment.amount, payment.principal, payment.interest = row["amount"], row["principal"], row["interest"]
            changed.append(payment)
        if payment.number == 1 and loan.first_installment != payment.amount:
            loan.first_installment = payment.amount
            _save_loan(loan, "first_installment")
    Payment.objects.bulk_update(changed, ["amount", "principal", "interest"])
