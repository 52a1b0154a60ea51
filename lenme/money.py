"""Money precision in one place: two decimal places, rounded half-up where rounding happens."""

from decimal import ROUND_HALF_UP, Decimal

MONEY = dict(max_digits=14, decimal_places=2)
RATE = dict(max_digits=5, decimal_places=2)
CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MAX_BALANCE = Decimal("999999999999.99")


def round_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)
