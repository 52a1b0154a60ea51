"""The amortization schedule, as a pure function shared by funding and the quote endpoint.

With r = rate/1200, B the principal outstanding before row k and m the rows left, every row is
re-levelled over the rows left: interest = round(B*r), payment = round(B*r / (1 - (1+r)^-m)) (or
round(B/m) at r = 0), principal = payment - interest, and the last row's principal is exactly B.
Every formula is evaluated exactly as a rational number (amounts in cents, the rate in hundredths of
a percent; B*r/(1-(1+r)^-m) = B*r*(1+r)^m / ((1+r)^m - 1)) and rounded half-up to cents once.
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction

from dateutil.relativedelta import relativedelta

from lenme.money import ZERO


@dataclass(frozen=True)
class Row:
    number: int
    amount: Decimal
    principal: Decimal
    interest: Decimal
    due_date: datetime.date | None = None


def monthly_rate(annual_rate: Decimal) -> Fraction:
    """r = rate/1200, exactly (the rate is a whole number of hundredths of a percent)."""
    return Fraction(Decimal(annual_rate)) / 1200


def _round_half_up_ratio(numerator: int, denominator: int) -> int:
    """round(numerator/denominator) half-up, for a non-negative ratio of integers (no gcd needed)."""
    whole, rest = divmod(numerator, denominator)
    return whole + 1 if 2 * rest >= denominator else whole


class _LevelPayments:
    """round(B*r / (1 - (1+r)^-m)) in cents, exactly: with r = a/c, (1+r)^m = (c+a)^m / c^m, so
    B*r*(1+r)^m / ((1+r)^m - 1) = B*a*(c+a)^m / (c*((c+a)^m - c^m)). Plain integers, with each power
    computed once for the whole schedule (a 360-row schedule stays a few milliseconds)."""

    def __init__(self, rate: Fraction, term_months: int):
        self.a, self.c = rate.numerator, rate.denominator
        self.grown = [1]  # (c+a)^m
        self.base = [1]  # c^m
        for _ in range(term_months):
            self.grown.append(self.grown[-1] * (self.c + self.a))
            self.base.append(self.base[-1] * self.c)

    def cents(self, balance_cents: int, rows_left: int) -> int:
        if self.a == 0:
            return _round_half_up_ratio(balance_cents, rows_left)
        grown = self.grown[rows_left]
        return _round_half_up_ratio(balance_cents * self.a * grown, self.c * (grown - self.base[rows_left]))


def _cents(amount: Decimal) -> int:
    cents = Fraction(Decimal(amount)) * 100
    if cents.denominator != 1:
        raise ValueError("amount must be a whole number of cents")
    return cents.numerator


def _money(cents: int) -> Decimal:
    return (Decimal(cents) / 100).quantize(ZERO)


def build_schedule(
    *, amount: Decimal, annual_rate: Decimal, term_months: int, start: datetime.date | None = None
) -> list[Row]:
    """The rows funding creates; due dates are start + k months when start is given."""
    if term_months < 1:
        raise ValueError("term_months must be at least 1")
    rate = monthly_rate(annual_rate)
    levels = _LevelPayments(rate, term_months)
    balance = _cents(amount)
    rows: list[Row] = []
    for number in range(1, term_months + 1):
        rows_left = term_months - number + 1
        interest = _round_half_up_ratio(balance * rate.numerator, rate.denominator)
        principal = balance if rows_left == 1 else levels.cents(balance, rows_left) - interest
        due = start + relativedelta(months=number) if start is not None else None
        rows.append(
            Row(
                number=number,
                amount=_money(principal + interest),
                principal=_money(principal),
                interest=_money(interest),
                due_date=due,
            )
        )
        balance -= principal
    assert balance == 0, balance
    return rows


def first_payment(*, amount: Decimal, annual_rate: Decimal, term_months: int) -> Decimal:
    """Row 1's payment (the loan's monthly_payment_amount) without building the whole schedule."""
    if term_months < 1:
        raise ValueError("term_months must be at least 1")
    rate = monthly_rate(annual_rate)
    balance = _cents(amount)
    if term_months == 1:
        return _money(balance + _round_half_up_ratio(balance * rate.numerator, rate.denominator))
    levels = _LevelPayments(rate, term_months)
    return _money(levels.cents(balance, term_months))
