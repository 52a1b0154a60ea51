"""The scheduled sweep's rules at their boundaries, with time passed in rather than slept."""

import datetime
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from accounts.models import Profile, Transaction
from loans import jobs, services
from loans.models import JobRun, Loan, Notification, Offer, Payment
from tests.conftest import client_for
from tests.factories import UserFactory
from webhooks.delivery import emails_send_due

pytestmark = pytest.mark.django_db

NOW = timezone.now()


def reserved(user) -> Decimal:
    return Profile.objects.get(user=user).reserved_balance


def available(user) -> Decimal:
    return Profile.objects.get(user=user).available_balance()


def make_offer(borrower, lender, *, rate="12.00", amount="5000.00", term=6) -> Offer:
    loan = services.loan_create(borrower=borrower, amount=Decimal(amount), term_months=term)
    return services.offer_submit(loan_id=loan.pk, lender=lender, interest_rate=Decimal(rate))


def age_offer(offer: Offer, seconds: int) -> None:
    Offer.objects.filter(pk=offer.pk).update(created_at=NOW - timedelta(seconds=seconds))


def funded_loan(borrower, lender, *, funded_on: datetime.date, amount="600.00", term=3, rate="0.00") -> Loan:
    offer = make_offer(borrower, lender, rate=rate, amount=amount, term=term)
    services.loan_accept(loan_id=offer.loan_id, borrower=borrower)
    loan = services.loan_fund(loan_id=offer.loan_id, lender=lender)
    # Put the schedule where the test wants it: due dates are funding date + k months.
    for payment in Payment.objects.filter(loan=loan):
        from dateutil.relativedelta import relativedelta

        Payment.objects.filter(pk=payment.pk).update(due_date=funded_on + relativedelta(months=payment.number))
    return loan


# 1. Offer expiry


def test_offer_one_second_before_ttl_stays_pending(borrower, lender, settings):
    offer = make_offer(borrower, lender)
    age_offer(offer, settings.LENME_OFFER_TTL - 1)
    assert jobs.offers_expire(now=NOW) == 0
    offer.refresh_from_db()
    assert offer.status == "PENDING" and reserved(lender) == Decimal("5003.75")


def test_offer_one_second_past_ttl_expires_releases_and_reopens_loan(
    borrower, lender, settings, django_capture_on_commit_callbacks
):
    offer = make_offer(borrower, lender)
    age_offer(offer, settings.LENME_OFFER_TTL + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.offers_expire(now=NOW) == 1
    offer.refresh_from_db()
    assert offer.status == "EXPIRED" and offer.reserved_amount == Decimal("0.00")
    assert reserved(lender) == Decimal("0.00") and available(lender) == Decimal("10000.00")
    assert Loan.objects.get(pk=offer.loan_id).status == "OPEN"
    assert Notification.objects.filter(user=lender, kind="offer_expired", loan_id=offer.loan_id).count() == 1


def test_offer_expiry_keeps_loan_offered_while_another_offer_is_pending(borrower, lender, lender2, settings):
    old = make_offer(borrower, lender)
    services.offer_submit(loan_id=old.loan_id, lender=lender2, interest_rate=Decimal("11.00"))
    age_offer(old, settings.LENME_OFFER_TTL + 1)
    assert jobs.offers_expire(now=NOW) == 1
    assert Loan.objects.get(pk=old.loan_id).status == "OFFERED"


def test_offer_expiry_is_idempotent(borrower, lender, settings):
    offer = make_offer(borrower, lender)
    age_offer(offer, settings.LENME_OFFER_TTL + 1)
    assert jobs.offers_expire(now=NOW) == 1
    assert jobs.offers_expire(now=NOW) == 0
    assert reserved(lender) == Decimal("0.00")


# 2. Funding deadline


def accepted(borrower, lender, *, seconds_ago: int) -> Loan:
    offer = make_offer(borrower, lender, rate="9.50")
    loan = services.loan_accept(loan_id=offer.loan_id, borrower=borrower)
    Loan.objects.filter(pk=loan.pk).update(accepted_at=NOW - timedelta(seconds=seconds_ago))
    return loan


def test_accepted_loan_one_second_before_funding_ttl_stays_accepted(borrower, lender, settings):
    loan = accepted(borrower, lender, seconds_ago=settings.LENME_FUNDING_TTL - 1)
    assert jobs.fundings_expire(now=NOW) == 0
    loan.refresh_from_db()
    assert loan.status == "ACCEPTED" and loan.lender_id == lender.pk and reserved(lender) == Decimal("5003.75")


def test_funding_deadline_lapses_offer_and_reopens_loan_with_requested_rate(
    borrower, lender, settings, django_capture_on_commit_callbacks
):
    loan = services.loan_create(
        borrower=borrower, amount=Decimal("5000.00"), term_months=6, interest_rate=Decimal("15.00")
    )
    services.offer_submit(loan_id=loan.pk, lender=lender, interest_rate=Decimal("9.50"))
    services.loan_accept(loan_id=loan.pk, borrower=borrower)
    Loan.objects.filter(pk=loan.pk).update(accepted_at=NOW - timedelta(seconds=settings.LENME_FUNDING_TTL + 1))
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.fundings_expire(now=NOW) == 1
    loan.refresh_from_db()
    assert (loan.status, loan.lender_id, loan.interest_rate, loan.accepted_at) == ("OPEN", None, Decimal("15.00"), None)
    assert Offer.objects.get(loan=loan).status == "EXPIRED"
    assert reserved(lender) == Decimal("0.00")
    assert Notification.objects.filter(user=lender, kind="offer_expired").exists()
    # the loan takes offers again, and the old lender may offer anew
    assert services.offer_submit(loan_id=loan.pk, lender=lender, interest_rate=Decimal("10.00")).status == "PENDING"
    assert jobs.fundings_expire(now=NOW) == 0


def test_funded_loan_is_never_lapsed(borrower, lender, settings):
    loan = accepted(borrower, lender, seconds_ago=settings.LENME_FUNDING_TTL + 100)
    services.loan_fund(loan_id=loan.pk, lender=lender)
    assert jobs.fundings_expire(now=NOW) == 0
    assert Loan.objects.get(pk=loan.pk).status == "FUNDED"


# 3. Autopay


def test_autopay_pays_on_the_due_date_not_the_day_before(borrower, lender):
    funded_on = datetime.date(2026, 1, 31)
    loan = funded_loan(borrower, lender, funded_on=funded_on)
    services.loan_autopay_set(loan_id=loan.pk, borrower=borrower, enabled=True)
    first_due = datetime.date(2026, 2, 28)
    assert jobs.autopay_run(today=first_due - timedelta(days=1)) == 0
    assert jobs.autopay_run(today=first_due) == 1
    assert list(Payment.objects.filter(loan=loan).order_by("number").values_list("paid", flat=True)) == [
        True,
        False,
        False,
    ]
    assert Profile.objects.get(user=borrower).balance == Decimal("400.00")
    assert Transaction.objects.filter(kind="repayment", loan=loan).count() == 1


def test_autopay_pays_every_due_installment_in_order_while_money_lasts(borrower, lender):
    loan = funded_loan(borrower, lender, funded_on=datetime.date(2026, 1, 10))
    services.loan_autopay_set(loan_id=loan.pk, borrower=borrower, enabled=True)
    from accounts.services import account_withdraw

    account_withdraw(user=borrower, amount=Decimal("250.00"))  # 350.00 left: one 200.00 installment
    assert jobs.autopay_run(today=datetime.date(2026, 4, 10)) == 1
    assert list(Payment.objects.filter(loan=loan).order_by("number").values_list("paid", flat=True)) == [
        True,
        False,
        False,
    ]
    assert Profile.objects.get(user=borrower).balance == Decimal("150.00")


def test_autopay_completes_the_loan_and_skips_loans_without_autopay(borrower, lender, lender2):
    loan = funded_loan(borrower, lender, funded_on=datetime.date(2026, 1, 10))
    other = funded_loan(borrower, lender2, funded_on=datetime.date(2026, 1, 10))
    services.loan_autopay_set(loan_id=loan.pk, borrower=borrower, enabled=True)
    assert jobs.autopay_run(today=datetime.date(2026, 4, 10)) == 3
    assert Loan.objects.get(pk=loan.pk).status == "COMPLETED"
    assert not Payment.objects.filter(loan=other, paid=True).exists()
    assert jobs.autopay_run(today=datetime.date(2026, 4, 10)) == 0


def test_autopay_endpoint_is_borrower_only(borrower, lender, stranger):
    loan = funded_loan(borrower, lender, funded_on=datetime.date(2026, 1, 10))
    url = f"/api/loans/{loan.pk}/autopay/"
    assert client_for(lender).post(url, {"enabled": True}, format="json").status_code == 403
    assert client_for(stranger).post(url, {"enabled": True}, format="json").status_code == 404
    bad = client_for(borrower).post(url, {"enabled": "yes"}, format="json")
    assert bad.status_code == 400 and bad.json()["code"] == "validation_error"
    ok = client_for(borrower).post(url, {"enabled": True}, format="json")
    assert ok.status_code == 200 and ok.json()["autopay"] is True


# 4. Overdue and late fees


def test_installment_is_overdue_the_day_after_its_due_date_only(
    borrower, lender, settings, django_capture_on_commit_callbacks
):
    settings.LENME_LATE_FEE = Decimal("25.00")
    loan = funded_loan(borrower, lender, funded_on=datetime.date(2026, 1, 10))
    due = datetime.date(2026, 2, 10)
    assert jobs.payments_mark_overdue(today=due) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.payments_mark_overdue(today=due + timedelta(days=1)) == 1
    first = Payment.objects.get(loan=loan, number=1)
    assert first.overdue and first.late_fee == Decimal("25.00")
    assert Notification.objects.filter(user=borrower, kind="payment_overdue").count() == 1


def test_late_fee_is_added_once_however_many_sweeps_run(borrower, lender, settings):
    settings.LENME_LATE_FEE = Decimal("25.00")
    loan = funded_loan(borrower, lender, funded_on=datetime.date(2026, 1, 10))
    for _ in range(3):
        call_command("run_jobs", today="2026-02-11", stdout=io.StringIO())
    assert Payment.objects.get(loan=loan, number=1).late_fee == Decimal("25.00")
    assert Payment.objects.get(loan=loan, number=2).late_fee == Decimal("0.00")


def test_paying_an_overdue_installment_pays_its_late_fee_to_the_lender(borrower, lender, settings):
    settings.LENME_LATE_FEE = Decimal("25.00")
    loan = funded_loan(borrower, lender, funded_on=datetime.date(2026, 1, 10))
    jobs.payments_mark_overdue(today=datetime.date(2026, 2, 11))
    first = Payment.objects.get(loan=loan, number=1)
    lender_before = Profile.objects.get(user=lender).balance
    response = client_for(borrower).post(f"/api/loans/{loan.pk}/payments/{first.pk}/pay/", format="json")
    assert response.status_code == 200, response.content
    assert response.json()["late_fee"] == "25.00" and response.json()["overdue"] is True
    assert Profile.objects.get(user=lender).balance == lender_before + Decimal("225.00")
    assert Transaction.objects.get(kind="repayment", payment=first).amount == Decimal("225.00")


# 5. Reminders


def test_reminder_sent_once_within_the_window(
    borrower, lender, settings, django_capture_on_commit_callbacks, mailoutbox
):
    loan = funded_loan(borrower, lender, funded_on=datetime.date(2026, 1, 10))
    due = datetime.date(2026, 2, 10)
    emails_send_due()  # v2: the emails of the funding steps
    mailoutbox.clear()
    assert jobs.reminders_send(today=due - timedelta(days=settings.LENME_REMINDER_DAYS + 1)) == 0
    with django_capture_on_commit_callbacks(execute=True):
        assert jobs.reminders_send(today=due - timedelta(days=settings.LENME_REMINDER_DAYS)) == 1
    assert jobs.reminders_send(today=due) == 0
    assert Notification.objects.filter(user=borrower, kind="payment_due", loan=loan).count() == 1
    assert mailoutbox == []  # v2: emails leave through the outbox, sent by a worker or sweep rule 7
    assert emails_send_due() == 1 and emails_send_due() == 0
    assert len(mailoutbox) == 1 and mailoutbox[0].to == [borrower.email]


# The sweep, notifications and the audit


def test_sweep_records_a_job_run_with_counts(borrower, lender, settings):
    offer = make_offer(borrower, lender)
    age_offer(offer, settings.LENME_OFFER_TTL + 5)
    run = jobs.sweep(now=NOW)
    assert JobRun.objects.filter(pk=run.pk, finished_at__isnull=False).exists()
    assert run.counts["offers_expired"] == 1 and set(run.counts) == set(jobs.RULES)


def test_rolled_back_operation_notifies_nobody(borrower, lender, django_capture_on_commit_callbacks):
    loan = services.loan_create(borrower=borrower, amount=Decimal("5000.00"), term_months=6)
    poor = UserFactory(username="poor", balance=Decimal("1.00"))
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(poor).post(f"/api/loans/{loan.pk}/offers/", {"interest_rate": "10.00"}, format="json")
    assert response.status_code == 409
    assert not Notification.objects.exists()


def test_notifications_endpoints(borrower, lender, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        make_offer(borrower, lender)
    api = client_for(borrower)
    listing = api.get("/api/notifications/").json()
    assert listing["count"] == 1 and listing["results"][0]["kind"] == "offer_received"
    note_id = listing["results"][0]["id"]
    assert client_for(lender).post(f"/api/notifications/{note_id}/read/").status_code == 404
    read = api.post(f"/api/notifications/{note_id}/read/")
    assert read.status_code == 200 and read.json()["read"] is True
    assert api.get("/api/notifications/").json()["results"][0]["read"] is True


def test_run_jobs_rejects_a_bad_date():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError):
        call_command("run_jobs", today="2026-13-01")
