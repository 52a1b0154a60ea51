"""(v2) Payoff and prepayment through the API: the money moved per note, the rows left behind, the late
fee owed by a late payment, and the errors that move nothing. Expected figures are computed here from
API.md's words (delinquency_helpers.ref_schedule, ref_round), not by the production functions."""

import datetime
import re
from decimal import Decimal as D
from fractions import Fraction

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Profile, Transaction
from loans import jobs
from loans.models import Loan, Note, NotePayment, Payment
from tests import factories
from tests.conftest import client_for
from tests.loans.delinquency_helpers import funded_loan, ref_round, ref_schedule
from tests.loans.test_notes import ref_split

pytestmark = pytest.mark.django_db

TODAY = timezone.localdate


def assert_audit_clean():
    report = audit()
    assert report.ok, [str(v) for v in report.violations]


@pytest.fixture
def two_notes(borrower):
    """1000.00 over 6 months: 600.00 at 10.00% (lender a) and 400.00 at 14.00% (lender b)."""
    la = factories.UserFactory(username="note_a", balance=D("5000.00"))
    lb = factories.UserFactory(username="note_b", balance=D("5000.00"))
    loan = funded_loan(borrower, [(la, "10.00", "600.00"), (lb, "14.00", None)], amount="1000.00", term=6)
    factories.account_deposit(user=borrower, amount=D("2000.00"))
    return loan, borrower, la, lb


def shift_back(loan: Loan, days: int) -> None:
    """Time has passed: the loan was funded `days` days earlier than it was, its due dates with it."""
    delta = datetime.timedelta(days=days)
    Loan.objects.filter(pk=loan.pk).update(funded_at=loan.funded_at - delta)
    for p in Payment.objects.filter(loan=loan):
        Payment.objects.filter(pk=p.pk).update(due_date=p.due_date - delta)
    loan.refresh_from_db()


def funding_day(loan: Loan) -> datetime.date:
    return loan.funded_at.astimezone(datetime.UTC).date()


def balance(user) -> D:
    return Profile.objects.get(user=user).balance


def quote(user, loan_id: int, as_of: datetime.date | None = None):
    path = f"/api/loans/{loan_id}/payoff/" + (f"?as_of={as_of.isoformat()}" if as_of else "")
    return client_for(user).get(path)


def post(user, path: str, body: dict | None = None, **headers):
    return client_for(user).post(path, body or {}, format="json", headers=headers)


def ref_accrued(principal: D, rate: str, days: int, period: int) -> D:
    return ref_round(Fraction(principal) * Fraction(D(rate)) / 1200 * days / period)


def test_quote_ten_days_after_funding_is_principal_plus_actual_day_interest_per_note(two_notes):
    loan, borrower, la, lb = two_notes
    start = funding_day(loan)
    first_due = Payment.objects.get(loan=loan, number=1).due_date
    period = (first_due - start).days
    as_of = start + datetime.timedelta(days=10)
    if as_of < TODAY():  # pragma: no cover - the loan is funded today
        pytest.skip("funded in the past")

    body = quote(borrower, loan.pk, as_of).json()

    accrued = ref_accrued(D("600.00"), "10.00", 10, period) + ref_accrued(D("400.00"), "14.00", 10, period)
    assert body == {
        "loan": loan.pk,
        "as_of": as_of.isoformat(),
        "due_installments": [],
        "due_amount": "0.00",
        "principal_outstanding": "1000.00",
        "accrued_interest": f"{accrued}",
        "total": f"{D('1000.00') + accrued}",
    }
    # On the day of funding nothing has accrued; each lender sees the same quote; a stranger does not.
    assert quote(la, loan.pk).json()["total"] == "1000.00"
    assert quote(lb, loan.pk).json()["accrued_interest"] == "0.00"


def test_payoff_pays_due_installments_with_their_late_fee_then_one_payoff_row_per_note(two_notes, settings):
    settings.LENME_LATE_FEE = D("5.00")
    loan, borrower, la, lb = two_notes
    # Installment 1 fell due 12 days ago; no sweep has marked it.
    first_due = Payment.objects.get(loan=loan, number=1).due_date
    shift_back(loan, (first_due - TODAY()).days + 12)
    p1 = Payment.objects.get(loan=loan, number=1)
    p2 = Payment.objects.get(loan=loan, number=2)
    assert not p1.overdue
    rows_a = ref_schedule("600.00", "10.00", 6)
    rows_b = ref_schedule("400.00", "14.00", 6)
    period = (p2.due_date - p1.due_date).days
    left_a = sum((p for _, p, _ in rows_a[1:]), D("0"))
    left_b = sum((p for _, p, _ in rows_b[1:]), D("0"))
    acc_a = ref_accrued(left_a, "10.00", 12, period)
    acc_b = ref_accrued(left_b, "14.00", 12, period)
    due = rows_a[0][0] + rows_b[0][0] + D("5.00")
    expected_total = due + left_a + left_b + acc_a + acc_b

    body = quote(borrower, loan.pk).json()
    assert body["due_installments"] == [1] and body["due_amount"] == f"{due}"
    assert body["total"] == f"{expected_total}"
    before = {u.pk: balance(u) for u in (borrower, la, lb)}

    response = post(borrower, f"/api/loans/{loan.pk}/payoff/", {"total": body["total"]})

    assert response.status_code == 200, response.content
    loan_body = response.json()
    assert loan_body["status"] == "COMPLETED" and loan_body["closed_reason"] == "prepaid"
    assert [p["status"] for p in loan_body["payments"]] == ["paid"] + ["settled"] * 5
    assert all(p["paid"] is False for p in loan_body["payments"][1:])
    assert loan_body["payments"][0]["late_fee"] == "5.00"
    assert balance(borrower) == before[borrower.pk] - expected_total
    payoff_rows = Transaction.objects.filter(loan=loan, kind="payoff").order_by("loan_note_id")
    assert [(t.to_user_id, t.amount) for t in payoff_rows] == [
        (la.pk, left_a + acc_a),
        (lb.pk, left_b + acc_b),
    ]
    assert set(Note.objects.filter(loan=loan).values_list("status", flat=True)) == {"REPAID"}
    for lender, amount, rows, acc in ((la, "600.00", rows_a, acc_a), (lb, "400.00", rows_b, acc_b)):
        note = client_for(lender).get(f"/api/notes/{Note.objects.get(loan=loan, lender=lender).pk}/").json()
        assert note["principal_repaid"] == amount and note["principal_outstanding"] == "0.00"
        assert note["interest_received"] == f"{rows[0][2] + acc}"
    assert_audit_clean()
    # Everything after is refused: the loan is COMPLETED and its installments paid or settled.
    again = post(borrower, f"/api/loans/{loan.pk}/payoff/")
    assert again.status_code == 409 and again.json()["code"] == "invalid_state"
    assert post(borrower, f"/api/loans/{loan.pk}/payments/{p2.pk}/pay/").json()["code"] == "already_paid"


def test_pay_after_the_due_date_owes_the_late_fee_before_any_sweep(two_notes, settings):
    settings.LENME_LATE_FEE = D("7.00")
    loan, borrower, la, lb = two_notes
    first_due = Payment.objects.get(loan=loan, number=1).due_date
    shift_back(loan, (first_due - TODAY()).days + 1)  # due yesterday
    p1 = Payment.objects.get(loan=loan, number=1)
    before = balance(borrower)

    response = post(borrower, f"/api/loans/{loan.pk}/payments/{p1.pk}/pay/")

    assert response.status_code == 200, response.content
    assert response.json()["late_fee"] == "7.00" and response.json()["overdue"] is True
    assert balance(borrower) == before - p1.amount - D("7.00")
    # The fee is split over the notes by their rows' amounts; a later sweep adds nothing.
    jobs.sweep(today=TODAY())
    assert Payment.objects.get(pk=p1.pk).late_fee == D("7.00")
    assert NotePayment.objects.filter(payment=p1).aggregate(s=Sum("late_fee"))["s"] == D("7.00")
    assert_audit_clean()


def test_autopay_on_a_later_day_owes_the_late_fee_once(two_notes, settings):
    settings.LENME_LATE_FEE = D("3.00")
    loan, borrower, *_ = two_notes
    Loan.objects.filter(pk=loan.pk).update(autopay=True)
    p1 = Payment.objects.get(loan=loan, number=1)
    jobs.sweep(today=p1.due_date + datetime.timedelta(days=2))
    p1.refresh_from_db()
    assert p1.paid and p1.late_fee == D("3.00")
    assert_audit_clean()


def test_a_quote_for_a_later_day_counts_the_fee_the_installment_will_owe(two_notes, settings):
    settings.LENME_LATE_FEE = D("4.00")
    loan, borrower, *_ = two_notes
    p1, p2 = Payment.objects.filter(loan=loan).order_by("number")[:2]
    on_due = quote(borrower, loan.pk, p1.due_date).json()
    after = quote(borrower, loan.pk, p1.due_date + datetime.timedelta(days=1)).json()
    assert on_due["due_installments"] == [1] and on_due["due_amount"] == f"{p1.amount}"
    assert after["due_amount"] == f"{p1.amount + D('4.00')}"
    # As of the last due date (and after) the quote is exactly the unpaid installments.
    last = Payment.objects.filter(loan=loan).order_by("-number").first()
    on_last = quote(borrower, loan.pk, last.due_date).json()
    unpaid = Payment.objects.filter(loan=loan).aggregate(s=Sum("amount"))["s"].quantize(D("0.01"))
    fees = D("4.00") * 5  # every installment but the last is late by then
    assert on_last["accrued_interest"] == "0.00" and on_last["principal_outstanding"] == "0.00"
    assert on_last["total"] == f"{unpaid + fees}"


def test_prepay_splits_by_principal_outstanding_and_re_levels_each_note(two_notes):
    loan, borrower, la, lb = two_notes
    p1 = Payment.objects.get(loan=loan, number=1)
    assert post(borrower, f"/api/loans/{loan.pk}/payments/{p1.pk}/pay/").status_code == 200
    rows_a = ref_schedule("600.00", "10.00", 6)
    rows_b = ref_schedule("400.00", "14.00", 6)
    out_a = D("600.00") - rows_a[0][1]
    out_b = D("400.00") - rows_b[0][1]
    # 250.00 over (out_a, out_b): floors, then the missing cents to the largest remainders.
    part_a, part_b = ref_split(D("250.00"), [out_a, out_b])
    assert part_a + part_b == D("250.00")

    response = post(borrower, f"/api/loans/{loan.pk}/prepay/", {"amount": "250.00"})

    assert response.status_code == 200, response.content
    prepaid = Transaction.objects.filter(loan=loan, kind="prepayment").order_by("loan_note_id")
    assert [(t.to_user_id, t.amount) for t in prepaid] == [(la.pk, part_a), (lb.pk, part_b)]
    for lender, rate, old_rows, out, part in (
        (la, "10.00", rows_a, out_a, part_a),
        (lb, "14.00", rows_b, out_b, part_b),
    ):
        note = Note.objects.get(loan=loan, lender=lender)
        got = list(note.rows.filter(number__gt=1).order_by("number").values_list("amount", "principal", "interest"))
        fresh = ref_schedule(f"{out - part}", rate, 5)
        first_interest = old_rows[1][2]
        expected = [(first_interest + fresh[0][1], fresh[0][1], first_interest)] + fresh[1:]
        assert got == expected
    # The loan's unpaid installments are the sums of the notes' rows again.
    body = response.json()
    for p in body["payments"][1:]:
        sums = NotePayment.objects.filter(payment_id=p["id"]).aggregate(a=Sum("amount"), p=Sum("principal"))
        assert (p["amount"], p["principal"]) == (f"{sums['a']:.2f}", f"{sums['p']:.2f}")
    assert body["principal_outstanding"] == f"{out_a + out_b - D('250.00')}"
    assert_audit_clean()
    # Paying the rest as scheduled completes the loan with every note's principal repaid exactly.
    for p in Payment.objects.filter(loan=loan, paid=False).order_by("number"):
        assert post(borrower, f"/api/loans/{loan.pk}/payments/{p.pk}/pay/").status_code == 200
    loan.refresh_from_db()
    assert loan.status == "COMPLETED" and loan.closed_reason == "repaid"
    for lender, amount in ((la, "600.00"), (lb, "400.00")):
        note = client_for(lender).get(f"/api/notes/{Note.objects.get(loan=loan, lender=lender).pk}/").json()
        assert note["principal_repaid"] == amount
    assert_audit_clean()


def snapshot():
    return (
        Transaction.objects.count(),
        list(Profile.objects.order_by("pk").values_list("balance", "reserved_balance")),
        list(Payment.objects.order_by("pk").values_list("amount", "principal", "late_fee", "paid", "settled")),
        list(NotePayment.objects.order_by("pk").values_list("amount", "principal", "interest")),
    )


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"amount": "0"}, 400, "validation_error"),
        ({"amount": "-5.00"}, 400, "validation_error"),
        ({"amount": "1.005"}, 400, "validation_error"),
        ({"amount": "1000.00"}, 400, "validation_error"),  # not below the principal outstanding
        ({"amount": "abc"}, 400, "validation_error"),
        ({}, 400, "validation_error"),
        ({"amount": "999999.00"}, 400, "validation_error"),
    ],
)
def test_prepay_bad_amounts_are_400_and_move_nothing(two_notes, body, status, code):
    loan, borrower, *_ = two_notes
    before = snapshot()
    response = post(borrower, f"/api/loans/{loan.pk}/prepay/", body)
    assert (response.status_code, response.json()["code"]) == (status, code), response.content
    assert snapshot() == before


def test_prepay_and_payoff_refusals_move_nothing(two_notes, stranger):
    loan, borrower, la, _ = two_notes
    before = snapshot()
    p1 = Payment.objects.get(loan=loan, number=1)
    cases = [
        (post(la, f"/api/loans/{loan.pk}/prepay/", {"amount": "10.00"}), 403, "permission_denied"),
        (post(la, f"/api/loans/{loan.pk}/payoff/"), 403, "permission_denied"),
        (post(stranger, f"/api/loans/{loan.pk}/payoff/"), 404, "not_found"),
        (post(borrower, f"/api/loans/{loan.pk}/payoff/", {"total": "1.00"}), 409, "quote_changed"),
        (post(borrower, f"/api/loans/{loan.pk}/payoff/", {"total": "1.001"}), 400, "validation_error"),
        (quote(stranger, loan.pk), 404, "not_found"),
        (quote(borrower, loan.pk, TODAY() - datetime.timedelta(days=1)), 400, "validation_error"),
        (client_for(borrower).get(f"/api/loans/{loan.pk}/payoff/?as_of=tomorrow"), 400, "validation_error"),
        (client_for(borrower).get(f"/api/loans/{loan.pk}/payoff/?as_of=2027-1-5"), 400, "validation_error"),
    ]
    for response, status, code in cases:
        assert (response.status_code, response.json()["code"]) == (status, code), response.content
    # Overdue installment: prepay is out of order.
    Payment.objects.filter(pk=p1.pk).update(due_date=TODAY() - datetime.timedelta(days=1))
    response = post(borrower, f"/api/loans/{loan.pk}/prepay/", {"amount": "10.00"})
    assert (response.status_code, response.json()["code"]) == (409, "out_of_order")
    Payment.objects.filter(pk=p1.pk).update(due_date=p1.due_date)
    # Short of money.
    Profile.objects.filter(user=borrower).update(balance=D("5.00"))
    before = snapshot()
    assert post(borrower, f"/api/loans/{loan.pk}/payoff/").json()["code"] == "insufficient_funds"
    assert post(borrower, f"/api/loans/{loan.pk}/prepay/", {"amount": "10.00"}).json()["code"] == "insufficient_funds"
    assert snapshot() == before


def test_a_loan_not_funded_is_invalid_state_for_prepay_whatever_the_amount(borrower, lender):
    from loans import services

    loan = services.loan_create(borrower=borrower, amount=D("100.00"), term_months=2, interest_rate=D("5.00"))
    for body in ({"amount": "10.00"}, {"amount": "abc"}, {}):
        response = post(borrower, f"/api/loans/{loan.pk}/prepay/", body)
        assert (response.status_code, response.json()["code"]) == (409, "invalid_state"), body
    assert post(borrower, f"/api/loans/{loan.pk}/payoff/").json()["code"] == "invalid_state"
    assert quote(borrower, loan.pk).json()["code"] == "invalid_state"


def test_payoff_with_an_idempotency_key_replays_and_moves_money_once(two_notes):
    loan, borrower, *_ = two_notes
    first = post(borrower, f"/api/loans/{loan.pk}/payoff/", {}, **{"Idempotency-Key": "payoff-1"})
    count = Transaction.objects.count()
    second = post(borrower, f"/api/loans/{loan.pk}/payoff/", {}, **{"Idempotency-Key": "payoff-1"})
    assert first.status_code == second.status_code == 200
    assert first.content == second.content and second.headers.get("Idempotent-Replayed") == "true"
    assert Transaction.objects.count() == count
    assert_audit_clean()


def test_payoff_when_every_installment_is_due_is_repaid_not_prepaid(two_notes):
    loan, borrower, *_ = two_notes
    last = Payment.objects.filter(loan=loan).order_by("-number").first()
    shift_back(loan, (last.due_date - TODAY()).days)
    body = quote(borrower, loan.pk).json()
    assert body["due_installments"] == [1, 2, 3, 4, 5, 6] and body["accrued_interest"] == "0.00"
    response = post(borrower, f"/api/loans/{loan.pk}/payoff/", {"total": body["total"]})
    assert response.status_code == 200
    assert response.json()["closed_reason"] == "repaid"
    assert not Transaction.objects.filter(loan=loan, kind="payoff").exists()
    assert_audit_clean()


def test_the_swagger_example_is_the_contracts_arithmetic():
    """The two-note example (3000.00 at 12.00% and 2000.00 at 15.00%, quoted 10 days after funding on
    2026-01-31, period 1 ending 2026-02-28: 28 days) worked out by hand."""
    from loans import examples

    a = ref_accrued(D("3000.00"), "12.00", 10, 28)
    b = ref_accrued(D("2000.00"), "15.00", 10, 28)
    assert (a, b) == (D("10.71"), D("8.93"))
    assert examples.PAYOFF_QUOTE_TWO_NOTES.value == {
        "loan": 2, "as_of": "2026-02-10", "due_installments": [], "due_amount": "0.00",
        "principal_outstanding": "5000.00", "accrued_interest": "19.64", "total": "5019.64",
    }  # fmt: skip


def test_the_audit_catches_a_tampered_prepayment_or_payoff(two_notes):
    loan, borrower, *_ = two_notes
    assert post(borrower, f"/api/loans/{loan.pk}/prepay/", {"amount": "100.00"}).status_code == 200
    assert_audit_clean()
    row = NotePayment.objects.filter(payment__loan=loan).order_by("-number").first()
    NotePayment.objects.filter(pk=row.pk).update(principal=row.principal + D("0.01"))
    assert {v.check for v in audit().violations} >= {"schedule", "notes"}
    NotePayment.objects.filter(pk=row.pk).update(principal=row.principal)
    assert_audit_clean()

    assert post(borrower, f"/api/loans/{loan.pk}/payoff/").status_code == 200
    assert_audit_clean()
    last = Payment.objects.filter(loan=loan).order_by("-number").first()
    Payment.objects.filter(pk=last.pk).update(settled=False)  # a payoff that left an installment open
    assert any("unpaid installment" in v.detail for v in audit().violations)
    Payment.objects.filter(pk=last.pk).update(settled=True)
    Loan.objects.filter(pk=loan.pk).update(closed_reason="repaid")  # a payoff row on a loan repaid as scheduled
    assert any("payoff row" in v.detail or "settled installments" in v.detail for v in audit().violations)


@pytest.mark.parametrize("total", ["0", "0.00", -1, "-5.00", "1e3", "NaN"])
def test_a_payoff_total_that_is_not_a_positive_amount_is_400(two_notes, total):
    loan, borrower, *_ = two_notes
    before = snapshot()
    response = post(borrower, f"/api/loans/{loan.pk}/payoff/", {"total": total})
    assert (response.status_code, response.json()["code"]) == (400, "validation_error")
    assert snapshot() == before


def _loan_with_notes(borrower, n: int):
    from tests.loans.test_notes import many_offers

    loan, people = many_offers(borrower, n)
    from loans import services

    services.loan_accept(loan_id=loan.pk, borrower=borrower)
    for lender in people:
        services.loan_fund(loan_id=loan.pk, lender=lender)
    factories.account_deposit(user=borrower, amount=D("5000.00"))
    return loan


@pytest.mark.parametrize("n", [1, 8, 40])
def test_quote_prepay_and_payoff_take_a_number_of_queries_that_does_not_grow_with_notes(
    borrower, n, django_assert_max_num_queries
):
    loan = _loan_with_notes(borrower, n)
    with django_assert_max_num_queries(5):  # auth, the loan, the installments, the notes' principal left
        assert quote(borrower, loan.pk).status_code == 200
    # PostgreSQL folds the balances with the ledger rows and the notifications with their outbox rows.
    with django_assert_max_num_queries(16 if connection.vendor == "postgresql" else 19):
        response = post(borrower, f"/api/loans/{loan.pk}/prepay/", {"amount": f"{D(25 * n) / 5:.2f}"})
    assert response.status_code == 200, response.content
    assert Transaction.objects.filter(loan=loan, kind="prepayment").count() == n
    with django_assert_max_num_queries(16 if connection.vendor == "postgresql" else 19):
        response = post(borrower, f"/api/loans/{loan.pk}/payoff/")
    assert response.status_code == 200, response.content
    assert Transaction.objects.filter(loan=loan, kind="payoff").count() == n
    assert_audit_clean()


def test_the_prepay_swagger_example_is_the_readmes_part_3_by_the_reference():
    from loans import examples

    a, b = ref_schedule("400.00", "9.00", 3), ref_schedule("200.00", "12.00", 3)
    first_interest = ref_schedule("600.00", "9.00", 3)[0][2] + ref_schedule("300.00", "12.00", 3)[0][2]
    expected = [(first_interest + a[0][1] + b[0][1], first_interest)] + [
        (a[k][0] + b[k][0], a[k][2] + b[k][2]) for k in (1, 2)
    ]
    got = [(D(p["amount"]), D(p["interest"])) for p in examples.LOAN_PREPAID.value["payments"]]
    assert got == expected == [(D("205.84"), D("7.50")), (D("203.35"), D("3.35")), (D("203.34"), D("1.68"))]


def test_payoff_ledger_rows_say_their_principal_and_interest_in_cents(two_notes):
    loan, borrower, *_ = two_notes
    assert post(borrower, f"/api/loans/{loan.pk}/payoff/").status_code == 200
    notes = list(Transaction.objects.filter(loan=loan, kind="payoff").order_by("pk").values_list("note", flat=True))
    assert len(notes) == 2
    for text in notes:
        principal = text.split("principal ")[1].split(",")[0]
        interest = text.split("interest ")[1]
        assert re.fullmatch(r"\d+\.\d\d", principal) and re.fullmatch(r"\d+\.\d\d", interest), text
