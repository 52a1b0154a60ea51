"""The admin's "Run one sweep now" button and action run the job sweep; only superusers may."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from loans import services
from loans.models import JobRun, Offer

pytestmark = pytest.mark.django_db


@pytest.fixture
def expired_offer(borrower, lender, settings):
    loan = services.loan_create(borrower=borrower, amount=Decimal("1000.00"), term_months=4)
    offer = services.offer_submit(loan_id=loan.pk, lender=lender, interest_rate=Decimal("8.00"))
    Offer.objects.filter(pk=offer.pk).update(
        created_at=timezone.now() - timedelta(seconds=settings.LENME_OFFER_TTL + 1)
    )
    return offer


def test_superuser_runs_a_sweep_from_the_changelist_button(client, expired_offer):
    admin_user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-admin-1")
    client.force_login(admin_user)
    page = client.get("/admin/loans/jobrun/")
    assert page.status_code == 200 and b"Run one sweep now" in page.content
    response = client.post("/admin/loans/jobrun/run-sweep/", follow=True)
    assert response.status_code == 200 and b"offers_expired=1" in response.content
    assert JobRun.objects.count() == 1
    expired_offer.refresh_from_db()
    assert expired_offer.status == "EXPIRED"


def test_superuser_runs_a_sweep_with_the_action(client, expired_offer):
    JobRun.objects.create(today=timezone.localdate())
    admin_user = get_user_model().objects.create_superuser("root", "root@example.com", "pw-for-admin-1")
    client.force_login(admin_user)
    run = JobRun.objects.get()
    response = client.post(
        "/admin/loans/jobrun/", {"action": "run_sweep_now", "_selected_action": [run.pk]}, follow=True
    )
    assert response.status_code == 200 and JobRun.objects.count() == 2
    expired_offer.refresh_from_db()
    assert expired_offer.status == "EXPIRED"


def test_staff_without_superuser_cannot_run_a_sweep(client, expired_offer):
    staff = get_user_model().objects.create_user("staff", password="pw-for-staff-1", is_staff=True)
    client.force_login(staff)
    assert client.post("/admin/loans/jobrun/run-sweep/").status_code == 403
    assert not JobRun.objects.exists()
    expired_offer.refresh_from_db()
    assert expired_offer.status == "PENDING"
