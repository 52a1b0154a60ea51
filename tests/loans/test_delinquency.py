"""Delinquency (v2): days past due and their buckets, set by the sweep (as of its day) and by every
payment; charge-off at LENME_CHARGE_OFF_DAYS with notes CHARGED_OFF, notifications and no money moved;
pay and autopay on a DEFAULTED loan counting recoveries and completing it. The audit stays clean."""

import datetime
from collections import Counter
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.audit import audit
from accounts.models import Profile, Transaction
from loans import jobs, services
from loans.delinquency import delinquency_bucket
from loans.models import Loan, Note, NotePayment, Notification, Payment
from tests import factories
from tests.conftest import client_for
from tests.loans.delinquency_helpers import due_date, funded_loan, ref_schedule

pytestmark = pytest.mark.django_db
D = Decimal


def assert_audit_clean() -> None:
    report = audit()
    assert report.ok, [str(v) for v in report.violations[:10]]


@pytest.fixture
def people(db):
    borrower = factories.UserFactory(username="b", balance=D("100.00"))
    la = factories.UserFactory(username="la", balance=D("10000.00"))
    lb = factories.UserFactory(username="lb", balance=D("10000.00"))
    return borrower, la, lb


@pytest.fixture
def two_note_loan(people, settings):
    """1000.00 over 6 months: la 600.00 at 10.00%, lb 400.00 at 14.00%."""
    settings.LENME_LATE_FEE = D("5.00")
    borrower, la, lb = people
    loan = funded_loan(borrower, [(la, "10.00", "600.00"), (lb, "14.00", "400.00")], amount="1000.00", term=6)
    return loan, borrower, la, lb


def get_loan(user, loan_id: int) -> dict:
    response = client_for(user).get(f"/api/loans/{loan_id}/")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.mark.parametrize(
    "days, bucket",
    [(0, "current"), (1, "grace"), (15, "grace"), (16, "late_16_30"), (30, "late_16_30"), (31, "late_31_120"),
     (120, "late_31_120"), (121, "default"), (400, "default")],
)  # fmt: skip
def test_bucket_boundaries(days, bucket):
    assert delinquency_bucket(days) == bucket


def test_sweep_sets_days_past_due_as_of_its_day_through_every_bucket(two_note_loan, settings):
    settings.LENME_CHARGE_OFF_DAYS = 1000  # no charge-off here
    loan, borrower, la, _ = two_note_loan
    first = due_date(loan, 1)
    assert get_loan(borrower, loan.pk)["days_past_due"] == 0
    expected = [(0, "current"), (1, "grace"), (15, "grace"), (16, "late_16_30"), (30, "late_16_30"),
                (31, "late_31_120"), (120, "late_31_120"), (121, "default")]  # fmt: skip
    for days, bucket in expected:
        jobs.sweep(today=first + datetime.timedelta(days=days))
        for who in (borrower, la):
            body = get_loan(who, loan.pk)
            assert (body["days_past_due"], body["delinquency"]) == (days, bucket), days
    # the due date itself is not past due: installment 1 due today counts 0 days
    jobs.sweep(today=first)
    assert Loan.objects.get(pk=loan.pk).days_past_due == 0
    assert_audit_clean()


def test_the_sweep_is_idempotent_on_the_same_day(two_note_loan):
    loan, *_ = two_note_loan
    day = due_date(loan, 1) + datetime.timedelta(days=10)
    first = jobs.sweep(today=day)
    second = jobs.sweep(today=day)
    assert first.counts["days_past_due_set"] == 1 and second.counts["days_past_due_set"] == 0
    assert Loan.objects.get(pk=loan.pk).days_past_due == 10


def test_days_past_due_counts_from_the_oldest_unpaid_installment_and_payments_set_it(two_note_loan):
    loan, borrower, *_ = two_note_loan
    today = timezone.localdate()
    # Time has passed: installment 1 was due 40 days ago, installment 2 ten days ago.
    Payment.objects.filter(loan=loan, number=1).update(due_date=today - datetime.timedelta(days=40))
    Payment.objects.filter(loan=loan, number=2).update(due_date=today - datetime.timedelta(days=10))
    jobs.sweep(today=today)
    assert Loan.objects.get(pk=loan.pk).days_past_due == 40
    factories.account_deposit(user=borrower, amount=D("1000.00"))
    api = client_for(borrower)
    p1, p2, p3 = Payment.objects.filter(loan=loan).order_by("number")[:3]
    assert api.post(f"/api/loans/{loan.pk}/payments/{p1.pk}/pay/").status_code == 200
    body = get_loan(borrower, loan.pk)
    assert (body["days_past_due"], body["delinquency"]) == (10, "grace")  # as of the payment's day
    assert api.post(f"/api/loans/{loan.pk}/payments/{p2.pk}/pay/").status_code == 200
    assert (get_loan(borrower, loan.pk)["days_past_due"]) == 0
    assert_audit_clean()


def test_charge_off_at_exactly_the_threshold_moves_no_money_and_notifies_each_party_once(two_note_loan, settings):
    settings.LENME_CHARGE_OFF_DAYS = 120
    loan, borrower, la, lb = two_note_loan
    first = due_date(loan, 1)
    jobs.sweep(today=first + datetime.timedelta(days=119))
    assert Loan.objects.get(pk=loan.pk).status == "FUNDED"
    ledger_before = list(Transaction.objects.order_by("pk").values_list("pk", "amount"))
    balances_before = list(Profile.objects.order_by("pk").values_list("balance", "reserved_balance"))

    run = jobs.sweep(today=first + datetime.timedelta(days=120))

    assert run.counts["charged_off"] == 1
    loan.refresh_from_db()
    assert loan.status == "DEFAULTED" and loan.defaulted_at is not None and loan.days_past_due == 120
    assert list(Transaction.objects.order_by("pk").values_list("pk", "amount")) == ledger_before
    assert list(Profile.objects.order_by("pk").values_list("balance", "reserved_balance")) == balances_before
    # Nothing was paid: each note's charged-off principal is its whole amount, by the reference schedule.
    for lender, amount, rate in ((la, "600.00", "10.00"), (lb, "400.00", "14.00")):
        note = Note.objects.get(loan=loan, lender=lender)
        assert note.status == "CHARGED_OFF"
        assert note.charged_off_principal == sum(p for _, p, _ in ref_schedule(amount, rate, 6)) == D(amount)
        body = client_for(lender).get(f"/api/notes/{note.pk}/").json()
        assert body["charged_off_principal"] == amount and body["recoveries"] == "0.00"
        assert body["status"] == "CHARGED_OFF"
    body = get_loan(la, loan.pk)
    assert body["status"] == "DEFAULTED" and body["defaulted_at"] is not None
    kinds = Counter(Notification.objects.filter(kind="loan_defaulted").values_list("user_id", "loan_id"))
    assert kinds == {(borrower.pk, loan.pk): 1, (la.pk, loan.pk): 1, (lb.pk, loan.pk): 1}

    again = jobs.sweep(today=first + datetime.timedelta(days=120))
    assert again.counts["charged_off"] == 0 and again.counts["days_past_due_set"] == 0
    assert Notification.objects.filter(kind="loan_defaulted").count() == 3
    jobs.sweep(today=first + datetime.timedelta(days=200))  # a DEFAULTED loan keeps ageing
    assert Loan.objects.get(pk=loan.pk).days_past_due == 200
    assert get_loan(borrower, loan.pk)["delinquency"] == "default"
    assert Notification.objects.filter(kind="loan_defaulted").count() == 3
    assert_audit_clean()


def test_a_partly_paid_loan_charges_off_each_notes_unpaid_principal(two_note_loan, settings):
    loan, borrower, la, lb = two_note_loan
    p1 = Payment.objects.get(loan=loan, number=1)
    services.payment_pay(loan_id=loan.pk, payment_id=p1.pk, borrower=borrower)
    jobs.sweep(today=due_date(loan, 2) + datetime.timedelta(days=settings.LENME_CHARGE_OFF_DAYS))
    for lender, amount, rate in ((la, "600.00", "10.00"), (lb, "400.00", "14.00")):
        rows = ref_schedule(amount, rate, 6)
        note = Note.objects.get(loan=loan, lender=lender)
        assert note.charged_off_principal == D(amount) - rows[0][1]
    assert_audit_clean()


def charge_off(loan, settings) -> datetime.date:
    oldest = Payment.objects.filter(loan=loan, paid=False).order_by("number").first().due_date
    day = oldest + datetime.timedelta(days=settings.LENME_CHARGE_OFF_DAYS)
    jobs.sweep(today=day)
    assert Loan.objects.get(pk=loan.pk).status == "DEFAULTED"
    return day


def test_paying_a_defaulted_loan_counts_recoveries_and_completes_it(two_note_loan, settings):
    loan, borrower, la, lb = two_note_loan
    charge_off(loan, settings)  # every installment is overdue now: a 5.00 late fee each
    marker = Transaction.objects.order_by("-pk").values_list("pk", flat=True).first()
    factories.account_deposit(user=borrower, amount=D("2000.00"))
    api = client_for(borrower)
    for p in Payment.objects.filter(loan=loan).order_by("number"):
        response = api.post(f"/api/loans/{loan.pk}/payments/{p.pk}/pay/")
        assert response.status_code == 200, response.content
        assert_audit_clean()

    loan.refresh_from_db()
    assert loan.status == "COMPLETED" and loan.days_past_due == 0
    for lender, amount in ((la, "600.00"), (lb, "400.00")):
        note = Note.objects.get(loan=loan, lender=lender)
        body = client_for(lender).get(f"/api/notes/{note.pk}/").json()
        received = sum(
            Transaction.objects.filter(pk__gt=marker, to_user=lender, loan_note=note).values_list("amount", flat=True),
            D("0.00"),
        )
        assert body["status"] == "REPAID" and body["charged_off_principal"] == amount  # kept
        assert D(body["recoveries"]) == received > 0
        assert D(body["principal_repaid"]) + D(body["interest_received"]) + D(body["late_fees_received"]) == received
        assert D(body["principal_repaid"]) + D(body["principal_outstanding"]) == D(amount)
    assert Counter(Notification.objects.filter(kind="loan_completed").values_list("user_id", flat=True)) == {
        borrower.pk: 1,
        la.pk: 1,
        lb.pk: 1,
    }
    assert_audit_clean()


def test_autopay_pays_a_defaulted_loan_as_of_the_sweeps_day(two_note_loan, settings):
    loan, borrower, la, lb = two_note_loan
    day = charge_off(loan, settings)
    services.loan_autopay_set(loan_id=loan.pk, borrower=borrower, enabled=True)
    factories.account_deposit(user=borrower, amount=D("2000.00"))
    jobs.sweep(today=day + datetime.timedelta(days=200))  # after the last due date: everything is due
    loan.refresh_from_db()
    assert loan.status == "COMPLETED"
    for note in Note.objects.filter(loan=loan):
        assert note.status == "REPAID" and note.charged_off_principal == note.amount
        paid = NotePayment.objects.filter(note=note, payment__paid=True)
        assert sum(paid.values_list("principal", flat=True), D("0")) == note.amount
    assert_audit_clean()


def test_every_note_keeps_amount_equal_to_repaid_plus_outstanding(two_note_loan, settings):
    loan, borrower, la, lb = two_note_loan
    services.payment_pay(loan_id=loan.pk, payment_id=Payment.objects.get(loan=loan, number=1).pk, borrower=borrower)
    charge_off(loan, settings)
    factories.account_deposit(user=borrower, amount=D("300.00"))
    services.payment_pay(loan_id=loan.pk, payment_id=Payment.objects.get(loan=loan, number=2).pk, borrower=borrower)
    for lender in (la, lb):
        for body in client_for(lender).get("/api/notes/").json()["results"]:
            assert D(body["principal_repaid"]) + D(body["principal_outstanding"]) == D(body["amount"])
            assert D(body["recoveries"]) > 0
    assert_audit_clean()


def test_delinquency_is_the_parties_business_only(two_note_loan, settings):
    """A lender whose offer was rejected can still see the loan, but not how late it is."""
    la = two_note_loan[2]
    borrower = factories.UserFactory(username="b2")
    loan = services.loan_create(borrower=borrower, amount=D("100.00"), term_months=2, interest_rate=D("20.00"))
    outsider = factories.UserFactory(username="out", balance=D("1000.00"))
    winner = services.offer_submit(loan_id=loan.pk, lender=la, interest_rate=D("10.00"))
    services.offer_submit(loan_id=loan.pk, lender=outsider, interest_rate=D("12.00"))
    services.loan_accept(loan_id=loan.pk, borrower=borrower, offer_ids=[winner.pk])
    services.loan_fund(loan_id=loan.pk, lender=la)
    jobs.sweep(today=due_date(loan, 1) + datetime.timedelta(days=settings.LENME_CHARGE_OFF_DAYS))
    body = get_loan(outsider, loan.pk)
    assert body["status"] == "DEFAULTED"
    assert (body["days_past_due"], body["delinquency"], body["defaulted_at"], body["payments"]) == (
        None,
        None,
        None,
        [],
    )
    mine = get_loan(la, loan.pk)
    assert mine["days_past_due"] == settings.LENME_CHARGE_OFF_DAYS and mine["defaulted_at"] is not None


def test_pay_on_a_defaulted_loan_still_refuses_out_of_order_and_paid(two_note_loan, settings):
    loan, borrower, *_ = two_note_loan
    charge_off(loan, settings)
    factories.account_deposit(user=borrower, amount=D("2000.00"))
    api = client_for(borrower)
    p1, p2 = Payment.objects.filter(loan=loan).order_by("number")[:2]
    assert api.post(f"/api/loans/{loan.pk}/payments/{p2.pk}/pay/").json()["code"] == "out_of_order"
    assert api.post(f"/api/loans/{loan.pk}/payments/{p1.pk}/pay/").status_code == 200
    assert api.post(f"/api/loans/{loan.pk}/payments/{p1.pk}/pay/").json()["code"] == "already_paid"
    assert Payment.objects.filter(loan=loan, paid=True).count() == 1


def test_a_defaulted_loan_still_reminds_its_borrower_of_installments_coming_due(two_note_loan, settings):
    """Rule 5 holds for every installment: a DEFAULTED loan still takes payments, so the borrower is
    reminded of the ones still to come due, once each, as on a FUNDED loan."""
    loan, borrower, la, lb = two_note_loan
    charge_off(loan, settings)
    last = Payment.objects.get(loan=loan, number=6)
    assert not last.paid and last.reminder_sent_at is None
    day = last.due_date - datetime.timedelta(days=settings.LENME_REMINDER_DAYS)
    assert jobs.sweep(today=day).counts["reminders"] == 1
    assert jobs.sweep(today=day).counts["reminders"] == 0
    last.refresh_from_db()
    assert last.reminder_sent_at is not None
    due = Notification.objects.filter(kind="payment_due", loan=loan, user=borrower, message__contains="Installment 6")
    assert due.count() == 1
    assert not Notification.objects.filter(kind="payment_due", loan=loan).exclude(user=borrower).exists()


def test_the_sweeps_delinquency_candidates_do_not_list_every_loan_in_its_sql(people):
    """Rule 6 looks at every FUNDED or DEFAULTED loan each sweep: their ids must stay in the database
    (a subquery), not come back as one bound parameter each (SQLite refuses past 32766, and the statement
    grows with the book)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    borrower, la, _ = people
    factories.account_deposit(user=la, amount=D("100000.00"))
    loans = [funded_loan(borrower, [(la, "10.00", None)], amount="30.00", term=3) for _ in range(40)]
    today = due_date(loans[0], 1)  # nothing is past due yet: no loan is a candidate
    with CaptureQueriesContext(connection) as ctx:
        assert jobs.loans_age(today=today) == (0, 0)
    assert len(ctx.captured_queries) == 2
    for query in ctx.captured_queries:
        assert query["sql"].count(",") < 40, query["sql"]


def test_lists_show_delinquency_to_parties_only_and_each_lender_its_own_charged_off_note(two_note_loan, settings):
    """An OPEN loan is visible to everyone, its delinquency only to its borrower; on a charged-off loan
    each lender's notes page shows its own note (charged-off principal, recoveries), never the other's."""
    loan, borrower, la, lb = two_note_loan
    outsider = factories.UserFactory(username="out2", balance=D("10.00"))
    open_loan = services.loan_create(borrower=borrower, amount=D("50.00"), term_months=1, interest_rate=D("9.00"))
    listed = client_for(outsider).get("/api/loans/available/").json()["results"]
    assert [(x["id"], x["days_past_due"], x["delinquency"]) for x in listed] == [(open_loan.pk, None, None)]
    assert client_for(outsider).get(f"/api/loans/{open_loan.pk}/").json()["delinquency"] is None
    assert client_for(borrower).get(f"/api/loans/{open_loan.pk}/").json()["delinquency"] == "current"
    charge_off(loan, settings)
    p1 = Payment.objects.get(loan=loan, number=1)
    services.payment_pay(loan_id=loan.pk, payment_id=p1.pk, borrower=borrower)
    for lender in (la, lb):
        rows = client_for(lender).get(f"/api/loans/{loan.pk}/notes/").json()["results"]
        note = Note.objects.get(loan=loan, lender=lender)
        received = Transaction.objects.get(loan_note=note, kind="repayment").amount
        assert [(r["id"], r["lender"], r["charged_off_principal"], r["recoveries"]) for r in rows] == [
            (note.pk, lender.pk, f"{note.amount}", f"{received}")
        ]
        assert [x["id"] for x in client_for(lender).get("/api/notes/").json()["results"]] == [note.pk]
    assert client_for(outsider).get(f"/api/loans/{loan.pk}/notes/").status_code == 404
