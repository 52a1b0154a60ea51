"""Money precision in one place: two decimal places, rounded half-up where rounding happens.

Formulas are evaluated exactly as rational numbers (``fractions.Fraction``) and rounded half-up to
cents once, with ``round_half_up_cents``: no truncated intermediate such as a 28-digit ``rate/1200``.
"""

from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

MONEY = dict(max_digits=14, decimal_places=2)
RATE = dict(max_digits=5, decimal_places=2)
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_BALANCE = Decimal("999999999999.99")


def round_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def round_half_up_cents(value: Fraction) -> Decimal:
    """The exact rational ``value`` rounded half-up (away from zero at a half) to a whole cent."""
    cents = value * 100
    sign = -1 if cents < 0 else 1
    cents = abs(cents)
    whole, rest = divmod(cents.numerator, cents.denominator)
    if 2 * rest >= cents.denominator:
        whole += 1
    return (Decimal(sign * whole) / 100).quantize(CENT)
