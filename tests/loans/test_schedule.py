"""The amortization schedule (loans.schedule): the contract's worked example, edge terms and rates, due
dates from the funding date, and properties that must hold for every rate, term and amount."""

import datetime
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loans.schedule import build_schedule, first_payment

D = Decimal


def amounts(rows) -> list[str]:
    return [f"{r.amount:.2f}" for r in rows]


def test_worked_example_5000_at_15_percent_for_6_months():
    rows = build_schedule(amount=D("5000.00"), annual_rate=D("15.00"), term_months=6)

    assert [r.number for r in rows] == [1, 2, 3, 4, 5, 6]
    assert amounts(rows) == ["870.17", "870.17", "870.17", "870.17", "870.16", "870.16"]
    assert [f"{r.interest:.2f}" for r in rows] == ["62.50", "52.40", "42.18", "31.83", "21.35", "10.74"]
    assert sum(r.amount for r in rows) == D("5221.00")
    assert sum(r.interest for r in rows) == D("221.00")
    assert sum(r.principal for r in rows) == D("5000.00")
    assert first_payment(amount=D("5000.00"), annual_rate=D("15.00"), term_months=6) == D("870.17")


def test_worked_example_principal_column():
    rows = build_schedule(amount=D("5000.00"), annual_rate=D("15.00"), term_months=6)

    assert [f"{r.principal:.2f}" for r in rows] == ["807.67", "817.77", "827.99", "838.34", "848.81", "859.42"]


def test_zero_rate_divides_the_amount_with_exact_principals():
    """round(B/m) each row, re-levelled over the rows left; no interest at all."""
    rows = build_schedule(amount=D("100.00"), annual_rate=D("0.00"), term_months=3)

    # 100/3 = 33.33; then 66.67/2 = 33.335 -> 33.34 (half up); the last row is exactly what is left.
    assert amounts(rows) == ["33.33", "33.34", "33.33"]
    assert all(r.interest == D("0.00") for r in rows)
    assert all(r.principal == r.amount for r in rows)
    assert sum(r.principal for r in rows) == D("100.00")
    assert first_payment(amount=D("100.00"), annual_rate=D("0"), term_months=3) == D("33.33")


def test_zero_rate_even_split():
    rows = build_schedule(amount=D("1200.00"), annual_rate=D("0"), term_months=12)

    assert amounts(rows) == ["100.00"] * 12


def test_one_month_repays_principal_plus_one_month_of_interest():
    rows = build_schedule(amount=D("1000.00"), annual_rate=D("12.00"), term_months=1)

    assert len(rows) == 1
    assert (rows[0].principal, rows[0].interest, rows[0].amount) == (D("1000.00"), D("10.00"), D("1010.00"))
    assert first_payment(amount=D("1000.00"), annual_rate=D("12.00"), term_months=1) == D("1010.00")


def test_one_month_at_zero_rate_is_the_amount():
    rows = build_schedule(amount=D("1.00"), annual_rate=D("0"), term_months=1)

    assert amounts(rows) == ["1.00"]
    assert first_payment(amount=D("1.00"), annual_rate=D("0"), term_months=1) == D("1.00")


def test_360_months_stays_level_and_sums_exactly():
    rows = build_schedule(amount=D("300000.00"), annual_rate=D("6.50"), term_months=360)

    assert len(rows) == 360
    assert rows[0].amount == D("1896.20")  # the textbook 30-year 6.5% payment on 300k
    assert rows[0].interest == D("1625.00")
    assert sum(r.principal for r in rows) == D("300000.00")
    assert max(r.amount for r in rows) - min(r.amount for r in rows) <= D("0.02")
    assert first_payment(amount=D("300000.00"), annual_rate=D("6.50"), term_months=360) == rows[0].amount


def test_360_months_at_the_minimum_amount_and_maximum_rate():
    """360.00 over 360 months at 100%: interest dwarfs principal, yet every row repays something >= 0."""
    rows = build_schedule(amount=D("360.00"), annual_rate=D("100.00"), term_months=360)

    assert sum(r.principal for r in rows) == D("360.00")
    assert all(r.principal >= 0 and r.amount > 0 for r in rows)
    assert rows[0].interest == D("30.00")


def test_due_dates_from_jan_31_clamp_to_month_end_without_drifting():
    rows = build_schedule(amount=D("400.00"), annual_rate=D("10.00"), term_months=4, start=datetime.date(2025, 1, 31))

    assert [r.due_date for r in rows] == [
        datetime.date(2025, 2, 28),
        datetime.date(2025, 3, 31),  # computed from Jan 31, not from Feb 28
        datetime.date(2025, 4, 30),
        datetime.date(2025, 5, 31),
    ]


def test_due_dates_in_a_leap_year_use_feb_29():
    rows = build_schedule(amount=D("300.00"), annual_rate=D("10.00"), term_months=3, start=datetime.date(2024, 1, 31))

    assert [r.due_date for r in rows] == [
        datetime.date(2024, 2, 29),
        datetime.date(2024, 3, 31),
        datetime.date(2024, 4, 30),
    ]


def test_due_dates_cross_the_year():
    rows = build_schedule(amount=D("200.00"), annual_rate=D("0"), term_months=2, start=datetime.date(2025, 12, 15))

    assert [r.due_date for r in rows] == [datetime.date(2026, 1, 15), datetime.date(2026, 2, 15)]


def test_no_start_date_means_no_due_dates():
    rows = build_schedule(amount=D("200.00"), annual_rate=D("5"), term_months=2)

    assert [r.due_date for r in rows] == [None, None]


def test_term_below_one_is_refused():
    with pytest.raises(ValueError):
        build_schedule(amount=D("100.00"), annual_rate=D("5"), term_months=0)


@st.composite
def loans(draw):
    term = draw(st.integers(min_value=1, max_value=360))
    cents = draw(st.integers(min_value=term * 100, max_value=100_000_000))
    rate_hundredths = draw(st.integers(min_value=0, max_value=10_000))
    return D(cents) / 100, D(rate_hundredths) / 100, term


@settings(max_examples=200, deadline=None)
@given(loans())
def test_schedule_properties_hold_for_every_rate_term_and_amount(loan):
    """Observed over many runs: payments never differ by more than 0.02 (usually 0.01 or 0.00)."""
    amount, rate, term = loan
    rows = build_schedule(amount=amount, annual_rate=rate, term_months=term)

    assert [r.number for r in rows] == list(range(1, term + 1))
    assert sum(r.principal for r in rows) == amount
    for r in rows:
        assert r.amount > 0
        assert r.principal >= 0
        assert r.interest >= 0
        assert r.amount == r.principal + r.interest
        for value in (r.amount, r.principal, r.interest):
            assert value == value.quantize(D("0.01"))
    assert max(r.amount for r in rows) - min(r.amount for r in rows) <= D("0.02")
    assert first_payment(amount=amount, annual_rate=rate, term_months=term) == rows[0].amount
