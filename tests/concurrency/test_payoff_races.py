"""Issue 8 races over real HTTP on PostgreSQL: payoff against pay, against autopay (the sweep), against
prepay, and two payoffs at once, on loans of several notes. In each race exactly one side wins, the
other gets a documented 4xx, nothing answers 5xx, and no cent is created or lost: the sum of every
balance is constant, the borrower lost exactly what the winning step moved, and the ledger audit is
clean."""

import datetime
import io
from collections import Counter
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from accounts.models import Profile, Transaction
from loans.models import Loan, Payment
from tests.concurrency.conftest import assert_audit_clean, race, show

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 4


@pytest.fixture(autouse=True)
def _small_notes(settings):
    settings.LENME_MIN_NOTE = Decimal("10.00")
    settings.LENME_LATE_FEE = Decimal("2.00")


def everyone() -> Decimal:
    return Profile.objects.aggregate(t=Sum("balance"))["t"]


def balance(user) -> Decimal:
    return Profile.objects.get(user=user).balance


def funded(
    harness, name: str, *, parts=(("8.00", "40.00"), ("11.00", "35.00"), ("14.00", None)), amount="100.00", term=6
):
    """A FUNDED loan through the API, one lender per part; the borrower holds 1000.00 more."""
    borrower = harness.user(f"{name}_b", "1000.00")
    api = harness.api(borrower)
    reply = api.post("/api/loans/", {"amount": amount, "term_months": term, "interest_rate": "30.00"})
    assert reply.status == 201, reply.body
    loan = reply.body
    lenders = []
    for i, (rate, part) in enumerate(parts):
        lender = harness.user(f"{name}_l{i}", "1000.00")
        lender_api = harness.api(lender)
        body = {"interest_rate": rate} | ({"amount": part} if part else {})
        assert lender_api.post(f"/api/loans/{loan['id']}/offers/", body).status == 201
        lenders.append((lender, lender_api))
    assert api.post(f"/api/loans/{loan['id']}/accept/", {}).status == 200
    for _, lender_api in lenders:
        reply = lender_api.post(f"/api/loans/{loan['id']}/fund/")
        assert reply.status == 200, reply.body
    assert reply.body["status"] == "FUNDED"
    return reply.body, borrower, api, [u for u, _ in lenders]


def poster(api, path: str, body=None, key: str | None = None):
    """A race() call: POST path on a connection opened before the barrier."""
    return lambda conn: api.send("POST", path, body, key=key, conn=conn)


class Money:
    """Balances and ledger before a race, to prove after it that exactly `moved` left the borrower."""

    def __init__(self, loan_id: int, borrower):
        self.loan_id, self.borrower = loan_id, borrower
        self.total = everyone()
        self.borrower_before = balance(borrower)
        self.last_pk = Transaction.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    def new_rows(self):
        return list(Transaction.objects.filter(pk__gt=self.last_pk).order_by("pk"))

    def check(self) -> Decimal:
        rows = self.new_rows()
        assert all(r.loan_id == self.loan_id and r.from_user_id == self.borrower.pk for r in rows), rows
        assert all(r.amount > 0 for r in rows)
        moved = sum((r.amount for r in rows), Decimal("0.00"))
        assert everyone() == self.total  # no cent created or lost
        assert balance(self.borrower) == self.borrower_before - moved
        return moved


def assert_paid_off(loan_id: int, quote: dict, money: Money) -> None:
    loan = Loan.objects.get(pk=loan_id)
    assert loan.status == "COMPLETED"
    assert money.check() == Decimal(quote["total"])
    assert set(loan.notes.values_list("status", flat=True)) == {"REPAID"}


def test_payoff_racing_pay_exactly_one_wins(harness, capsys):
    endings: Counter = Counter()
    for round_ in range(ROUNDS):
        loan, borrower, api, _ = funded(harness, f"pp{round_}")
        first = loan["payments"][0]
        quote = api.get(f"/api/loans/{loan['id']}/payoff/").body
        money = Money(loan["id"], borrower)

        calls = [
            poster(api, f"/api/loans/{loan['id']}/payoff/", {"total": quote["total"]}),
            poster(api, f"/api/loans/{loan['id']}/payments/{first['id']}/pay/"),
        ]
        replies = race(*(calls if round_ % 2 == 0 else calls[::-1]), connect=api.connect)
        payoff, pay = replies if round_ % 2 == 0 else replies[::-1]

        assert [payoff.status, pay.status].count(200) == 1, (payoff.outcome, pay.outcome)
        if payoff.status == 200:
            assert pay.code in {"already_paid", "conflict"}, pay.outcome
            assert_paid_off(loan["id"], quote, money)
            assert not Payment.objects.get(pk=first["id"]).paid  # settled, not paid
        else:
            assert payoff.code in {"quote_changed", "conflict"}, payoff.outcome
            assert Loan.objects.get(pk=loan["id"]).status == "FUNDED"
            assert money.check() == Decimal(first["amount"])
            assert Payment.objects.get(pk=first["id"]).paid
        endings["payoff won" if payoff.status == 200 else "pay won"] += 1
        checks = assert_audit_clean()
    show(capsys, "payoff vs pay", {**endings, "invariant checks": checks})


def test_payoff_racing_the_autopay_sweep_exactly_one_wins(harness, monkeypatch, capsys):
    real_now = timezone.now
    offset = {"by": datetime.timedelta()}
    monkeypatch.setattr(timezone, "now", lambda: real_now() + offset["by"])
    endings: Counter = Counter()
    for round_ in range(ROUNDS):
        offset["by"] = datetime.timedelta()
        loan, borrower, api, _ = funded(harness, f"pa{round_}")
        assert api.post(f"/api/loans/{loan['id']}/autopay/", {"enabled": True}).status == 200
        first = loan["payments"][0]
        due = datetime.date.fromisoformat(first["due_date"])
        # Today (for the server and the sweep) is installment 1's due date: autopay pays it, the payoff
        # quote counts it as due.
        offset["by"] = datetime.datetime.combine(due, datetime.time(12), tzinfo=datetime.UTC) - real_now()
        quote = api.get(f"/api/loans/{loan['id']}/payoff/").body
        assert quote["due_installments"] == [1], quote
        money = Money(loan["id"], borrower)

        calls = [
            lambda a=api, q=quote, u=f"/api/loans/{loan['id']}/payoff/": a.post(u, {"total": q["total"]}),
            lambda: call_command("run_jobs", stdout=io.StringIO()),
        ]
        replies = race(*(calls if round_ % 2 == 0 else calls[::-1]))
        payoff = replies[0] if round_ % 2 == 0 else replies[1]

        row = Payment.objects.get(pk=first["id"])
        assert row.paid  # paid either way: by autopay, or first inside the payoff
        if payoff.status == 200:
            assert_paid_off(loan["id"], quote, money)
            assert Transaction.objects.filter(kind="payoff", loan_id=loan["id"]).count() == 3
        else:
            assert payoff.code in {"quote_changed", "conflict"}, payoff.outcome
            assert Loan.objects.get(pk=loan["id"]).status == "FUNDED"
            assert money.check() == Decimal(first["amount"])  # due today: no late fee
            assert not Transaction.objects.filter(kind="payoff", loan_id=loan["id"]).exists()
        assert Transaction.objects.filter(kind="repayment", payment_id=first["id"]).count() == 3
        endings["payoff won" if payoff.status == 200 else "autopay won"] += 1
        checks = assert_audit_clean()
    show(capsys, "payoff vs autopay sweep", {**endings, "invariant checks": checks})


def test_payoff_racing_prepay_exactly_one_wins(harness, capsys):
    endings: Counter = Counter()
    for round_ in range(ROUNDS):
        loan, borrower, api, _ = funded(harness, f"pr{round_}")
        quote = api.get(f"/api/loans/{loan['id']}/payoff/").body
        money = Money(loan["id"], borrower)
        calls = [
            poster(api, f"/api/loans/{loan['id']}/payoff/", {"total": quote["total"]}),
            poster(api, f"/api/loans/{loan['id']}/prepay/", {"amount": "25.00"}),
        ]
        if round_ % 2:
            calls.reverse()

        replies = race(*calls, connect=api.connect)

        payoff, prepay = replies if round_ % 2 == 0 else replies[::-1]
        assert [payoff.status, prepay.status].count(200) == 1, (payoff.outcome, prepay.outcome)
        if payoff.status == 200:
            assert prepay.code in {"invalid_state", "conflict"}, prepay.outcome
            assert_paid_off(loan["id"], quote, money)
            assert not Transaction.objects.filter(kind="prepayment", loan_id=loan["id"]).exists()
        else:
            assert payoff.code in {"quote_changed", "conflict"}, payoff.outcome
            assert money.check() == Decimal("25.00")
            assert Loan.objects.get(pk=loan["id"]).status == "FUNDED"
            assert prepay.body["principal_outstanding"] == "75.00"
        endings["payoff won" if payoff.status == 200 else "prepay won"] += 1
        checks = assert_audit_clean()
    show(capsys, "payoff vs prepay", {**endings, "invariant checks": checks})


def test_two_payoffs_at_once_pay_off_once(harness, capsys):
    outcomes: Counter = Counter()
    for round_ in range(ROUNDS):
        loan, borrower, api, _ = funded(harness, f"p2{round_}")
        quote = api.get(f"/api/loans/{loan['id']}/payoff/").body
        money = Money(loan["id"], borrower)
        body = {"total": quote["total"]} if round_ % 2 == 0 else {}

        replies = harness.race(*((api, "POST", f"/api/loans/{loan['id']}/payoff/", body) for _ in range(3)))

        assert [r.status for r in replies].count(200) == 1, [r.outcome for r in replies]
        assert {r.code for r in replies if r.status != 200} <= {"invalid_state", "conflict"}
        assert_paid_off(loan["id"], quote, money)
        assert Transaction.objects.filter(kind="payoff", loan_id=loan["id"]).count() == 3
        outcomes.update(r.outcome for r in replies)
        checks = assert_audit_clean()
    show(capsys, "two payoffs at once", {**outcomes, "invariant checks": checks})


def test_the_same_keyed_payoff_sent_twice_at_once_moves_money_once(harness, capsys):
    loan, borrower, api, _ = funded(harness, "pk")
    quote = api.get(f"/api/loans/{loan['id']}/payoff/").body
    money = Money(loan["id"], borrower)
    path = f"/api/loans/{loan['id']}/payoff/"

    replies = race(
        *(poster(api, path, {"total": quote["total"]}, key="payoff-once") for _ in range(3)),
        connect=api.connect,
    )

    outcomes = Counter(r.outcome for r in replies)
    assert set(outcomes) <= {"200", "409 idempotency_in_flight"} and outcomes["200"] >= 1, outcomes
    bodies = {r.raw for r in replies if r.status == 200}
    assert len(bodies) == 1  # a replay is the first answer, byte for byte
    assert_paid_off(loan["id"], quote, money)
    again = api.send("POST", path, {"total": quote["total"]}, key="payoff-once")
    assert again.status == 200 and again.raw in bodies and again.headers.get("idempotent-replayed") == "true"
    assert money.check() == Decimal(quote["total"])
    checks = assert_audit_clean()
    show(capsys, "keyed payoff x3", {**outcomes, "invariant checks": checks})


def test_prepay_racing_pay_keeps_every_note_consistent(harness, capsys):
    """Not one winner here: both may succeed in either order. Whatever the order, every cent is
    accounted for, each loan row is the sum of its notes' rows and each note's principal is its amount
    less what it received."""
    outcomes: Counter = Counter()
    for round_ in range(ROUNDS):
        loan, borrower, api, _ = funded(harness, f"rp{round_}")
        first = loan["payments"][0]
        money = Money(loan["id"], borrower)

        prepay, pay = race(
            poster(api, f"/api/loans/{loan['id']}/prepay/", {"amount": "30.00"}),
            poster(api, f"/api/loans/{loan['id']}/payments/{first['id']}/pay/"),
            connect=api.connect,
        )

        assert (prepay.status, pay.status) == (200, 200), (prepay.outcome, pay.outcome)
        moved = money.check()
        paid_row = Payment.objects.get(pk=first["id"])
        assert paid_row.paid and moved == Decimal("30.00") + paid_row.amount
        for payment in Payment.objects.filter(loan_id=loan["id"]):
            rows = payment.note_rows.all()
            assert payment.amount == sum(r.amount for r in rows) and payment.principal == sum(r.principal for r in rows)
        for note in Loan.objects.get(pk=loan["id"]).notes.all():
            received = (
                Transaction.objects.filter(loan_note=note, kind="prepayment").aggregate(t=Sum("amount"))["t"] or 0
            )
            paid_principal = sum(r.principal for r in note.rows.filter(payment__paid=True))
            unpaid = sum(r.principal for r in note.rows.filter(payment__paid=False))
            assert paid_principal + received + unpaid == note.amount
        outcomes["prepay first" if prepay.body["payments"][0]["paid"] is False else "pay first"] += 1
        checks = assert_audit_clean()
    show(capsys, "prepay vs pay", {**outcomes, "invariant checks": checks})
