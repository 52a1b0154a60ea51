"""Issue 8: the payoff quote and the prepayment re-levelling are pure functions of the loan's rows and the
date, checked with hypothesis against tests/loans/payoff_reference.py (written from API.md's words alone)
over many loans: any rate 0..100.00, term 1..360, 1..10 notes of random amounts, any `as_of` from the
funding date to past the last due date, rows paid ahead of the calendar or overdue, late fees already
added by a sweep or not, rows re-levelled by an earlier prepayment (so 0.00 rows occur)."""

import datetime
import os
from dataclasses import dataclass
from decimal import Decimal

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from tests.loans import payoff_reference as ref

# Every test here runs the production functions on the examples below; the budgets keep the file < 30 s.
# PAYOFF_EXAMPLES=n multiplies them by n for a longer hunt (e.g. PAYOFF_EXAMPLES=20 before a release).
_SCALE = int(os.environ.get("PAYOFF_EXAMPLES", "1"))
PROPERTY = settings(max_examples=250 * _SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TARGETED = settings(max_examples=120 * _SCALE, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _payoff():
    from loans import payoff  # imported per test: until the production module lands, each test fails

    return payoff


# Generated loans -----------------------------------------------------------------------------------


@dataclass
class Case:
    funding: datetime.date
    notes: list[ref.NoteRef]
    insts: list[ref.Inst]
    paid: int
    late_fee_c: int  # LENME_LATE_FEE now
    prepaid: bool

    @property
    def n(self) -> int:
        return len(self.insts)

    def due(self, k: int) -> datetime.date:
        return self.insts[k - 1].due


terms = st.one_of(st.integers(1, 12), st.integers(1, 60), st.integers(1, 360))
rates = st.one_of(st.just(0), st.integers(0, 10000), st.sampled_from([1, 1500, 1660, 9999, 10000]))
note_amounts = st.one_of(st.integers(1, 10_000), st.integers(2_500, 100_000_000))
fundings = st.one_of(
    st.dates(datetime.date(2020, 1, 1), datetime.date(2032, 12, 31)),
    st.builds(
        lambda y, m, d: datetime.date(y, m, min(d, ref.calendar.monthrange(y, m)[1])),
        st.integers(2020, 2032),
        st.integers(1, 12),
        st.integers(28, 31),
    ),
)


@st.composite
def cases(draw, *, allow_prepaid: bool = True, fee: bool = False) -> Case:
    n = draw(terms)
    k = draw(st.integers(1, 10))
    ids = sorted(draw(st.lists(st.integers(1, 10**6), min_size=k, max_size=k, unique=True)))
    ids = draw(st.permutations(ids))  # the functions receive notes in any order; ties go to the lower id
    funding = draw(fundings)
    notes = []
    for note_id in ids:
        rate = draw(rates)
        notes.append(ref.NoteRef(note_id, rate, ref.schedule(draw(note_amounts), rate, n)))
    paid = draw(st.integers(0, n - 1))
    prepaid = False
    outstanding = sum(sum(r.principal for r in x.rows[paid:]) for x in notes)
    if allow_prepaid and outstanding > 1 and draw(st.booleans()):
        amount = draw(st.one_of(st.integers(1, outstanding - 1), st.just(outstanding - 1)))
        notes = ref.prepay(notes, paid, amount).notes
        prepaid = True
    dates = ref.due_dates(funding, n)
    rows = ref.loan_rows(sorted(notes, key=lambda x: x.note_id))
    late_fee_c = draw(st.integers(1, 5_000) if fee else st.one_of(st.just(0), st.integers(1, 5_000)))
    # A sweep on `swept` marked every unpaid row due before it overdue and added the fee then in force.
    last = dates[-1]
    swept = draw(st.dates(funding, last + datetime.timedelta(days=90)))
    old_fee = draw(st.one_of(st.just(late_fee_c), st.integers(0, 5_000)))
    insts = []
    for number, (due, row) in enumerate(zip(dates, rows, strict=True), start=1):
        is_paid = number <= paid
        added = not is_paid and due < swept and row.amount > 0
        insts.append(ref.Inst(number, due, row.amount, old_fee if added else 0, is_paid, added))
    return Case(funding, notes, insts, paid, late_fee_c, prepaid)


def production_quote(case: Case, as_of: datetime.date):
    payoff = _payoff()
    installments = [
        payoff.Installment(
            number=i.number,
            due_date=i.due,
            amount=ref.dec(i.amount),
            late_fee=ref.dec(i.late_fee),
            paid=i.paid,
            fee_added=i.fee_added,
        )
        for i in case.insts
    ]
    notes = [
        payoff.NoteTerms(
            note_id=x.note_id, rate=ref.dec(x.rate_h), principals=[ref.dec(r.principal) for r in x.rows]
        )  # dec(1500) is Decimal("15.00"): hundredths of a percent, as cents are hundredths
        for x in case.notes
    ]
    return payoff.payoff_quote(
        funding_date=case.funding,
        installments=installments,
        notes=notes,
        as_of=as_of,
        late_fee=ref.dec(case.late_fee_c),
    )


def reference_quote(case: Case, as_of: datetime.date) -> ref.QuoteRef:
    return ref.quote(funding=case.funding, insts=case.insts, notes=case.notes, as_of=as_of, late_fee_c=case.late_fee_c)


def assert_matches(got, want: ref.QuoteRef) -> None:
    """Every field of the production quote equals the reference, to the cent, notes by ascending id."""
    assert got.as_of == want.as_of
    assert got.j == want.j, (got.j, want.j)
    assert list(got.due_installments) == want.due_installments
    assert ref.cents(got.due_amount) == want.due_amount, (got.due_amount, ref.money(want.due_amount))
    assert ref.cents(got.principal_outstanding) == want.principal_outstanding, (
        got.principal_outstanding,
        ref.money(want.principal_outstanding),
    )
    assert ref.cents(got.accrued_interest) == want.accrued_interest, (
        got.accrued_interest,
        ref.money(want.accrued_interest),
    )
    assert ref.cents(got.total) == want.total, (got.total, ref.money(want.total))
    assert [(q.note_id, ref.cents(q.principal), ref.cents(q.accrued_interest)) for q in got.notes] == [
        (q.note_id, q.principal, q.accrued) for q in want.notes
    ]
    # The contract's identities, on the production figures themselves.
    assert got.total == got.due_amount + got.principal_outstanding + got.accrued_interest
    assert sum((q.principal for q in got.notes), Decimal(0)) == got.principal_outstanding
    assert sum((q.accrued_interest for q in got.notes), Decimal(0)) == got.accrued_interest
    assert min(got.due_amount, got.principal_outstanding, got.accrued_interest) >= 0


def _day(case: Case, offset: int) -> datetime.date:
    return case.funding + datetime.timedelta(days=offset)


# The quote -----------------------------------------------------------------------------------------


@PROPERTY
@given(data=st.data(), case=cases())
def test_the_quote_is_the_references_on_any_day(data, case):
    span = (case.due(case.n) - case.funding).days + 120
    as_of = _day(case, data.draw(st.integers(0, span), label="days after funding"))
    want = reference_quote(case, as_of)

    got = production_quote(case, as_of)

    assert_matches(got, want)
    # j is the highest number paid or due by as_of; the due ones are exactly p+1..j.
    assert want.j >= case.paid and want.due_installments == list(range(case.paid + 1, want.j + 1))


@TARGETED
@given(data=st.data(), case=cases())
def test_accrued_is_zero_on_the_day_a_period_starts(data, case):
    # The funding date starts period 1; due date k starts period k+1.
    k = data.draw(st.integers(0, case.n), label="period start")
    as_of = case.funding if k == 0 else case.due(k)

    got = production_quote(case, as_of)

    assert got.accrued_interest == 0 and all(q.accrued_interest == 0 for q in got.notes)
    assert_matches(got, reference_quote(case, as_of))


@TARGETED
@given(data=st.data(), case=cases())
def test_a_period_an_installment_already_paid_for_earns_nothing(data, case):
    """Paid ahead of the calendar: as_of before the due date of the last paid row p, so j = p and the
    period p+1 has not started; nothing accrues, nothing is due, the principal is rows p+1..n."""
    assume(case.paid >= 1)
    as_of = _day(case, data.draw(st.integers(0, (case.due(case.paid) - case.funding).days - 1)))

    got = production_quote(case, as_of)

    assert got.j == case.paid and list(got.due_installments) == []
    assert got.accrued_interest == 0 and got.due_amount == 0
    assert ref.cents(got.principal_outstanding) == sum(
        sum(r.principal for r in x.rows[case.paid :]) for x in case.notes
    )
    assert got.total == got.principal_outstanding
    assert_matches(got, reference_quote(case, as_of))


@TARGETED
@given(data=st.data(), case=cases())
def test_within_a_period_accrued_grows_with_the_days_and_stays_below_a_full_period(data, case):
    k = data.draw(st.integers(max(case.paid, 0), case.n - 1), label="period after row k")
    start = case.funding if k == 0 else case.due(k)
    length = (case.due(k + 1) - start).days
    d1, d2 = sorted(data.draw(st.lists(st.integers(0, length - 1), min_size=2, max_size=2)))
    first, second = (production_quote(case, start + datetime.timedelta(days=d)) for d in (d1, d2))

    assert first.accrued_interest <= second.accrued_interest
    for q1, q2, note in zip(first.notes, second.notes, sorted(case.notes, key=lambda x: x.note_id), strict=True):
        assert q1.accrued_interest <= q2.accrued_interest
        # less than a full period's interest on the same principal (rounded up by at most a cent)
        full = ref.half_up(ref.cents(q2.principal) * note.rate_h, ref.RATE_DEN)
        assert ref.cents(q2.accrued_interest) <= full
    assert_matches(second, reference_quote(case, start + datetime.timedelta(days=d2)))


@TARGETED
@given(data=st.data(), case=cases())
def test_on_and_after_the_last_due_date_the_quote_is_exactly_the_unpaid_rows(data, case):
    as_of = case.due(case.n) + datetime.timedelta(days=data.draw(st.one_of(st.just(0), st.integers(0, 400))))

    got = production_quote(case, as_of)

    unpaid = case.insts[case.paid :]
    owed = sum(i.amount + ref.fee_owed(i, as_of, case.late_fee_c) for i in unpaid)
    assert got.j == case.n
    assert list(got.due_installments) == [i.number for i in unpaid]
    assert got.principal_outstanding == 0 and got.accrued_interest == 0
    assert ref.cents(got.due_amount) == owed and ref.cents(got.total) == owed
    assert all(q.principal == 0 and q.accrued_interest == 0 for q in got.notes)
    assert_matches(got, reference_quote(case, as_of))


@TARGETED
@given(data=st.data(), case=cases(fee=True))
def test_late_fees_counted_by_the_quote_are_the_ones_a_payment_on_as_of_would_owe(data, case):
    """An unpaid row due before as_of owes LENME_LATE_FEE once (unless the sweep already added it); due on
    as_of it owes nothing yet; a 0.00 row never owes it."""
    span = (case.due(case.n) - case.funding).days + 60
    as_of = _day(case, data.draw(st.integers(0, span)))

    got = production_quote(case, as_of)

    fees = 0
    for i in case.insts[case.paid :]:
        if i.due > as_of:
            break
        expected = i.late_fee + (case.late_fee_c if i.due < as_of and i.amount > 0 and not i.fee_added else 0)
        fees += expected
    amounts = sum(i.amount for i in case.insts[case.paid :] if i.due <= as_of)
    assert ref.cents(got.due_amount) == amounts + fees
    assert_matches(got, reference_quote(case, as_of))


def test_a_worked_two_note_quote_ten_days_after_funding():
    """By hand, from the contract: 600.00 at 12.00% and 400.00 at 6.00% over 3 months, funded 2026-01-01.
    Ten days in (j = 0, S = funding, N = 2026-02-01, D = 31, d = 10): accrued is
    round(600.00 * 12/1200 * 10/31) = round(1.935...) = 1.94 and round(400.00 * 6/1200 * 10/31) =
    round(0.645...) = 0.65; total = 1000.00 + 2.59."""
    case = Case(
        funding=datetime.date(2026, 1, 1),
        notes=[ref.NoteRef(7, 1200, ref.schedule(60000, 1200, 3)), ref.NoteRef(3, 600, ref.schedule(40000, 600, 3))],
        insts=[],
        paid=0,
        late_fee_c=0,
        prepaid=False,
    )
    rows = ref.loan_rows(sorted(case.notes, key=lambda x: x.note_id))
    case.insts = [
        ref.Inst(k, d, r.amount, 0, False, False)
        for k, (d, r) in enumerate(zip(ref.due_dates(case.funding, 3), rows, strict=True), 1)
    ]
    want = reference_quote(case, datetime.date(2026, 1, 11))
    assert (want.j, want.due_amount, want.principal_outstanding) == (0, 0, 100000)
    assert [(q.note_id, q.accrued) for q in want.notes] == [(3, 65), (7, 194)]
    assert want.total == 100259

    assert_matches(production_quote(case, datetime.date(2026, 1, 11)), want)


# Prepayment: the split and the re-levelled rows ---------------------------------------------------


@PROPERTY
@given(
    principal=st.one_of(st.just(0), st.integers(0, 100), st.integers(0, 100_000_000)),
    rate=rates,
    first_interest=st.one_of(st.just(0), st.integers(0, 2_000_000)),
    rows_left=st.one_of(st.integers(1, 12), st.integers(1, 360)),
)
def test_relevel_rows_is_the_schedule_rule_with_the_first_interest_kept(principal, rate, first_interest, rows_left):
    want = ref.relevel(principal, rate, first_interest, rows_left)

    got = _payoff().relevel_rows(
        principal=ref.dec(principal), rate=ref.dec(rate), first_interest=ref.dec(first_interest), rows_left=rows_left
    )

    got_c = [tuple(ref.cents(x) for x in row) for row in got]
    assert got_c == [(r.amount, r.principal, r.interest) for r in want]
    assert len(got) == rows_left
    assert sum(p for _, p, _ in got_c) == principal  # the new principal, exactly, over the rows left
    assert got_c[0][2] == first_interest  # the current period earns on the old principal
    assert all(a == p + i and p >= 0 and i >= 0 for a, p, i in got_c)
    if principal == 0:
        assert all(row == (0, 0, 0) for row in got_c[1:])


@PROPERTY
@given(data=st.data(), case=cases(allow_prepaid=False))
def test_a_prepayment_split_and_relevel_keep_every_cent_and_the_loan_rows_are_the_sums(data, case):
    """The split is by principal outstanding (largest remainder, ties lower id) and adds up to the
    amount; each note's unpaid principal drops by exactly its part; the re-levelled rows match the
    production relevel_rows; the first unpaid row keeps its interest."""
    from lenme.money import split_largest_remainder

    notes = sorted(case.notes, key=lambda x: x.note_id)
    outstanding = [sum(r.principal for r in x.rows[case.paid :]) for x in notes]
    assume(sum(outstanding) > 1)
    amount = data.draw(st.integers(1, sum(outstanding) - 1), label="prepay cents")
    want = ref.prepay(notes, case.paid, amount)

    parts = split_largest_remainder(ref.dec(amount), [ref.dec(o) for o in outstanding])

    assert [ref.cents(x) for x in parts] == want.parts
    assert sum(want.parts) == amount
    assert all(0 <= part <= owed for part, owed in zip(want.parts, outstanding, strict=True))
    for before, after, part, owed in zip(notes, want.notes, want.parts, outstanding, strict=True):
        left = after.rows[case.paid :]
        assert sum(r.principal for r in left) == owed - part
        assert left[0].interest == before.rows[case.paid].interest
        got = _payoff().relevel_rows(
            principal=ref.dec(owed - part),
            rate=ref.dec(before.rate_h),
            first_interest=ref.dec(before.rows[case.paid].interest),
            rows_left=case.n - case.paid,
        )
        assert [tuple(ref.cents(x) for x in row) for row in got] == [(r.amount, r.principal, r.interest) for r in left]
