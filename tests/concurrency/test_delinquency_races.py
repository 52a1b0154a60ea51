"""Two sweeps at once over 50 loans with overdue rows, on PostgreSQL: every loan aged and charged off
exactly once, one late fee per installment, one loan_defaulted per user per loan, the audit clean."""

import datetime
import threading
from collections import Counter
from decimal import Decimal

import pytest
from django.db import connection

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
