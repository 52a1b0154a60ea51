"""The one largest-remainder split, against a reference written from the contract's words: each part
is `total * weight / sum` rounded down to the cent, the cents still missing go one each to the largest
remainders, ties to the earlier part (the caller's tie order)."""

import random
from decimal import ROUND_DOWN, Decimal, localcontext
from fractions import Fraction

import pytest

from lenme.money import ceil_cents, split_largest_remainder


def reference(total: str, weights: list[str]) -> list[Decimal]:
    """Literal reading, in high-precision Decimal (not Fraction): floor each share, hand out the rest."""
    with localcontext() as ctx:
        ctx.prec = 80
        total_d = Decimal(total)
        whole = sum(Decimal(w) for w in weights)
        shares = [total_d * Decimal(w) / whole for w in weights]
        down = [s.quantize(Decimal("0.01"), rounding=ROUND_DOWN) for s in shares]
        left = int((total_d - sum(down)) * 100)
        ranked = sorted(range(len(weights)), key=lambda i: (-(shares[i] - down[i]), i))
        for i in ranked[:left]:
            down[i] += Decimal("0.01")
        return down


def test_fee_3_75_over_three_equal_notes_gives_the_extra_cent_to_the_earliest():
    # 3.75 / 3 = 1.25 each: no remainder at all.
    assert split_largest_remainder(Decimal("3.75"), [1, 1, 1]) == [Decimal("1.25")] * 3
    # 1.00 / 3 = 0.333..: one cent missing, three equal remainders: the first part gets it.
    assert split_largest_remainder(Decimal("1.00"), [1, 1, 1]) == [Decimal("0.34"), Decimal("0.33"), Decimal("0.33")]
    # 0.02 over three: the first two.
    assert split_largest_remainder(Decimal("0.02"), [5, 5, 5]) == [Decimal("0.01"), Decimal("0.01"), Decimal("0.00")]


def test_largest_remainder_wins_over_order():
    # 3.75 * 100/300 = 1.25, * 150/300 = 1.875, * 50/300 = 0.625 -> floors 1.25, 1.87, 0.62 (0.01 missing)
    # remainders 0, 0.005, 0.005: a tie between parts 2 and 3, the earlier (2) gets the cent.
    assert split_largest_remainder(Decimal("3.75"), [100, 150, 50]) == [
        Decimal("1.25"),
        Decimal("1.88"),
        Decimal("0.62"),
    ]
    # 0.10 over 3:3:1 -> 0.0428.., 0.0428.., 0.0142..: floors 0.04, 0.04, 0.01; the cent to the largest (0.0042).
    assert split_largest_remainder(Decimal("0.10"), [3, 3, 1]) == [Decimal("0.04"), Decimal("0.04"), Decimal("0.02")]


def test_zero_weights_get_nothing_and_zero_total_splits_to_zeros():
    assert split_largest_remainder(Decimal("1.00"), [0, 1, 0, 2]) == [
        Decimal("0.00"),
        Decimal("0.33"),
        Decimal("0.00"),
        Decimal("0.67"),
    ]
    assert split_largest_remainder(Decimal("0.00"), [0, 0]) == [Decimal("0.00"), Decimal("0.00")]
    assert split_largest_remainder(Decimal("0.00"), [1, 2]) == [Decimal("0.00"), Decimal("0.00")]
    with pytest.raises(ValueError):
        split_largest_remainder(Decimal("0.01"), [0, 0])


def test_refuses_fractions_of_a_cent_and_negative_input():
    with pytest.raises(ValueError):
        split_largest_remainder(Decimal("1.001"), [1])
    with pytest.raises(ValueError):
        split_largest_remainder(Decimal("-1.00"), [1])
    with pytest.raises(ValueError):
        split_largest_remainder(Decimal("1.00"), [1, -1])


def test_many_parts_match_the_reference_and_add_up():
    rng = random.Random(7)
    for _ in range(400):
        n = rng.choice([1, 2, 3, 5, 40, 200])
        weights = [f"{rng.randint(0, 500000) / 100:.2f}" for _ in range(n)]
        if all(Decimal(w) == 0 for w in weights):
            weights[0] = "1.00"
        total = f"{rng.randint(0, 100000) / 100:.2f}"
        got = split_largest_remainder(Decimal(total), [Decimal(w) for w in weights])
        assert got == reference(total, weights)
        assert sum(got) == Decimal(total)
        assert all(g >= 0 for g in got)


def test_ceil_cents_rounds_up_only_a_fraction_of_a_cent():
    assert ceil_cents(Fraction(375, 100) * 1000 / 5000) == Decimal("0.75")
    assert ceil_cents(Fraction(375, 100) * 1 / 3) == Decimal("1.25")
    assert ceil_cents(Fraction(1, 300)) == Decimal("0.01")
    assert ceil_cents(Fraction(0)) == Decimal("0.00")
    assert ceil_cents(Decimal("1.2501")) == Decimal("1.26")
