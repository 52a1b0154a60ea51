"""Reading endpoints never take a row lock, so a slow money step can never make a GET wait; and they
answer while another transaction holds every row of the loan locked."""

import threading
import time

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from accounts.models import Profile
from loans.models import Loan, Offer, Payment
from tests.concurrency.conftest import show

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _funded(harness):
    borrower, lender = harness.user("reader-b"), harness.user("reader-l", "1000.00")
    b, l_ = harness.api(borrower), harness.api(lender)
    loan = b.post("/api/loans/", {"amount": "300.00", "term_months": 3, "interest_rate": "10.00"}).body
    offer = l_.post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": "9.00"}).body
    assert b.post(f"/api/loans/{loan['id']}/accept/", {"offer_id": offer["id"]}).status == 200
    funded = l_.post(f"/api/loans/{loan['id']}/fund/").body
    return borrower, lender, funded


def _read_paths(loan_id: int) -> list[str]:
    return [
        "/api/accounts/me/",
        "/api/transactions/",
        "/api/loans/",
        "/api/loans/available/",
        f"/api/loans/{loan_id}/",
        f"/api/loans/{loan_id}/offers/",
        f"/api/loans/{loan_id}/payments/",
        "/api/loans/quote/?amount=300.00&term_months=3&interest_rate=9.00",
        "/api/notifications/",
    ]


def test_get_endpoints_issue_no_for_update(harness):
    from tests.conftest import client_for

    borrower, _, loan = _funded(harness)
    client = client_for(borrower)
    with CaptureQueriesContext(connection) as reads:
        for path in _read_paths(loan["id"]):
            assert client.get(path).status_code == 200, path
    with CaptureQueriesContext(connection) as write:
        paid = client.post(f"/api/loans/{loan['id']}/payments/{loan['payments'][0]['id']}/pay/", format="json")

    assert paid.status_code == 200
    assert not [q["sql"] for q in reads.captured_queries if "FOR UPDATE" in q["sql"].upper()]
    assert any("FOR UPDATE" in q["sql"].upper() for q in write.captured_queries)  # the control


def test_reads_answer_while_a_money_step_holds_the_locks(harness, capsys):
    borrower, lender, loan = _funded(harness)
    reader = harness.api(borrower)
    locked, release, holder_done = threading.Event(), threading.Event(), threading.Event()

    def hold_every_lock():
        try:
            with transaction.atomic():
                list(Loan.objects.select_for_update().filter(pk=loan["id"]))
                list(Offer.objects.select_for_update().filter(loan_id=loan["id"]))
                list(Payment.objects.select_for_update().filter(loan_id=loan["id"]))
                list(Profile.objects.select_for_update().filter(user__in=[borrower, lender]))
                locked.set()
                release.wait(timeout=30)  # a reader that waited for these locks would wait this long
        finally:
            holder_done.set()
            connection.close()

    holder = threading.Thread(target=hold_every_lock)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        started = time.monotonic()
        statuses = [reader.get(path).status for path in _read_paths(loan["id"])]
        elapsed = time.monotonic() - started
        assert not holder_done.is_set()  # the locks were held the whole time
    finally:
        release.set()
        holder.join(timeout=30)

    assert statuses == [200] * len(statuses)
    assert elapsed < 10
    show(capsys, "reads under held locks", {"GET endpoints answered": len(statuses), "seconds": round(elapsed, 2)})
