"""The Django admin: every model's changelist and change page render for a superuser, search finds rows
by username and id, list pages do not query per row, and nothing money-related can be edited there."""

from decimal import Decimal

import pytest
from django.contrib.auth import get_user_model
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from accounts.models import IdempotencyRecord, Profile, Transaction
from loans import services
from loans.models import JobRun, Loan, LoanStatus, Notification, Offer, Payment
from tests import factories

pytestmark = pytest.mark.django_db

MODELS = [Profile, Transaction, IdempotencyRecord, Loan, Offer, Payment, Notification, JobRun]


def url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.fixture
def admin_user(db):
    return get_user_model().objects.create_superuser("ops", "ops@example.com", "ops-password-123")


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client


def funded_loan(borrower, lender, lender2) -> Loan:
    """A loan funded through the services, with a rejected offer and one paid installment."""
    loan = services.loan_create(borrower=borrower, amount=Decimal("5000.00"), term_months=6)
    services.offer_submit(loan_id=loan.pk, lender=lender, interest_rate=Decimal("15.00"))
    services.offer_submit(loan_id=loan.pk, lender=lender2, interest_rate=Decimal("16.00"))
    services.loan_accept(loan_id=loan.pk, borrower=borrower)
    services.loan_fund(loan_id=loan.pk, lender=lender)
    first = loan.payments.get(number=1)
    services.payment_pay(loan_id=loan.pk, payment_id=first.pk, borrower=borrower)
    return Loan.objects.get(pk=loan.pk)


@pytest.fixture
def world(borrower, lender, lender2, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):  # notifications are written on commit
        loan = funded_loan(borrower, lender, lender2)
    IdempotencyRecord.objects.create(
        user=borrower,
        key="walkthrough-1",
        fingerprint="f" * 64,
        state=IdempotencyRecord.State.DONE,
        locked_at=timezone.now(),
        response_status=200,
        response_body=b'{"id": 1}',
        response_content_type="application/json",
    )
    JobRun.objects.create(today=timezone.localdate(), finished_at=timezone.now(), counts={"overdue": 0})
    return loan


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_changelist_and_change_page_render_for_a_superuser(admin_client, world, model):
    assert model.objects.exists()
    listing = admin_client.get(url(model, "changelist"))
    assert listing.status_code == 200
    obj = model.objects.order_by("pk").first()
    change = admin_client.get(url(model, "change", obj.pk))
    assert change.status_code == 200
    assert str(obj.pk) in change.content.decode()


def test_loan_change_page_shows_offers_and_payments_inline(admin_client, world):
    body = admin_client.get(url(Loan, "change", world.pk)).content.decode()

    assert "Offers" in body and "Payments" in body
    for offer in world.offers.all():
        assert offer.status in body  # ACCEPTED and REJECTED
    for payment in world.payments.all():
        assert str(payment.due_date.year) in body
    assert "870.17" in body and "870.16" in body and "62.50" in body
    assert "5003.75" in body  # total loan amount, computed
    # Shown, not editable: no inline inputs, no room for new rows, no save button.
    assert 'name="offers-0-interest_rate"' not in body and 'name="payments-0-paid"' not in body
    assert 'name="offers-MAX_NUM_FORMS" value="0"' in body and 'name="payments-MAX_NUM_FORMS" value="0"' in body
    assert 'name="_save"' not in body


def test_search_finds_loans_by_username_and_by_id(admin_client, world):
    carol = factories.UserFactory(username="carol")  # no digits in any username: an id matches only an id
    other = services.loan_create(borrower=carol, amount=Decimal("100.00"), term_months=2)

    by_name = admin_client.get(url(Loan, "changelist"), {"q": "borrower"})
    assert by_name.status_code == 200
    assert list(by_name.context["cl"].result_list) == [world]

    by_id = admin_client.get(url(Loan, "changelist"), {"q": str(other.pk)})
    assert list(by_id.context["cl"].result_list) == [other]
    by_id = admin_client.get(url(Loan, "changelist"), {"q": str(world.pk)})
    assert list(by_id.context["cl"].result_list) == [world]

    by_text = admin_client.get(url(Loan, "changelist"), {"q": "no-such-user"})
    assert by_text.status_code == 200 and list(by_text.context["cl"].result_list) == []


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m.__name__)
def test_search_by_username_and_id_works_on_every_model(admin_client, world, model):
    obj = model.objects.order_by("pk").first()
    for term in ("borrower", str(obj.pk), "x y"):
        response = admin_client.get(url(model, "changelist"), {"q": term})
        assert response.status_code == 200, (term, response.status_code)
    response = admin_client.get(url(model, "changelist"), {"q": str(obj.pk)})
    assert obj in list(response.context["cl"].result_list)


def test_transaction_search_by_username_finds_both_sides(admin_client, world, lender):
    response = admin_client.get(url(Transaction, "changelist"), {"q": "lender2"})

    found = list(response.context["cl"].result_list)
    # lender2 only deposited (its offer was rejected): one row, where it is the receiver.
    assert [(t.kind, t.to_user_id) for t in found] == [("deposit", world.offers.get(status="REJECTED").lender_id)]

    response = admin_client.get(url(Transaction, "changelist"), {"q": "borrower"})
    kinds = sorted(t.kind for t in response.context["cl"].result_list)
    assert kinds == ["funding", "repayment"]  # received the principal, paid installment 1


def test_transactions_cannot_be_added_changed_or_deleted(admin_client, world):
    entry = Transaction.objects.get(kind="funding")
    count = Transaction.objects.count()

    assert admin_client.get(url(Transaction, "add")).status_code == 403
    assert admin_client.post(url(Transaction, "add"), {"kind": "deposit", "amount": "1.00"}).status_code == 403
    assert admin_client.get(url(Transaction, "delete", entry.pk)).status_code == 403
    assert admin_client.post(url(Transaction, "delete", entry.pk), {"post": "yes"}).status_code == 403
    bulk = admin_client.post(
        url(Transaction, "changelist"), {"action": "delete_selected", "_selected_action": [entry.pk], "post": "yes"}
    )
    assert bulk.status_code in (200, 302)
    change = admin_client.post(url(Transaction, "change", entry.pk), {"amount": "1.00", "kind": "deposit"})
    assert change.status_code == 403

    assert Transaction.objects.count() == count
    entry.refresh_from_db()
    assert (entry.kind, entry.amount) == ("funding", Decimal("5000.00"))
    page = admin_client.get(url(Transaction, "changelist")).content.decode()
    assert url(Transaction, "add") not in page
    assert "delete_selected" not in page


def test_balances_loans_offers_and_payments_cannot_be_edited(admin_client, world, borrower):
    profile = Profile.objects.get(user=borrower)
    before = (profile.balance, profile.reserved_balance)
    response = admin_client.post(url(Profile, "change", profile.pk), {"balance": "999999.00", "reserved_balance": "0"})
    assert response.status_code == 403
    profile.refresh_from_db()
    assert (profile.balance, profile.reserved_balance) == before

    response = admin_client.post(url(Loan, "change", world.pk), {"status": "COMPLETED", "amount": "1.00"})
    assert response.status_code == 403
    world.refresh_from_db()
    assert (world.status, world.amount) == (LoanStatus.FUNDED, Decimal("5000.00"))

    payment = world.payments.get(number=2)
    response = admin_client.post(url(Payment, "change", payment.pk), {"paid": "on", "amount": "1.00"})
    assert response.status_code == 403
    payment.refresh_from_db()
    assert payment.paid is False

    for model in MODELS:
        assert admin_client.get(url(model, "add")).status_code == 403, model.__name__
        obj = model.objects.order_by("pk").first()
        assert admin_client.post(url(model, "delete", obj.pk), {"post": "yes"}).status_code == 403, model.__name__
        assert model.objects.filter(pk=obj.pk).exists()


def test_change_pages_show_values_read_only(admin_client, world, borrower):
    profile = Profile.objects.get(user=borrower)
    body = admin_client.get(url(Profile, "change", profile.pk)).content.decode()

    assert f"{profile.balance:.2f}" in body
    assert 'name="balance"' not in body and 'name="reserved_balance"' not in body
    body = admin_client.get(url(Loan, "change", world.pk)).content.decode()
    assert 'name="status"' not in body and 'name="amount"' not in body


def notified(user) -> Notification:
    loan = services.loan_create(borrower=user, amount=Decimal("100.00"), term_months=2)
    return Notification.objects.create(user=user, kind="offer_received", message="New offer.", loan=loan)


@pytest.mark.parametrize(
    ("model", "make"),
    [
        (Loan, lambda users: [funded_loan(*users)]),
        (Offer, lambda users: [funded_loan(*users)]),
        (Payment, lambda users: [funded_loan(*users)]),
        (Transaction, lambda users: [funded_loan(*users)]),
        (Profile, lambda users: [factories.UserFactory(balance="10.00")]),
        (Notification, lambda users: [notified(users[0])]),
    ],
    ids=lambda v: getattr(v, "__name__", ""),
)
def test_changelist_query_count_does_not_grow_with_rows(admin_client, admin_user, model, make):
    """list_select_related: one more page of rows costs no extra query per row."""
    users = [factories.UserFactory(balance="20000.00") for _ in range(3)]
    make(users)

    def count_queries() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(url(model, "changelist")).status_code == 200
        return len(ctx.captured_queries)

    few = count_queries()
    for _ in range(3):
        make([factories.UserFactory(balance="20000.00") for _ in range(3)])
    assert model.objects.count() > 3
    assert count_queries() == few


def test_loan_page_shows_its_notes_and_a_note_page_shows_its_rows(admin_client, world):
    note = world.notes.get()
    page = admin_client.get(f"/admin/loans/loan/{world.pk}/change/").content.decode()
    assert f"Note #{note.pk}" in page and f"/admin/loans/note/{note.pk}/change/" in page

    page = admin_client.get(f"/admin/loans/note/{note.pk}/change/").content.decode()

    assert "5000.00" in page and "870.17" in page and "62.50" in page  # row 1 of the worked example
    assert page.count("870.16") >= 2  # rows 5 and 6
