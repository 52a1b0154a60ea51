"""Money precision in one place: two decimal places, rounded half-up where rounding happens.

Formulas are evaluated exactly as rational numbers (``fractions.Fraction``) and rounded half-up to
cents once, with ``round_half_up_cents``: no truncated intermediate such as a 28-digit ``rate/1200``.
"""

from collections.abc import Sequence
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


def round_fraction(value: Fraction | Decimal) -> Decimal:
    """An exact rational (or Decimal) rounded half-up to the cent, once: round_half_up_cents."""
    return round_half_up_cents(Fraction(value))


def ceil_cents(value: Fraction | Decimal) -> Decimal:
    """Round up to the cent (toward +infinity), exactly: the most a share can be."""
    cents = Fraction(value) * 100
    return (Decimal(-((-cents.numerator) // cents.denominator)) / 100).quantize(CENT)


def split_largest_remainder(total: Decimal, weights: Sequence[Decimal | int | Fraction]) -> list[Decimal]:
    """Split `total` (whole cents) over `weights`: each part is total * weight / sum(weights) rounded down
    to the cent, and the cents still missing go one each to the largest remainders; equal remainders go
    to the earlier part, so the caller lists the parts in the contract's tie order. The parts add up to
    `total` exactly. Zero weights get 0.00; every weight zero is allowed only for a zero total."""
    total_cents = Fraction(total) * 100
    if total_cents.denominator != 1 or total_cents < 0:
        raise ValueError(f"total must be a non-negative amount in whole cents, not {total}")
    if any(Fraction(w) < 0 for w in weights):
        raise ValueError("weights must be non-negative")
    whole = Fraction(sum((Fraction(w) for w in weights), Fraction(0)))
    if whole == 0:
        if total_cents:
            raise ValueError("cannot split a non-zero total over zero weights")
        return [ZERO for _ in weights]
    exact = [total_cents * Fraction(w) / whole for w in weights]
    floors = [int(x.numerator // x.denominator) for x in exact]
    missing = int(total_cents) - sum(floors)
    # Largest remainder first; on a tie, the earlier index (sorted() is stable).
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - floors[i], reverse=True)
    for i in by_remainder[:missing]:
        floors[i] += 1
    return [(Decimal(c) / 100).quantize(CENT) for c in floors]
