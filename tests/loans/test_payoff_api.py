"""Issue 8 over HTTP: the payoff quote, payoff and prepayment on real loans of 1..N notes, every figure
checked against tests/loans/payoff_reference.py (API.md's words) computed from what GET /payments/,
GET /loans/{id}/notes/ and GET /notes/{id}/ return; the ledger rows each step writes; late fees owed at
pay time; the portfolio; Idempotency-Key; and every bad input, each proven to move nothing.

"Today" is pinned by a clock fixture that moves django.utils.timezone.now (API.md: today is the UTC
date), so due dates, overdue rows and as_of are deterministic."""

import datetime
import io
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Profile, Transaction
from loans import jobs
from loans.models import Loan, Note, NotePayment, Payment
from tests import factories
from tests.accounts.api_helpers import assert_problem, post
from tests.conftest import client_for
from tests.loans import payoff_reference as ref

pytestmark = pytest.mark.django_db

QUOTE_FIELDS = {"loan", "as_of", "due_installments", "due_amount", "principal_outstanding", "accrued_interest", "total"}
START = datetime.date(2030, 1, 31)  # a month end: due dates Feb 28, Mar 31, Apr 30, ...


# The clock -----------------------------------------------------------------------------------------


class Clock:
    def __init__(self, real):
        self.real = real
        self.offset = datetime.timedelta()

    def now(self) -> datetime.datetime:
        return self.real() + self.offset

    def go_to(self, day: datetime.date) -> None:
        """Noon UTC of `day` (hours from a date change either way)."""
        noon = datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)
        self.offset = noon - self.real()

    @property
    def today(self) -> datetime.date:
        return timezone.localdate()


@pytest.fixture
def clock(monkeypatch):
    c = Clock(timezone.now)
    monkeypatch.setattr(timezone, "now", c.now)
    c.go_to(START)
    return c


@pytest.fixture(autouse=True)
def _settings(settings, clock):
    settings.LENME_MIN_NOTE = Decimal("0.01")
    settings.LENME_LATE_FEE = Decimal("0.00")


# Loans through the API -----------------------------------------------------------------------------


class Book:
    """A loan funded through the API by one lender per part, and the people around it."""

    def __init__(self, loan: dict, borrower, borrower_api, lenders: list, apis: list, rejected=None, rejected_api=None):
        self.loan, self.id = loan, loan["id"]
        self.borrower, self.borrower_api = borrower, borrower_api
        self.lenders, self.apis = lenders, apis
        self.rejected, self.rejected_api = rejected, rejected_api

    @property
    def url(self) -> str:
        return f"/api/loans/{self.id}"

    def get(self, path: str = "/", client=None) -> dict:
        response = (client or self.borrower_api).get(f"{self.url}{path}")
        assert response.status_code == 200, response.content
        return response.json()

    def payments(self) -> list[dict]:
        return self.get("/payments/")

    def notes(self) -> list[dict]:
        return self.get("/notes/?page_size=200")["results"]

    def state(self):
        """(funding date, installments, note references) read from the API only."""
        notes = self.notes()
        rows = {}
        for note in notes:
            response = self.borrower_api.get(f"/api/notes/{note['id']}/")
            assert response.status_code == 200, response.content
            rows[note["id"]] = response.json()["payments"]
        return ref.from_api(self.get("/"), self.payments(), notes, rows)

    def reference(self, as_of: datetime.date, late_fee: str = "0.00") -> ref.QuoteRef:
        funding, insts, notes = self.state()
        return ref.quote(funding=funding, insts=insts, notes=notes, as_of=as_of, late_fee_c=ref.cents(late_fee))

    def quote(self, as_of: datetime.date | str | None = None, client=None) -> dict:
        suffix = "" if as_of is None else f"?as_of={as_of}"
        response = (client or self.borrower_api).get(f"{self.url}/payoff/{suffix}")
        assert response.status_code == 200, response.content
        return response.json()

    def pay(self, number: int):
        row = next(p for p in self.payments() if p["number"] == number)
        response = post(self.borrower_api, f"{self.url}/payments/{row['id']}/pay/")
        assert response.status_code == 200, response.content
        return response.json()

    def lender_of(self, note: dict):
        return next(u for u in self.lenders if u.pk == note["lender"])


def user(name: str, balance: str = "100000.00"):
    u = factories.UserFactory(username=name, balance=Decimal(balance))
    return u, client_for(u)


def make_book(parts: list[tuple[str, str | None]], *, amount: str, term: int, name: str = "b", rejected: bool = False):
    """A FUNDED loan of `amount` over `term` months, one note per part (rate, amount or None for a
    whole-loan offer filled with what is left); with `rejected`, one more offer that was not chosen."""
    borrower, borrower_api = user(f"{name}_borrower", "0.00")
    response = post(borrower_api, "/api/loans/", {"amount": amount, "term_months": term, "interest_rate": "100.00"})
    assert response.status_code == 201, response.content
    loan = response.json()
    lenders, apis, ids = [], [], []
    for i, (rate, part) in enumerate(parts):
        lender, api = user(f"{name}_l{i}")
        body = {"interest_rate": rate} | ({"amount": part} if part else {})
        made = post(api, f"/api/loans/{loan['id']}/offers/", body)
        assert made.status_code == 201, made.content
        lenders.append(lender)
        apis.append(api)
        ids.append(made.json()["id"])
    other = other_api = None
    if rejected:
        other, other_api = user(f"{name}_rejected")
        assert post(other_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "99.00"}).status_code == 201
    accepted = post(borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_ids": ids})
    assert accepted.status_code == 200, accepted.content
    for api in apis:
        funded = post(api, f"/api/loans/{loan['id']}/fund/")
        assert funded.status_code == 200, funded.content
    assert funded.json()["status"] == "FUNDED"
    return Book(funded.json(), borrower, borrower_api, lenders, apis, other, other_api)


def deposit(book: Book, amount: str) -> None:
    assert post(book.borrower_api, "/api/accounts/deposit/", {"amount": amount}).status_code == 200


def balance(u) -> Decimal:
    return Profile.objects.get(user=u).balance


def all_balances() -> Decimal:
    return Profile.objects.aggregate(t=Sum("balance"))["t"]


def snapshot() -> tuple:
    """Everything a refused request must leave untouched."""
    return (
        list(Profile.objects.order_by("pk").values_list("user_id", "balance", "reserved_balance")),
        Transaction.objects.count(),
        list(Payment.objects.order_by("pk").values()),
        list(NotePayment.objects.order_by("pk").values()),
        list(Loan.objects.order_by("pk").values()),
        list(Note.objects.order_by("pk").values()),
    )


def assert_audit_clean() -> None:
    out = io.StringIO()
    try:
        call_command("audit_ledger", stdout=out)
    except CommandError as exc:  # exits 1 listing the violations
        pytest.fail(f"audit_ledger exited {exc.returncode}:\n{out.getvalue()}")
    assert "Clean" in out.getvalue(), out.getvalue()


def assert_quote(body: dict, want: ref.QuoteRef, loan_id: int) -> None:
    assert set(body) == QUOTE_FIELDS, body
    assert body == {
        "loan": loan_id,
        "as_of": want.as_of.isoformat(),
        "due_installments": want.due_installments,
        "due_amount": ref.money(want.due_amount),
        "principal_outstanding": ref.money(want.principal_outstanding),
        "accrued_interest": ref.money(want.accrued_interest),
        "total": ref.money(want.total),
    }


def day(k: int) -> datetime.date:
    return START + datetime.timedelta(days=k)


LOANS = {
    "one note": ([("15.00", None)], "5000.00", 6),
    "two notes": ([("12.00", "600.00"), ("6.00", "400.00")], "1000.00", 3),
    "three notes, a whole-loan offer in part": ([("9.50", "333.33"), ("0.00", "250.00"), ("17.25", None)], "1000.00", 12),
    "five notes": ([(f"{4 + 3 * i}.{i}5", "200.01") for i in range(4)] + [("100.00", None)], "1234.56", 7),
}  # fmt: skip


# The quote -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", LOANS)
def test_the_quote_is_the_references_on_every_kind_of_day(shape, clock, settings):
    parts, amount, term = LOANS[shape]
    book = make_book(parts, amount=amount, term=term)
    settings.LENME_LATE_FEE = Decimal("4.50")
    dues = [datetime.date.fromisoformat(p["due_date"]) for p in book.payments()]
    assert dues == ref.due_dates(START, term)  # the funding date + k months, clipped to the month end
    as_ofs = [
        START,
        day(1),
        day(10),
        dues[0],
        dues[0] + datetime.timedelta(days=1),
        dues[-1],
        dues[-1] + datetime.timedelta(days=45),
    ]
    if term > 2:
        as_ofs += [dues[1] - datetime.timedelta(days=1), dues[1], dues[2] + datetime.timedelta(days=3)]

    for as_of in as_ofs:
        assert_quote(book.quote(as_of), book.reference(as_of, "4.50"), book.id)
    # as_of defaults to today; a lender of the loan may ask too.
    assert_quote(book.quote(), book.reference(START, "4.50"), book.id)
    assert book.quote(client=book.apis[-1]) == book.quote(START)

    # After paying ahead, j counts the paid rows and nothing accrues for a period already paid for.
    deposit(book, "5000.00")
    book.pay(1)
    body = book.quote(day(3))
    want = book.reference(day(3), "4.50")
    assert_quote(body, want, book.id)
    assert want.j == 1 and want.accrued_interest == 0 and body["due_installments"] == []
    if term > 1:
        assert_quote(book.quote(dues[0] + datetime.timedelta(days=9)), book.reference(dues[0] + datetime.timedelta(days=9), "4.50"), book.id)  # fmt: skip
    # The quote as of the last due date is exactly the unpaid rows, with the fees they will owe by then.
    last = book.quote(dues[-1])
    rows = [p for p in book.payments() if not p["paid"]]
    late = [p for p in rows if datetime.date.fromisoformat(p["due_date"]) < dues[-1]]
    owed = sum(ref.cents(p["amount"]) for p in rows) + 450 * len(late)
    assert (last["principal_outstanding"], last["accrued_interest"]) == ("0.00", "0.00")
    assert last["due_amount"] == last["total"] == ref.money(owed)
    assert last["due_installments"] == [p["number"] for p in rows]


def test_the_worked_example_two_notes_ten_days_after_funding(clock):
    book = make_book([("12.00", "600.00"), ("6.00", "400.00")], amount="1000.00", term=3)
    notes = book.notes()
    by_rate = {n["interest_rate"]: n for n in notes}
    assert {n["amount"] for n in notes} == {"600.00", "400.00"}
    # The first period runs from the funding date (Jan 31) to due date 1 (Feb 28): D = 28, d = 10.
    big_d = (datetime.date(2030, 2, 28) - START).days
    assert big_d == 28
    accrued = ref.half_up(60000 * 1200 * 10, ref.RATE_DEN * big_d) + ref.half_up(40000 * 600 * 10, ref.RATE_DEN * big_d)
    body = book.quote(day(10))
    assert body["accrued_interest"] == ref.money(accrued) == "2.85"  # 2.142857 -> 2.14, 0.714285 -> 0.71
    assert body["total"] == "1002.85" and body["due_installments"] == [] and body["principal_outstanding"] == "1000.00"
    assert by_rate["12.00"]["principal_outstanding"] == "600.00"


def test_a_late_fee_is_owed_at_pay_time_before_any_sweep_and_a_later_quote_counts_it(clock, settings):
    settings.LENME_LATE_FEE = Decimal("5.00")
    book = make_book([("10.00", "700.00"), ("14.00", "300.00")], amount="1000.00", term=4)
    deposit(book, "2000.00")
    dues = [datetime.date.fromisoformat(p["due_date"]) for p in book.payments()]
    # A quote today for as_of = the day after due 2 counts two fees; as_of = due 1 counts none yet.
    later = dues[1] + datetime.timedelta(days=1)
    want = book.reference(later, "5.00")
    assert want.fees == {1: 500, 2: 500}
    assert_quote(book.quote(later), want, book.id)
    assert book.reference(dues[0], "5.00").fees == {1: 0}
    assert_quote(book.quote(dues[0]), book.reference(dues[0], "5.00"), book.id)

    clock.go_to(dues[0] + datetime.timedelta(days=3))  # three days late, no sweep has run
    assert not Payment.objects.filter(loan_id=book.id, overdue=True).exists()
    notes = book.notes()
    first_rows = [NotePayment.objects.get(note_id=n["id"], number=1).amount for n in notes]
    shares = ref.split(500, [ref.cents(a) for a in first_rows])
    before = balance(book.borrower)

    paid = book.pay(1)

    assert paid["late_fee"] == "5.00" and paid["paid"] is True and paid["status"] == "paid"
    row_total = ref.cents(paid["amount"]) + 500
    assert balance(book.borrower) == before - ref.dec(row_total)
    for note, row, share in zip(notes, first_rows, shares, strict=True):
        got = Transaction.objects.get(kind="repayment", payment_id=paid["id"], loan_note_id=note["id"])
        assert ref.cents(got.amount) == ref.cents(row) + share
        assert got.to_user_id == note["lender"] and got.from_user_id == book.borrower.pk
    # Paid again on its due day, installment 2 owes nothing: the fee is for a day after the due date.
    clock.go_to(dues[1])
    assert book.pay(2)["late_fee"] == "0.00"
    assert_audit_clean()


# Payoff --------------------------------------------------------------------------------------------


def payoff_figures(book: Book, want: ref.QuoteRef):
    """Per note: (what it receives for the due installments, its payoff row, interest, late fees)."""
    funding, insts, notes = book.state()
    due = [i for i in insts if i.number in want.due_installments]
    out = {}
    for x in notes:
        out[x.note_id] = {"repayments": {}, "payoff": 0, "interest": 0, "late": 0}
    for inst in due:
        fee = want.fees[inst.number]
        shares = ref.split(fee, [x.rows[inst.number - 1].amount for x in notes])
        for x, share in zip(notes, shares, strict=True):
            row = x.rows[inst.number - 1]
            out[x.note_id]["repayments"][inst.number] = row.amount + share
            out[x.note_id]["interest"] += row.interest
            out[x.note_id]["late"] += share
    for q in want.notes:
        out[q.note_id]["payoff"] = q.principal + q.accrued
        out[q.note_id]["interest"] += q.accrued
    return out


@pytest.mark.parametrize("shape", LOANS)
def test_payoff_moves_exactly_the_quote_and_settles_the_loan(shape, clock, settings):
    parts, amount, term = LOANS[shape]
    settings.LENME_LATE_FEE = Decimal("3.00")
    book = make_book(parts, amount=amount, term=term)
    deposit(book, "5000.00")
    dues = [datetime.date.fromisoformat(p["due_date"]) for p in book.payments()]
    if term > 2:  # installment 1 paid, installment 2 four days late (no sweep), into period 3
        book.pay(1)
        clock.go_to(dues[1] + datetime.timedelta(days=4))
    else:  # ten days into period 1
        clock.go_to(day(10))
    today = clock.today
    want = book.reference(today, "3.00")
    body = book.quote()
    assert_quote(body, want, book.id)
    per_note = payoff_figures(book, want)
    notes_before = {n["id"]: n for n in book.notes()}
    interest_before = {i: Decimal(n["interest_received"]) for i, n in notes_before.items()}
    lenders_before = {u.pk: balance(u) for u in book.lenders}
    borrower_before, everyone, ledger_before = balance(book.borrower), all_balances(), Transaction.objects.count()
    portfolio_before = {u.pk: client_for(u).get("/api/portfolio/").json() for u in book.lenders}
    repaid_before = Decimal(book.borrower_api.get("/api/portfolio/").json()["borrower"]["total_repaid"])

    response = post(book.borrower_api, f"{book.url}/payoff/", {"total": body["total"]})

    assert response.status_code == 200, response.content
    loan = response.json()
    assert loan["status"] == "COMPLETED" and loan["principal_outstanding"] == "0.00"
    assert loan["closed_reason"] == ("repaid" if want.j == term else "prepaid")
    assert loan["payments"] == book.payments()
    assert balance(book.borrower) == borrower_before - ref.dec(want.total)
    assert all_balances() == everyone
    new = Transaction.objects.filter(pk__gt=0).order_by("pk")[ledger_before:]
    expected_rows = []
    for note_id, figures in sorted(per_note.items()):
        note = notes_before[note_id]
        for number, amount_c in figures["repayments"].items():
            if amount_c:
                expected_rows.append(("repayment", note_id, number, amount_c, note["lender"]))
        if figures["payoff"]:
            expected_rows.append(("payoff", note_id, None, figures["payoff"], note["lender"]))
        got_total = sum(figures["repayments"].values()) + figures["payoff"]
        lender = book.lender_of(note)
        assert balance(lender) == lenders_before[lender.pk] + ref.dec(got_total)
    got_rows = [
        (t.kind, t.loan_note_id, t.payment.number if t.payment_id else None, ref.cents(t.amount), t.to_user_id)
        for t in new
    ]
    assert sorted(got_rows, key=str) == sorted(expected_rows, key=str)
    assert all(t.from_user_id == book.borrower.pk and t.loan_id == book.id for t in new)
    assert sum(ref.cents(t.amount) for t in new) == want.total
    # The due installments paid (with their fees), rows j+1..n settled without being paid.
    for p in loan["payments"]:
        if p["number"] <= want.j:
            assert p["paid"] is True and p["status"] == "paid", p
        else:
            assert p["paid"] is False and p["status"] == "settled", p
        if p["number"] in want.due_installments:
            assert ref.cents(p["late_fee"]) == want.fees[p["number"]]
    for note in book.notes():
        figures = per_note[note["id"]]
        assert note["status"] == "REPAID" and note["principal_outstanding"] == "0.00"
        assert note["principal_repaid"] == note["amount"]
        assert Decimal(note["interest_received"]) == interest_before[note["id"]] + ref.dec(figures["interest"])
        assert ref.cents(note["late_fees_received"]) == figures["late"]
        for row in book.borrower_api.get(f"/api/notes/{note['id']}/").json()["payments"]:
            assert row["status"] == ("settled" if row["number"] > want.j else "paid")
    # The portfolio counts the payoff: principal and accrued interest to the lenders, the total to the borrower.
    for u in book.lenders:
        was, now = portfolio_before[u.pk]["lender"], client_for(u).get("/api/portfolio/").json()["lender"]
        (note,) = [n for n in book.notes() if n["lender"] == u.pk]
        assert now["principal_repaid"] == note["amount"] and now["principal_outstanding"] == "0.00"
        gained = Decimal(now["interest_received"]) - Decimal(was["interest_received"])
        assert gained == ref.dec(per_note[note["id"]]["interest"])
        assert now["notes"]["REPAID"] == 1 and now["notes"]["ACTIVE"] == 0
    borrower_now = book.borrower_api.get("/api/portfolio/").json()["borrower"]
    assert Decimal(borrower_now["total_repaid"]) == repaid_before + ref.dec(want.total)
    assert borrower_now["principal_outstanding"] == "0.00" and borrower_now["next_payment"] is None
    # Each lender sees its payoff row in GET /transactions/ with its note; everyone is told the loan completed.
    for u in book.lenders:
        (note,) = [n for n in book.notes() if n["lender"] == u.pk]
        mine = [
            t for t in client_for(u).get("/api/transactions/?page_size=200").json()["results"] if t["kind"] == "payoff"
        ]
        payoff_c = per_note[note["id"]]["payoff"]
        assert [(t["note_id"], t["payment"], ref.cents(t["amount"]), t["loan"]) for t in mine] == (
            [(note["id"], None, payoff_c, book.id)] if payoff_c else []
        )
        assert u.notifications.filter(kind="loan_completed", loan_id=book.id).count() == 1
    assert book.borrower.notifications.filter(kind="loan_completed", loan_id=book.id).count() == 1
    assert_audit_clean()
    # The loan is closed: paying a settled installment is already_paid, a second payoff invalid_state.
    if want.j < term:
        settled = next(p for p in loan["payments"] if p["status"] == "settled")
        assert_problem(post(book.borrower_api, f"{book.url}/payments/{settled['id']}/pay/"), 409, "already_paid")
    assert_problem(post(book.borrower_api, f"{book.url}/payoff/", {}), 409, "invalid_state")


def test_payoff_after_paying_ahead_pays_only_the_principal_left(clock):
    book = make_book([("20.00", "500.00"), ("8.00", "1500.00")], amount="2000.00", term=6)
    deposit(book, "3000.00")
    book.pay(1)
    book.pay(2)  # both paid on the funding day, months ahead
    want = book.reference(day(5))
    clock.go_to(day(5))
    assert want.j == 2 and want.accrued_interest == 0 and want.due_installments == []
    assert_quote(book.quote(), want, book.id)
    before = Transaction.objects.count()

    loan = post(book.borrower_api, f"{book.url}/payoff/", {}).json()  # total is optional

    assert loan["closed_reason"] == "prepaid"
    rows = Transaction.objects.order_by("pk")[before:]
    assert [t.kind for t in rows] == ["payoff", "payoff"]
    assert sorted(ref.cents(t.amount) for t in rows) == sorted(q.principal for q in want.notes)
    assert [p["status"] for p in loan["payments"]] == ["paid", "paid"] + ["settled"] * 4
    assert_audit_clean()


def test_payoff_after_the_last_due_date_is_a_repaid_loan_with_no_payoff_row(clock, settings):
    settings.LENME_LATE_FEE = Decimal("2.50")
    book = make_book([("11.00", "250.00"), ("13.00", "250.00")], amount="500.00", term=3)
    deposit(book, "1000.00")
    dues = [datetime.date.fromisoformat(p["due_date"]) for p in book.payments()]
    clock.go_to(dues[0] + datetime.timedelta(days=1))
    jobs.sweep()  # installment 1 marked overdue with its fee; 2 and 3 owe theirs at payoff time
    clock.go_to(dues[-1] + datetime.timedelta(days=2))
    want = book.reference(clock.today, "2.50")
    assert want.j == 3 and want.fees == {1: 250, 2: 250, 3: 250}
    before = Transaction.objects.count()

    loan = post(book.borrower_api, f"{book.url}/payoff/", {"total": ref.money(want.total)}).json()

    assert loan["status"] == "COMPLETED" and loan["closed_reason"] == "repaid"
    assert [p["status"] for p in loan["payments"]] == ["paid"] * 3
    assert [p["late_fee"] for p in loan["payments"]] == ["2.50"] * 3
    rows = Transaction.objects.order_by("pk")[before:]
    assert {t.kind for t in rows} == {"repayment"} and len(rows) == 6
    assert sum(ref.cents(t.amount) for t in rows) == want.total
    assert_audit_clean()


def test_payoff_of_a_defaulted_loan_completes_it_and_counts_as_recoveries(clock, settings):
    settings.LENME_LATE_FEE = Decimal("1.00")
    book = make_book([("10.00", "400.00"), ("12.00", None)], amount="1000.00", term=12)
    dues = [datetime.date.fromisoformat(p["due_date"]) for p in book.payments()]
    clock.go_to(dues[0] + datetime.timedelta(days=settings.LENME_CHARGE_OFF_DAYS))
    jobs.sweep()
    assert book.get("/")["status"] == "DEFAULTED"
    deposit(book, "3000.00")
    want = book.reference(clock.today, "1.00")
    assert_quote(book.quote(), want, book.id)
    # prepay is for FUNDED loans only, whatever the amount
    assert_problem(post(book.borrower_api, f"{book.url}/prepay/", {"amount": "10.00"}), 409, "invalid_state")

    loan = post(book.borrower_api, f"{book.url}/payoff/", {"total": ref.money(want.total)}).json()

    assert loan["status"] == "COMPLETED" and loan["closed_reason"] == "prepaid"
    per_note = payoff_figures(book, want)
    for note in book.notes():
        received = sum(per_note[note["id"]]["repayments"].values()) + per_note[note["id"]]["payoff"]
        assert note["status"] == "REPAID" and note["principal_repaid"] == note["amount"]
        assert ref.cents(note["recoveries"]) == received
        assert note["charged_off_principal"] == note["amount"]
    assert loan["days_past_due"] == 0 and loan["delinquency"] == "current"
    assert_audit_clean()


# Prepayment ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", LOANS)
def test_prepay_splits_by_principal_outstanding_relevels_every_note_and_the_loan_completes_exactly(
    shape, clock, settings
):
    parts, amount, term = LOANS[shape]
    book = make_book(parts, amount=amount, term=term)
    deposit(book, "8000.00")
    paid = 1 if term > 1 else 0
    if paid:
        book.pay(1)
    funding, insts, notes = book.state()
    outstanding = sum(sum(r.principal for r in x.rows[paid:]) for x in notes)
    amount_c = outstanding // 3 + 7
    want = ref.prepay(notes, paid, amount_c)
    lenders_before = {u.pk: balance(u) for u in book.lenders}
    borrower_before, everyone, ledger_before = balance(book.borrower), all_balances(), Transaction.objects.count()

    response = post(book.borrower_api, f"{book.url}/prepay/", {"amount": ref.money(amount_c)})

    assert response.status_code == 200, response.content
    loan = response.json()
    assert loan["status"] == "FUNDED" and loan["closed_reason"] is None
    assert loan["principal_outstanding"] == ref.money(outstanding - amount_c)
    assert balance(book.borrower) == borrower_before - ref.dec(amount_c) and all_balances() == everyone
    rows = list(Transaction.objects.order_by("pk")[ledger_before:])
    expected = [("prepayment", x.note_id, part) for x, part in zip(want.notes, want.parts, strict=True) if part]
    assert sorted((t.kind, t.loan_note_id, ref.cents(t.amount)) for t in rows) == sorted(expected)
    by_id = {n["id"]: n for n in book.notes()}
    for t in rows:
        assert t.from_user_id == book.borrower.pk and t.to_user_id == by_id[t.loan_note_id]["lender"]
        assert t.payment_id is None
    for x, part in zip(want.notes, want.parts, strict=True):
        lender = book.lender_of(by_id[x.note_id])
        assert balance(lender) == lenders_before[lender.pk] + ref.dec(part)
    # Each note's rows are the reference's re-levelled rows; the loan's rows their sums.
    _, insts_after, notes_after = book.state()
    assert [(x.note_id, x.rows) for x in notes_after] == [(x.note_id, x.rows) for x in want.notes]
    sums = ref.loan_rows(want.notes)
    assert [(i.amount, i.due) for i in insts_after] == [(r.amount, i.due) for r, i in zip(sums, insts, strict=True)]
    assert [(p["principal"], p["interest"]) for p in loan["payments"]] == [
        (ref.money(r.principal), ref.money(r.interest)) for r in sums
    ]
    assert loan["payments"] == book.payments()
    for note in book.notes():
        assert Decimal(note["principal_repaid"]) + Decimal(note["principal_outstanding"]) == Decimal(note["amount"])
    assert_audit_clean()

    # Normal payments complete the loan; every note's principal is repaid exactly.
    for number in range(paid + 1, term + 1):
        book.pay(number)
    final = book.get("/")
    assert final["status"] == "COMPLETED" and final["closed_reason"] == "repaid"
    for note, x in zip(book.notes(), want.notes, strict=True):
        assert note["status"] == "REPAID" and note["principal_repaid"] == note["amount"]
        assert ref.cents(note["interest_received"]) == sum(r.interest for r in x.rows)
    paid_total = Transaction.objects.filter(loan_id=book.id, from_user=book.borrower).aggregate(t=Sum("amount"))["t"]
    assert ref.cents(paid_total) == sum(r.amount for r in ref.loan_rows(want.notes)) + amount_c
    assert ref.cents(book.borrower_api.get("/api/portfolio/").json()["borrower"]["total_repaid"]) == ref.cents(
        paid_total
    )
    for u in book.lenders:
        (note,) = [n for n in book.notes() if n["lender"] == u.pk]
        mine = client_for(u).get("/api/portfolio/").json()["lender"]
        assert mine["principal_repaid"] == note["amount"] and mine["interest_received"] == note["interest_received"]
    assert_audit_clean()


def test_a_prepayment_can_bring_a_note_to_zero_and_its_rows_write_no_ledger_row(clock):
    # A 0.01 note and a 999.99 note: prepaying all but a cent takes the 0.01 note to 0.00 (its remainder
    # is the largest) and leaves the other 0.01; every later row of the zero note is 0.00.
    book = make_book([("12.00", "999.99"), ("12.00", "0.01")], amount="1000.00", term=4)
    deposit(book, "2000.00")
    funding, insts, notes = book.state()
    outstanding = sum(sum(r.principal for r in x.rows) for x in notes)
    want = ref.prepay(notes, 0, outstanding - 1)
    tiny = next(x for x in want.notes if sum(r.principal for r in x.rows) == 0)
    assert all(r.amount == 0 for r in tiny.rows[1:])

    response = post(book.borrower_api, f"{book.url}/prepay/", {"amount": ref.money(outstanding - 1)})

    assert response.status_code == 200, response.content
    assert [(x.note_id, x.rows) for x in book.state()[2]] == [(x.note_id, x.rows) for x in want.notes]
    before = Transaction.objects.count()
    for number in range(1, 5):
        book.pay(number)
    rows = Transaction.objects.order_by("pk")[before:]
    assert all(t.amount > 0 for t in rows)
    assert not [t for t in rows if t.loan_note_id == tiny.note_id]  # its rows are all 0.00
    zero = [p["number"] for p in book.payments() if p["amount"] == "0.00"]
    assert zero and not [t for t in rows if t.payment.number in zero]  # 0.00 installments: paid, no row
    assert {n["status"] for n in book.notes()} == {"REPAID"}
    assert all(n["principal_repaid"] == n["amount"] for n in book.notes())
    assert_audit_clean()


# Idempotency ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["payoff", "prepay"])
def test_a_keyed_payoff_or_prepay_replays_byte_for_byte_and_moves_money_once(action, clock):
    book = make_book([("10.00", "600.00"), ("15.00", None)], amount="1000.00", term=6)
    deposit(book, "2000.00")
    clock.go_to(day(9))
    body = {"total": book.quote()["total"]} if action == "payoff" else {"amount": "100.00"}
    url = f"{book.url}/{action}/"

    first = post(book.borrower_api, url, body, HTTP_IDEMPOTENCY_KEY="k-1")
    after_first = snapshot()
    again = post(book.borrower_api, url, body, HTTP_IDEMPOTENCY_KEY="k-1")

    assert first.status_code == 200, first.content
    assert again.status_code == 200 and again.content == first.content
    assert again["Idempotent-Replayed"] == "true"
    assert snapshot() == after_first
    kind = "payoff" if action == "payoff" else "prepayment"
    assert Transaction.objects.filter(loan_id=book.id, kind=kind).count() == 2
    other = {"total": "1.00"} if action == "payoff" else {"amount": "1.00"}
    assert_problem(post(book.borrower_api, url, other, HTTP_IDEMPOTENCY_KEY="k-1"), 422, "idempotency_key_reused")
    assert snapshot() == after_first
    assert_audit_clean()


# Bad input and refusals: each moves nothing -------------------------------------------------------


@pytest.fixture
def live(clock):
    book = make_book([("10.00", "600.00"), ("15.00", None)], amount="1000.00", term=6, rejected=True)
    deposit(book, "3000.00")
    clock.go_to(day(9))
    return book


def refused(book: Book, method: str, path: str, body=None, client=None):
    client = client or book.borrower_api
    before = snapshot()
    response = client.get(f"{book.url}{path}") if method == "GET" else post(client, f"{book.url}{path}", body)
    assert snapshot() == before
    return response


@pytest.mark.parametrize(
    "as_of", ["abc", "2030-02-30", "2030-13-01", "2030-02-10T00:00:00", "2030-02-08", "1999-01-01"]
)
def test_as_of_not_a_date_or_before_today_is_400(live, as_of):
    # today is 2030-02-09: the 8th is yesterday
    assert_problem(refused(live, "GET", f"/payoff/?as_of={as_of}"), 400, "validation_error", field="as_of")


def test_as_of_today_is_fine(live):
    assert live.quote("2030-02-09")["as_of"] == "2030-02-09"


@pytest.mark.parametrize(
    "amount", ["0", "0.00", 0, "-1.00", -5, "1.001", 1.001, "1e2", "NaN", "abc", None, "", [], "1000.00", "1000.01", "5000.00"]
)  # fmt: skip
def test_a_prepay_amount_out_of_range_is_400(live, amount):
    assert live.get("/")["principal_outstanding"] == "1000.00"
    body = {} if amount is None else {"amount": amount}
    assert_problem(refused(live, "POST", "/prepay/", body), 400, "validation_error", field="amount")


def test_a_prepay_just_below_the_principal_outstanding_is_fine(live):
    response = post(live.borrower_api, f"{live.url}/prepay/", {"amount": "999.99"})
    assert response.status_code == 200, response.content
    assert response.json()["principal_outstanding"] == "0.01"
    assert_audit_clean()


@pytest.mark.parametrize("total", ["1.001", "abc", -1, "0"])
def test_a_malformed_payoff_total_is_400(live, total):
    assert_problem(refused(live, "POST", "/payoff/", {"total": total}), 400, "validation_error", field="total")


def test_prepay_with_an_overdue_installment_is_409_out_of_order(live, clock):
    due = datetime.date.fromisoformat(live.payments()[0]["due_date"])
    clock.go_to(due)  # due today is not overdue
    assert post(live.borrower_api, f"{live.url}/prepay/", {"amount": "1.00"}).status_code == 200
    clock.go_to(due + datetime.timedelta(days=1))
    assert_problem(refused(live, "POST", "/prepay/", {"amount": "1.00"}), 409, "out_of_order")
    # ... but the amount is still validated first (400 before any 409 but invalid_state)
    assert_problem(refused(live, "POST", "/prepay/", {"amount": "0"}), 400, "validation_error")


@pytest.mark.parametrize("delta", [1, -1])
def test_a_payoff_total_that_differs_from_the_quote_is_409_quote_changed(live, delta):
    total = ref.cents(live.quote()["total"]) + delta
    assert_problem(refused(live, "POST", "/payoff/", {"total": ref.money(total)}), 409, "quote_changed")


def test_a_quote_for_a_later_day_is_not_the_payoff_today(live):
    later = live.quote(day(20))["total"]
    assert later != live.quote()["total"]
    assert_problem(refused(live, "POST", "/payoff/", {"total": later}), 409, "quote_changed")


def test_a_short_balance_is_409_insufficient_funds(live):
    total = ref.cents(live.quote()["total"])
    held = balance(live.borrower)
    assert post(live.borrower_api, "/api/accounts/withdraw/", {"amount": f"{held - ref.dec(total) + Decimal('0.01')}"}).status_code == 200  # fmt: skip
    assert balance(live.borrower) == ref.dec(total - 1)
    assert_problem(refused(live, "POST", "/payoff/", {"total": ref.money(total)}), 409, "insufficient_funds")
    assert_problem(refused(live, "POST", "/payoff/", {}), 409, "insufficient_funds")
    assert_problem(refused(live, "POST", "/prepay/", {"amount": ref.money(total)}), 400, "validation_error")
    assert post(live.borrower_api, "/api/accounts/withdraw/", {"amount": f"{ref.dec(total - 1) - Decimal('10.00')}"}).status_code == 200  # fmt: skip
    assert_problem(refused(live, "POST", "/prepay/", {"amount": "10.01"}), 409, "insufficient_funds")
    assert post(live.borrower_api, f"{live.url}/prepay/", {"amount": "10.00"}).status_code == 200


def test_payoff_and_prepay_on_a_loan_that_is_not_funded_is_409_invalid_state(clock):
    borrower, api = user("nf_borrower", "5000.00")
    loan = post(api, "/api/loans/", {"amount": "1000.00", "term_months": 3}).json()
    lender, lender_api = user("nf_lender")
    assert post(lender_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "5.00"}).status_code == 201
    url = f"/api/loans/{loan['id']}"
    # While OFFERED everyone can see the loan: a stranger is 403 (before the 409 a borrower gets).
    _, stranger_api = user("nf_stranger")
    assert_problem(stranger_api.get(f"{url}/payoff/"), 403, "permission_denied")
    assert_problem(post(stranger_api, f"{url}/payoff/", {}), 403, "permission_denied")
    assert_problem(post(stranger_api, f"{url}/prepay/", {"amount": "10.00"}), 403, "permission_denied")
    for stage in ("OFFERED", "ACCEPTED"):
        if stage == "ACCEPTED":
            assert post(api, f"{url}/accept/", {}).status_code == 200
        before = snapshot()
        assert_problem(api.get(f"{url}/payoff/"), 409, "invalid_state")
        assert_problem(post(api, f"{url}/payoff/", {}), 409, "invalid_state")
        for amount in ("10.00", "0", "-1", "1.001", "99999.00"):  # state is checked before the amount
            assert_problem(post(api, f"{url}/prepay/", {"amount": amount}), 409, "invalid_state")
        assert snapshot() == before


def test_payoff_and_prepay_on_a_completed_loan_is_409_invalid_state(live):
    assert post(live.borrower_api, f"{live.url}/payoff/", {}).status_code == 200
    assert_problem(refused(live, "GET", "/payoff/"), 409, "invalid_state")
    assert_problem(refused(live, "POST", "/payoff/", {}), 409, "invalid_state")
    for amount in ("10.00", "0", "abc"):
        assert_problem(refused(live, "POST", "/prepay/", {"amount": amount}), 409, "invalid_state")


def test_who_may_quote_pay_off_and_prepay(live):
    stranger, stranger_api = user("nobody")
    lender_api, rejected_api = live.apis[0], live.rejected_api
    # POST: the borrower only; a lender or an earlier offerer sees the loan (403), a stranger does not (404).
    for path, body in (("/payoff/", {}), ("/prepay/", {"amount": "10.00"})):
        assert_problem(refused(live, "POST", path, body, lender_api), 403, "permission_denied")
        assert_problem(refused(live, "POST", path, body, rejected_api), 403, "permission_denied")
        assert_problem(refused(live, "POST", path, body, stranger_api), 404, "not_found")
    # GET: the borrower or a lender; another user who can see the loan 403; a stranger 404.
    assert refused(live, "GET", "/payoff/", client=lender_api).status_code == 200
    assert_problem(refused(live, "GET", "/payoff/", client=rejected_api), 403, "permission_denied")
    assert_problem(refused(live, "GET", "/payoff/", client=stranger_api), 404, "not_found")
    # 404 before 403 before 400: an earlier offerer's bad as_of is 403, a stranger's 404.
    assert_problem(refused(live, "GET", "/payoff/?as_of=nope", client=rejected_api), 403, "permission_denied")
    assert_problem(refused(live, "GET", "/payoff/?as_of=nope", client=stranger_api), 404, "not_found")
    no_token = client_for(stranger)
    no_token.credentials()
    assert_problem(refused(live, "GET", "/payoff/", client=no_token), 401, "not_authenticated")
    assert_problem(refused(live, "POST", "/payoff/", {}, client=no_token), 401, "not_authenticated")
    assert_problem(post(live.borrower_api, "/api/loans/987654/payoff/", {}), 404, "not_found")


# Late fees by autopay and after a sweep; 0.00 installments ----------------------------------------


def test_autopay_on_a_day_after_the_due_date_owes_the_fee_once(clock, settings):
    settings.LENME_LATE_FEE = Decimal("6.00")
    book = make_book([("9.00", "300.00"), ("16.00", None)], amount="900.00", term=3)
    deposit(book, "2000.00")
    assert post(book.borrower_api, f"{book.url}/autopay/", {"enabled": True}).status_code == 200
    dues = [datetime.date.fromisoformat(p["due_date"]) for p in book.payments()]
    clock.go_to(dues[0] + datetime.timedelta(days=2))  # the first sweep runs two days late
    before = balance(book.borrower)

    jobs.sweep()
    jobs.sweep()  # idempotent: nothing more is charged

    first = book.payments()[0]
    assert first["paid"] is True and first["late_fee"] == "6.00"
    rows = Transaction.objects.filter(kind="repayment", payment_id=first["id"])
    assert sum(ref.cents(t.amount) for t in rows) == ref.cents(first["amount"]) + 600 and rows.count() == 2
    assert balance(book.borrower) == before - Decimal(first["amount"]) - Decimal("6.00")
    # Marked by a sweep first (autopay off), then paid: the fee is owed once, not twice.
    assert post(book.borrower_api, f"{book.url}/autopay/", {"enabled": False}).status_code == 200
    clock.go_to(dues[1] + datetime.timedelta(days=1))
    jobs.sweep()
    assert book.payments()[1]["overdue"] is True and book.payments()[1]["late_fee"] == "6.00"
    clock.go_to(dues[1] + datetime.timedelta(days=5))
    assert_quote(book.quote(), book.reference(clock.today, "6.00"), book.id)
    assert book.reference(clock.today, "6.00").fees == {2: 600}
    assert book.pay(2)["late_fee"] == "6.00"
    assert_audit_clean()


def test_a_zero_installment_after_a_prepayment_is_never_overdue_owes_no_fee_and_blocks_no_prepayment(clock, settings):
    settings.LENME_LATE_FEE = Decimal("5.00")
    book = make_book([("0.00", "600.00"), ("0.00", "400.00")], amount="1000.00", term=4)
    deposit(book, "100.00")
    funding, insts, notes = book.state()
    want = ref.prepay(notes, 0, 99997)  # 0.03 left: 0.02 and 0.01, re-levelled at 0% over 4 rows
    rows = ref.loan_rows(want.notes)
    assert [r.amount for r in rows] == [1, 0, 2, 0]

    assert post(book.borrower_api, f"{book.url}/prepay/", {"amount": "999.97"}).status_code == 200
    assert [ref.cents(p["amount"]) for p in book.payments()] == [1, 0, 2, 0]
    book.pay(1)
    dues = [datetime.date.fromisoformat(p["due_date"]) for p in book.payments()]
    clock.go_to(dues[1] + datetime.timedelta(days=3))  # installment 2 (0.00) due three days ago
    jobs.sweep()

    second = book.payments()[1]
    assert (second["overdue"], second["late_fee"], second["paid"]) == (False, "0.00", False)
    loan = book.get("/")
    assert loan["days_past_due"] == 0 and loan["delinquency"] == "current"
    quote = book.quote()
    assert_quote(quote, book.reference(clock.today, "5.00"), book.id)
    assert quote["due_installments"] == [2] and quote["due_amount"] == "0.00"
    # It blocks no prepayment.
    _, _, notes_now = book.state()
    again = ref.prepay(notes_now, 1, 1)
    assert post(book.borrower_api, f"{book.url}/prepay/", {"amount": "0.01"}).status_code == 200
    assert [(x.note_id, x.rows) for x in book.state()[2]] == [(x.note_id, x.rows) for x in again.notes]
    before = Transaction.objects.count()
    for number in range(2, 5):
        paid = book.pay(number)
        assert paid["late_fee"] == "0.00"
    new = list(Transaction.objects.order_by("pk")[before:])
    zero = [p["number"] for p in book.payments() if p["amount"] == "0.00"]
    assert not [t for t in new if t.payment.number in zero] and all(t.amount > 0 for t in new)
    assert book.get("/")["status"] == "COMPLETED"
    assert all(n["principal_repaid"] == n["amount"] for n in book.notes())
    assert_audit_clean()


# The Swagger worked example ------------------------------------------------------------------------


def test_the_swagger_worked_example_is_the_references(client):
    """API.md/issue 8: the quote appears in the Swagger UI with a worked example, a two-note loan quoted 10
    days after funding. Its loan (5000.00 over 6 months funded 2026-01-31: 3000.00 at 12.00% and 2000.00 at
    15.00%) recomputed here: D = 28 (Jan 31 -> Feb 28), accrued 10.71 + 8.93 = 19.64, total 5019.64."""
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    (path,) = [p for p in response.json()["paths"] if p.startswith("/api/loans/{") and p.endswith("}/payoff/")]
    operation = response.json()["paths"][path]["get"]
    examples = operation["responses"]["200"]["content"]["application/json"]["examples"]
    funding = datetime.date(2026, 1, 31)
    notes = [ref.NoteRef(1, 1200, ref.schedule(300000, 1200, 6)), ref.NoteRef(2, 1500, ref.schedule(200000, 1500, 6))]
    insts = [
        ref.Inst(k, d, r.amount, 0, False, False)
        for k, (d, r) in enumerate(zip(ref.due_dates(funding, 6), ref.loan_rows(notes), strict=True), 1)
    ]
    want = ref.quote(
        funding=funding, insts=insts, notes=notes, as_of=funding + datetime.timedelta(days=10), late_fee_c=0
    )
    assert [q.accrued for q in want.notes] == [1071, 893] and want.total == 501964
    shown = [e["value"] for e in examples.values() if e["value"].get("as_of") == "2026-02-10"]
    assert len(shown) == 1, examples
    body = shown[0]
    assert {k: v for k, v in body.items() if k != "loan"} == {
        "as_of": "2026-02-10",
        "due_installments": [],
        "due_amount": "0.00",
        "principal_outstanding": "5000.00",
        "accrued_interest": ref.money(want.accrued_interest),
        "total": ref.money(want.total),
    }
    description = operation.get("description", "")
    for figure in ("10.71", "8.93", "19.64", "5019.64", "3000.00", "2000.00", "12.00", "15.00"):
        assert figure in description, figure


# More edges: ties, rows due today, zero parts --------------------------------------------------------


def test_a_prepayment_tie_goes_to_the_lower_note_id(clock):
    book = make_book([("5.00", "500.00"), ("7.00", "500.00"), ("9.00", None)], amount="1500.00", term=3)
    deposit(book, "100.00")
    ids = [n["id"] for n in book.notes()]
    before = Transaction.objects.count()

    assert post(book.borrower_api, f"{book.url}/prepay/", {"amount": "0.02"}).status_code == 200

    rows = Transaction.objects.order_by("pk")[before:]
    assert sorted((t.loan_note_id, t.amount) for t in rows) == [(ids[0], Decimal("0.01")), (ids[1], Decimal("0.01"))]
    assert [n["principal_outstanding"] for n in book.notes()] == ["499.99", "499.99", "500.00"]
    assert_audit_clean()


def test_a_prepayment_on_the_day_an_installment_is_due_relevels_from_that_row(clock):
    book = make_book([("4.00", "800.00"), ("13.00", None)], amount="2000.00", term=5)
    deposit(book, "1000.00")
    book.pay(1)
    clock.go_to(datetime.date.fromisoformat(book.payments()[1]["due_date"]))  # row 2 due today: not overdue
    _, _, notes = book.state()
    want = ref.prepay(notes, 1, 43210)

    response = post(book.borrower_api, f"{book.url}/prepay/", {"amount": "432.10"})

    assert response.status_code == 200, response.content
    assert [(x.note_id, x.rows) for x in book.state()[2]] == [(x.note_id, x.rows) for x in want.notes]
    sums = ref.loan_rows(want.notes)
    assert [ref.cents(p["amount"]) for p in response.json()["payments"]] == [r.amount for r in sums]
    assert_audit_clean()


def test_a_payoff_writes_no_row_for_a_note_whose_part_is_zero(clock):
    book = make_book([("12.00", "999.99"), ("12.00", "0.01")], amount="1000.00", term=4)
    deposit(book, "2000.00")
    assert post(book.borrower_api, f"{book.url}/prepay/", {"amount": "999.99"}).status_code == 200
    notes = book.notes()
    assert sorted(n["principal_outstanding"] for n in notes) == ["0.00", "0.01"]
    clock.go_to(day(12))
    want = book.reference(clock.today)
    before = Transaction.objects.count()

    loan = post(book.borrower_api, f"{book.url}/payoff/", {"total": ref.money(want.total)}).json()

    assert loan["status"] == "COMPLETED" and loan["closed_reason"] == "prepaid"
    rows = list(Transaction.objects.order_by("pk")[before:])
    expected = [(q.note_id, q.principal + q.accrued) for q in want.notes if q.principal + q.accrued]
    assert [(t.loan_note_id, ref.cents(t.amount)) for t in rows] == expected and len(expected) == 1
    assert {t.kind for t in rows} == {"payoff"}
    assert all(n["status"] == "REPAID" and n["principal_repaid"] == n["amount"] for n in book.notes())
    assert_audit_clean()


def test_a_quote_far_in_the_future_is_every_unpaid_row(live):
    body = live.quote("9999-12-31")
    assert_quote(body, live.reference(datetime.date(9999, 12, 31)), live.id)
    assert body["due_installments"] == [1, 2, 3, 4, 5, 6] and body["principal_outstanding"] == "0.00"


def test_the_available_balance_not_the_balance_must_cover_the_payoff(live):
    """Money held for the borrower's own offer on another loan is not available to pay off with."""
    total = Decimal(live.quote()["total"])
    other_borrower, other_api = user("other_borrower", "0.00")
    other = post(other_api, "/api/loans/", {"amount": "3000.00", "term_months": 3}).json()
    made = post(live.borrower_api, f"/api/loans/{other['id']}/offers/", {"interest_rate": "5.00"})
    assert made.status_code == 201, made.content
    account = live.borrower_api.get("/api/accounts/me/").json()
    assert Decimal(account["balance"]) >= total > Decimal(account["available_balance"])
    assert_problem(refused(live, "POST", "/payoff/", {"total": f"{total}"}), 409, "insufficient_funds")
    available = Decimal(account["available_balance"])
    assert_problem(
        refused(live, "POST", "/prepay/", {"amount": f"{available + Decimal('0.01')}"}), 409, "insufficient_funds"
    )


def test_json_numbers_with_two_places_are_amounts_too(live):
    """Conventions: input amounts may be JSON numbers with at most two decimal places as written."""
    response = post(live.borrower_api, f"{live.url}/prepay/", {"amount": 12.34})
    assert response.status_code == 200, response.content
    assert response.json()["principal_outstanding"] == "987.66"
    total = live.quote()["total"]
    response = post(live.borrower_api, f"{live.url}/payoff/", {"total": float(total)})
    assert response.status_code == 200, (total, response.content)
    assert response.json()["status"] == "COMPLETED"
    assert_audit_clean()


# The losing side of each race, one after the other -------------------------------------------------


@pytest.mark.parametrize("first", ["pay", "prepay", "autopay"])
def test_a_payoff_with_a_stale_total_after_another_step_is_quote_changed(live, clock, first):
    dues = [datetime.date.fromisoformat(p["due_date"]) for p in live.payments()]
    if first == "autopay":
        clock.go_to(dues[0])
        assert post(live.borrower_api, f"{live.url}/autopay/", {"enabled": True}).status_code == 200
    stale = live.quote()["total"]
    if first == "pay":
        live.pay(1)
    elif first == "prepay":
        assert post(live.borrower_api, f"{live.url}/prepay/", {"amount": "50.00"}).status_code == 200
    else:
        jobs.sweep()
        assert live.payments()[0]["paid"] is True
    assert_problem(refused(live, "POST", "/payoff/", {"total": stale}), 409, "quote_changed")
    fresh = live.quote()["total"]
    assert post(live.borrower_api, f"{live.url}/payoff/", {"total": fresh}).status_code == 200
    assert_audit_clean()


def test_after_a_payoff_pay_is_already_paid_and_prepay_invalid_state(live):
    first = live.payments()[0]
    assert post(live.borrower_api, f"{live.url}/payoff/", {}).status_code == 200
    assert_problem(refused(live, "POST", f"/payments/{first['id']}/pay/"), 409, "already_paid")
    assert_problem(refused(live, "POST", "/prepay/", {"amount": "5.00"}), 409, "invalid_state")
    before = snapshot()
    assert jobs.sweep() is not None and snapshot()[:4] == before[:4]  # autopay finds nothing to pay
