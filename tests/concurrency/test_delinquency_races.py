"""Two sweeps at once over 50 loans with overdue rows, on PostgreSQL: every loan aged and charged off
exactly once, one late fee per installment, one loan_defaulted per user per loan, the audit clean."""

import datetime
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

from accounts.models import Transaction
from loans import jobs
from loans.models import Loan, Note, Notification, Payment
from tests import factories
from tests.concurrency.conftest import assert_audit_clean, show
from tests.loans.delinquency_helpers import funded_loan

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_two_sweeps_at_once_age_and_charge_off_each_loan_once(settings, capsys):
    from accounts.services import platform_user

    platform_user()
    settings.LENME_LATE_FEE = Decimal("5.00")
    settings.LENME_DB_RETRIES = 8
    borrower = factories.UserFactory(username="b")
    lenders = [factories.UserFactory(username=f"l{i}", balance=Decimal("100000.00")) for i in range(2)]
    loans = [
        funded_loan(borrower, [(lenders[0], "10.00", "60.00"), (lenders[1], "12.00", "40.00")], amount="100.00", term=3)
        for _ in range(50)
    ]
    day = max(Payment.objects.get(loan=loan, number=1).due_date for loan in loans) + datetime.timedelta(
        days=settings.LENME_CHARGE_OFF_DAYS
    )
    runs: list = [None, None]
    barrier = threading.Barrier(2)

    def sweep(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            runs[i] = jobs.sweep(today=day)
        finally:
            connection.close()

    threads = [threading.Thread(target=sweep, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    counts = [r.counts for r in runs]
    # Each loan's figure changed once and each loan was charged off once, across both sweeps.
    assert sum(c["days_past_due_set"] for c in counts) == 50
    assert sum(c["charged_off"] for c in counts) == 50
    assert sum(c["overdue"] for c in counts) == 50 * 3
    for loan in Loan.objects.filter(pk__in=[x.pk for x in loans]):
        first = Payment.objects.get(loan=loan, number=1).due_date
        assert loan.status == "DEFAULTED" and loan.days_past_due == (day - first).days
    assert set(Payment.objects.filter(loan__in=loans).values_list("late_fee", flat=True)) == {Decimal("5.00")}
    for note in Note.objects.filter(loan__in=loans):
        assert note.status == "CHARGED_OFF" and note.charged_off_principal == note.amount
    defaulted = Counter(Notification.objects.filter(kind="loan_defaulted").values_list("user_id", "loan_id"))
    assert len(defaulted) == 50 * 3 and set(defaulted.values()) == {1}
    again = jobs.sweep(today=day)
    assert again.counts["days_past_due_set"] == 0 and again.counts["charged_off"] == 0
    checked = assert_audit_clean()
    show(capsys, "two sweeps over 50 overdue loans", {"sweep counts": counts, "audit checks": checked})


def test_payments_racing_the_charge_off_sweep_are_recoveries_exactly_when_they_come_after_it(harness, settings, capsys):
    """The borrower pays installment 1 of 20 loans while a sweep on the day they reach
    LENME_CHARGE_OFF_DAYS ages them. Per loan, under its lock, one of two orders happened: paid first
    (the loan is no longer at the threshold: FUNDED, nothing charged off) or charged off first (the
    whole principal charged off, the payment a recovery). Never a mix; every pay answers 200."""
    settings.LENME_LATE_FEE = Decimal("5.00")
    borrower = factories.UserFactory(username="b", balance=Decimal("10000.00"))
    lenders = [factories.UserFactory(username=f"l{i}", balance=Decimal("100000.00")) for i in range(2)]
    loans = [
        funded_loan(borrower, [(lenders[0], "10.00", "60.00"), (lenders[1], "12.00", "40.00")], amount="100.00", term=3)
        for _ in range(20)
    ]
    first = {loan.pk: Payment.objects.get(loan=loan, number=1) for loan in loans}
    second = {loan.pk: Payment.objects.get(loan=loan, number=2).due_date for loan in loans}
    assert len({p.due_date for p in first.values()}) == 1
    day = next(iter(first.values())).due_date + datetime.timedelta(days=settings.LENME_CHARGE_OFF_DAYS)
    api = harness.api(borrower)
    replies: list = []

    def pay_all():
        for loan in loans:
            replies.append(api.post(f"/api/loans/{loan.pk}/payments/{first[loan.pk].pk}/pay/"))

    barrier = threading.Barrier(2)

    def run(job):
        try:
            barrier.wait(timeout=30)
            job()
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(job,)) for job in (pay_all, lambda: jobs.sweep(today=day))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)

    assert [r.status for r in replies] == [200] * 20, [r.raw[:200] for r in replies if r.status != 200]
    outcomes = Counter()
    for loan in Loan.objects.filter(pk__in=[x.pk for x in loans]):
        assert Payment.objects.get(pk=first[loan.pk].pk).paid
        notes = list(Note.objects.filter(loan=loan).order_by("pk"))
        if loan.status == "FUNDED":  # paid first: the sweep then saw installment 2 as the oldest unpaid
            outcomes["paid first"] += 1
            assert loan.days_past_due == (day - second[loan.pk]).days < settings.LENME_CHARGE_OFF_DAYS
            assert {(n.status, n.charged_off_principal) for n in notes} == {("ACTIVE", Decimal("0.00"))}
            assert not Notification.objects.filter(kind="loan_defaulted", loan=loan).exists()
        else:
            outcomes["charged off first"] += 1
            assert loan.status == "DEFAULTED"
            for note in notes:
                assert note.status == "CHARGED_OFF" and note.charged_off_principal == note.amount
                body = harness.api(note.lender).get(f"/api/notes/{note.pk}/").body
                receipt = Transaction.objects.get(loan_note=note, kind="repayment")
                assert receipt.created_at >= loan.defaulted_at
                assert Decimal(body["recoveries"]) == receipt.amount > 0
    assert sum(outcomes.values()) == 20
    checked = assert_audit_clean()
    show(capsys, "pay racing the charge-off sweep over 20 loans", {**outcomes, "audit checks": checked})
