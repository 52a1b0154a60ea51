"""An independent reference for issue 8 (early payoff and partial prepayment), written only from the words
of API.md ("Schedule", "Payments", "Notes (v2)", "Prepayment and payoff (v2)"), never from loans.schedule
or loans.payoff: integer cents, exact rationals, half-up rounding written here.

Everything is in integer cents; rates are integer hundredths of a percent (15.00% -> 1500), so the
contract's `r = rate/1200` is exactly R / 120000.
"""

import calendar
import datetime
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

RATE_DEN = 120000  # rate/1200 with the rate in hundredths of a percent


# Rounding and conversions --------------------------------------------------------------------------


def half_up(num: int, den: int) -> int:
    """round(num/den) half-up for a non-negative ratio of integers."""
    assert num >= 0 and den > 0, (num, den)
    return (2 * num + den) // (2 * den)


def round_frac(x: Fraction) -> int:
    """A non-negative exact rational (in cents) rounded half-up to a whole cent."""
    return half_up(x.numerator, x.denominator)


def cents(value) -> int:
    """'123.45' / Decimal -> 12345, refusing anything that is not whole cents."""
    exact = Fraction(Decimal(str(value))) * 100
    assert exact.denominator == 1, value
    return int(exact)


def hundredths(rate) -> int:
    exact = Fraction(Decimal(str(rate))) * 100
    assert exact.denominator == 1, rate
    return int(exact)


def money(c: int) -> str:
    sign = "-" if c < 0 else ""
    c = abs(c)
    return f"{sign}{c // 100}.{c % 100:02d}"


def dec(c: int) -> Decimal:
    return Decimal(money(c))


# Dates ---------------------------------------------------------------------------------------------


def add_months(start: datetime.date, k: int) -> datetime.date:
    """start + k months, the day clipped to the month's last (Jan 31 -> Feb 28/29, Mar 31, Apr 30)."""
    month0 = start.month - 1 + k
    year, month = start.year + month0 // 12, month0 % 12 + 1
    return datetime.date(year, month, min(start.day, calendar.monthrange(year, month)[1]))


def due_dates(funding: datetime.date, n: int) -> list[datetime.date]:
    """Row k's due date: the funding date + k months, computed from the funding date each time."""
    return [add_months(funding, k) for k in range(1, n + 1)]


# The schedule rule ---------------------------------------------------------------------------------


class _Level:
    """round(B*r/(1-(1+r)^-m)) = round(B*R*(c+R)^m / (c*((c+R)^m - c^m))) with c = 120000, exactly."""

    def __init__(self, rate_h: int, rows: int):
        self.rate = rate_h
        self.up = [1]
        self.base = [1]
        for _ in range(rows):
            self.up.append(self.up[-1] * (RATE_DEN + rate_h))
            self.base.append(self.base[-1] * RATE_DEN)

    def payment(self, balance: int, m: int) -> int:
        if self.rate == 0:
            return half_up(balance, m)
        return half_up(balance * self.rate * self.up[m], RATE_DEN * (self.up[m] - self.base[m]))

    def interest(self, balance: int) -> int:
        return half_up(balance * self.rate, RATE_DEN)


@dataclass(frozen=True)
class Row:
    amount: int
    principal: int
    interest: int


def schedule(amount_c: int, rate_h: int, n: int) -> list[Row]:
    """Rows 1..n of one note: interest = round(B*r); payment = round(B*r/(1-(1+r)^-m)) or round(B/m)
    at r = 0; principal = payment - interest, except the last row's principal, exactly B."""
    level = _Level(rate_h, n)
    rows, balance = [], amount_c
    for k in range(1, n + 1):
        m = n - k + 1
        interest = level.interest(balance)
        principal = balance if k == n else level.payment(balance, m) - interest
        rows.append(Row(principal + interest, principal, interest))
        balance -= principal
    return rows


def relevel(principal_c: int, rate_h: int, first_interest_c: int, rows_left: int) -> list[Row]:
    """A note's unpaid rows after a prepayment: the schedule rule on its new principal over the rows
    left, except the first unpaid row keeps the interest it had, its amount that interest plus its
    re-levelled principal."""
    rows = schedule(principal_c, rate_h, rows_left)
    first = rows[0]
    return [Row(first_interest_c + first.principal, first.principal, first_interest_c), *rows[1:]]


def split(total_c: int, weights: list[int]) -> list[int]:
    """Proportional to the weights, rounded down to the cent, the cents still missing one each to the
    largest remainders, ties to the earlier (the caller orders by ascending note id)."""
    whole = sum(weights)
    if whole == 0:
        assert total_c == 0
        return [0] * len(weights)
    floors = [total_c * w // whole for w in weights]
    remainders = [total_c * w - f * whole for w, f in zip(weights, floors, strict=True)]  # in 1/whole
    missing = total_c - sum(floors)
    order = sorted(range(len(weights)), key=lambda i: (-remainders[i], i))
    for i in order[:missing]:
        floors[i] += 1
    return floors


# A loan as the quote sees it -----------------------------------------------------------------------


@dataclass
class Inst:
    """Installment k of the loan (the loan's row: the sums of its notes' rows k)."""

    number: int
    due: datetime.date
    amount: int
    late_fee: int  # owed on top of amount so far
    paid: bool  # paid or settled
    fee_added: bool  # the sweep already added LENME_LATE_FEE (Payment.overdue)


@dataclass
class NoteRef:
    note_id: int
    rate_h: int
    rows: list[Row]  # rows 1..n


@dataclass
class NoteQuoteRef:
    note_id: int
    principal: int
    accrued: int


@dataclass
class QuoteRef:
    as_of: datetime.date
    j: int
    due_installments: list[int]
    due_amount: int
    principal_outstanding: int
    accrued_interest: int
    total: int
    notes: list[NoteQuoteRef] = field(default_factory=list)
    fees: dict[int, int] = field(default_factory=dict)  # due installment -> its late fee as of as_of


def fee_owed(inst: Inst, as_of: datetime.date, late_fee_c: int) -> int:
    """What installment `inst` owes on top of its amount if paid on `as_of`: its late fee so far, plus
    LENME_LATE_FEE once when paid after its due date and not already added; 0.00 rows owe none."""
    extra = late_fee_c if (inst.due < as_of and inst.amount > 0 and not inst.fee_added) else 0
    return inst.late_fee + extra


def quote(
    *, funding: datetime.date, insts: list[Inst], notes: list[NoteRef], as_of: datetime.date, late_fee_c: int
) -> QuoteRef:
    n = len(insts)
    insts = sorted(insts, key=lambda i: i.number)
    assert [i.number for i in insts] == list(range(1, n + 1))
    p = sum(1 for i in insts if i.paid)
    assert all(i.paid for i in insts[:p]), "paid ones are 1..p"
    # j: the highest number that is paid or due on or before as_of (0 when none).
    j = max([i.number for i in insts if i.paid or i.due <= as_of], default=0)
    due = [i for i in insts if not i.paid and i.due <= as_of]
    fees = {i.number: fee_owed(i, as_of, late_fee_c) for i in due}
    due_amount = sum(i.amount + fees[i.number] for i in due)
    per_note = []
    for note in sorted(notes, key=lambda x: x.note_id):
        b = sum(r.principal for r in note.rows[j:])
        if j == n:
            accrued = 0
        else:
            start = funding if j == 0 else insts[j - 1].due
            end = insts[j].due
            d = max(0, (as_of - start).days)
            big_d = (end - start).days
            # round(B * rate/1200 * d / D), B in cents and rate/1200 = R/120000
            accrued = half_up(b * note.rate_h * d, RATE_DEN * big_d)
        per_note.append(NoteQuoteRef(note.note_id, b, accrued))
    po = sum(x.principal for x in per_note)
    acc = sum(x.accrued for x in per_note)
    return QuoteRef(
        as_of=as_of,
        j=j,
        due_installments=[i.number for i in due],
        due_amount=due_amount,
        principal_outstanding=po,
        accrued_interest=acc,
        total=due_amount + po + acc,
        notes=per_note,
        fees=fees,
    )


def loan_rows(notes: list[NoteRef]) -> list[Row]:
    """The loan's installments: the sums of its notes' rows k."""
    n = len(notes[0].rows)
    return [
        Row(
            sum(x.rows[k].amount for x in notes),
            sum(x.rows[k].principal for x in notes),
            sum(x.rows[k].interest for x in notes),
        )
        for k in range(n)
    ]


@dataclass
class PrepayRef:
    parts: list[int]  # per note, ascending note id
    notes: list[NoteRef]  # the notes with their unpaid rows re-levelled


def prepay(notes: list[NoteRef], paid: int, amount_c: int) -> PrepayRef:
    """Split amount_c over the notes by principal outstanding (rows paid+1..n), then re-level each
    note's unpaid rows from its new principal, the first unpaid row keeping its interest."""
    notes = sorted(notes, key=lambda x: x.note_id)
    outstanding = [sum(r.principal for r in x.rows[paid:]) for x in notes]
    assert 0 < amount_c < sum(outstanding)
    parts = split(amount_c, outstanding)
    out = []
    for note, owed, part in zip(notes, outstanding, parts, strict=True):
        rows_left = len(note.rows) - paid
        new_rows = relevel(owed - part, note.rate_h, note.rows[paid].interest, rows_left)
        out.append(NoteRef(note.note_id, note.rate_h, [*note.rows[:paid], *new_rows]))
    return PrepayRef(parts, out)


# Reading a loan from the API -----------------------------------------------------------------------


def from_api(loan: dict, payments: list[dict], notes: list[dict], note_rows: dict[int, list[dict]]):
    """(funding date, installments, notes) from GET /loans/{id}/, /payments/, /loans/{id}/notes/ and each
    GET /notes/{id}/ `payments`."""
    funding = datetime.datetime.fromisoformat(loan["funded_at"].replace("Z", "+00:00")).astimezone(datetime.UTC).date()
    insts = [
        Inst(
            number=p["number"],
            due=datetime.date.fromisoformat(p["due_date"]),
            amount=cents(p["amount"]),
            late_fee=cents(p["late_fee"]),
            paid=p["paid"] or p.get("status") == "settled",
            fee_added=p["overdue"],
        )
        for p in sorted(payments, key=lambda p: p["number"])
    ]
    refs = []
    for note in sorted(notes, key=lambda x: x["id"]):
        rows = sorted(note_rows[note["id"]], key=lambda r: r["number"])
        refs.append(
            NoteRef(
                note["id"],
                hundredths(note["interest_rate"]),
                [Row(cents(r["amount"]), cents(r["principal"]), cents(r["interest"])) for r in rows],
            )
        )
    return funding, insts, refs
