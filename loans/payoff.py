"""(v2) Payoff and prepayment arithmetic, as pure functions of a loan's rows and a date (no database).

The payoff quote as of a day (API.md "Prepayment and payoff"): with the installments paid in order
(1..p) and `j` the highest number paid or due on or before `as_of`, it is the due installments (their
amount + late fee, counting the fee a day after the due date will owe) plus each note's principal of
rows j+1..n and the interest that principal accrued in the current period, actual days over the
period's days: round(B * rate/1200 * d/D), evaluated exactly and rounded half-up once per note.

A prepayment re-levels each note's unpaid rows from its new principal by the schedule rule
(loans.schedule), except that the first unpaid row keeps the interest it had.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from lenme.money import ZERO, round_half_up_cents
from loans.schedule import build_schedule


@dataclass(frozen=True)
class Installment:
    """The loan's installment k, as the quote needs it."""

    number: int
    due_date: datetime.date
    amount: Decimal
    late_fee: Decimal  # what it owes on top of amount so far
    paid: bool  # paid (or settled)
    fee_added: bool  # Payment.overdue: LENME_LATE_FEE is already in late_fee


@dataclass(frozen=True)
class NoteTerms:
    note_id: int
    rate: Decimal  # annual percent
    principals: list[Decimal]  # the principal of the note's rows 1..n, in order


@dataclass(frozen=True)
class NoteQuote:
    note_id: int
    principal: Decimal  # its principal in rows j+1..n
    accrued_interest: Decimal


@dataclass(frozen=True)
class PayoffQuote:
    as_of: datetime.date
    j: int
    due_installments: list[int]
    due_amount: Decimal
    principal_outstanding: Decimal
    accrued_interest: Decimal
    total: Decimal
    notes: list[NoteQuote]  # by note id


def late_fee_owed(*, due_date: datetime.date, amount: Decimal, fee_added: bool, on: datetime.date) -> bool:
    """Whether paying an installment on `on` adds LENME_LATE_FEE to it: paid on a day after its due
    date, not 0.00, and the fee not added yet (by the sweep, or an earlier look). The one rule that
    `pay`, autopay, payoff, the overdue sweep and the quote all apply."""
    return not fee_added and amount > 0 and due_date < on


def accrued_interest(*, principal: Decimal, rate: Decimal, start: datetime.date, end: datetime.date,
                     as_of: datetime.date) -> Decimal:  # fmt: skip
    """round(B * rate/1200 * d/D): d = max(0, days from start to as_of), D = days from start to end."""
    period = (end - start).days
    elapsed = max(0, (as_of - start).days)
    if principal == 0 or elapsed == 0 or period <= 0:
        return ZERO
    return round_half_up_cents(Fraction(principal) * Fraction(rate) / 1200 * elapsed / period)


def quote_position(*, installments: list[Installment], as_of: datetime.date) -> tuple[int, list[Installment]]:
    """(j, the due installments): j is the highest number paid or due on or before as_of (0 if none);
    the due installments are the unpaid ones due on or before as_of, in order."""
    j = 0
    due = []
    for installment in sorted(installments, key=lambda i: i.number):
        if installment.paid:
            j = max(j, installment.number)
        elif installment.due_date <= as_of:
            j = max(j, installment.number)
            due.append(installment)
    return j, due


def quote_from_parts(
    *,
    funding_date: datetime.date,
    installments: list[Installment],
    note_principals: list[tuple[int, Decimal, Decimal]],
    as_of: datetime.date,
    late_fee: Decimal,
    position: tuple[int, list[Installment]] | None = None,
) -> PayoffQuote:
    """The quote from the installments and, per note, (note id, rate, its principal in rows j+1..n),
    where j = quote_position(...)[0] (passed as `position` when the caller computed it)."""
    by_number = {i.number: i for i in installments}
    n = max(by_number) if by_number else 0
    j, due = position if position is not None else quote_position(installments=installments, as_of=as_of)
    due_amount = ZERO
    for installment in due:
        fee = installment.late_fee
        if late_fee_owed(
            due_date=installment.due_date, amount=installment.amount, fee_added=installment.fee_added, on=as_of
        ):
            fee += late_fee
        due_amount += installment.amount + fee
    notes = []
    for note_id, rate, principal in sorted(note_principals):
        if j >= n:
            accrued = ZERO
        else:
            start = by_number[j].due_date if j else funding_date
            accrued = accrued_interest(
                principal=principal, rate=rate, start=start, end=by_number[j + 1].due_date, as_of=as_of
            )
        notes.append(NoteQuote(note_id=note_id, principal=principal, accrued_interest=accrued))
    principal_outstanding = sum((q.principal for q in notes), ZERO)
    accrued_total = sum((q.accrued_interest for q in notes), ZERO)
    return PayoffQuote(
        as_of=as_of,
        j=j,
        due_installments=[i.number for i in due],
        due_amount=due_amount,
        principal_outstanding=principal_outstanding,
        accrued_interest=accrued_total,
        total=due_amount + principal_outstanding + accrued_total,
        notes=notes,
    )


def payoff_quote(
    *,
    funding_date: datetime.date,
    installments: list[Installment],
    notes: list[NoteTerms],
    as_of: datetime.date,
    late_fee: Decimal,
) -> PayoffQuote:
    """The quote from the whole rows of every note (the database path sums rows j+1..n in SQL instead)."""
    position = quote_position(installments=installments, as_of=as_of)
    j = position[0]
    return quote_from_parts(
        funding_date=funding_date,
        installments=installments,
        note_principals=[(t.note_id, t.rate, sum(t.principals[j:], ZERO)) for t in notes],
        as_of=as_of,
        late_fee=late_fee,
        position=position,
    )


def relevel_rows(
    *, principal: Decimal, rate: Decimal, first_interest: Decimal, rows_left: int
) -> list[tuple[Decimal, Decimal, Decimal]]:
    """(amount, principal, interest) of a note's `rows_left` unpaid rows after a prepayment left it
    `principal`: the schedule rule over those rows, except that the first keeps `first_interest` (the
    current period earned on the old principal) and its amount is that interest plus its principal."""
    rows = build_schedule(amount=principal, annual_rate=rate, term_months=rows_left)
    first, rest = rows[0], rows[1:]
    return [(first_interest + first.principal, first.principal, first_interest)] + [
        (r.amount, r.principal, r.interest) for r in rest
    ]
