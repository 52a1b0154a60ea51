"""The amortization schedule, as a pure function shared by funding and the quote endpoint.

With r = rate/1200, B the principal outstanding before row k and m the rows left, every row is
re-levelled over the rows left: interest = round(B*r), payment = round(B*r / (1 - (1+r)^-m)) (or
round(B/m) at r = 0), principal = payment - interest, and the last row's principal is exactly B.
Rounding is half-up to cents and happens nowhere else.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal, localcontext

from dateutil.relativedelta import relativedelta

from lenme.money import ZERO, round_cents


@dataclass(frozen=True)
class Row:
    number: int
    amount: Decimal
    principal: Decimal
    interest: Decimal
    due_date: datetime.date | None = None


def _level_payment(balance: Decimal, rate: Decimal, rows_left: int) -> Decimal:
    if rate == 0:
        return round_cents(balance / rows_left)
    with localcontext() as ctx:
        ctx.prec = 50  # (1+r)^-360 needs headroom before the final half-up rounding
        return round_cents(balance * rate / (1 - (1 + rate) ** -rows_left))


def build_schedule(
    *, amount: Decimal, annual_rate: Decimal, term_months: int, start: datetime.date | None = None
) -> list[Row]:
    """The rows funding creates; due dates are start + k months when start is given."""
    if term_months < 1:
        raise ValueError("term_months must be at least 1")
    rate = Decimal(annual_rate) / Decimal(1200)
    balance = Decimal(amount)
    rows: list[Row] = []
    for number in range(1, term_months + 1):
        rows_left = term_months - number + 1
        interest = round_cents(balance * rate)
        if rows_left == 1:
            principal = balance
        else:
            principal = _level_payment(balance, rate, rows_left) - interest
        due = start + relativedelta(months=number) if start is not None else None
        rows.append(
            Row(number=number, amount=principal + interest, principal=principal, interest=interest, due_date=due)
        )
        balance -= principal
    assert balance == ZERO, balance
    return rows


def first_payment(*, amount: Decimal, annual_rate: Decimal, term_months: int) -> Decimal:
    """Row 1's payment (the loan's monthly_payment_amount) without building the whole schedule."""
    rate = Decimal(annual_rate) / Decimal(1200)
    if term_months == 1:
        return round_cents(Decimal(amount) * rate) + Decimal(amount)
    return _level_payment(Decimal(amount), rate, term_months)
