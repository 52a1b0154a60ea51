"""The admin for operators (v2): loans by delinquency (filter, sort), a loan's notes and ledger rows on
its page, overdue installments marked as such (not a green tick), and the platform's fee revenue and
charged-off principal on the index."""

import datetime
import re
from decimal import Decimal

import pytest

from accounts.models import Transaction
from loans import jobs
from loans.models import Loan, Payment
from tests import factories
from tests.loans.delinquency_helpers import funded_loan
from tests.test_admin import admin_client, admin_user, url  # noqa: F401 - fixtures

pytestmark = pytest.mark.django_db
D = Decimal


@pytest.fixture
def late_book(settings):
    """Three loans: current, 20 days late, and charged off (with one installment recovered)."""
    settings.LENME_MIN_NOTE = D("10.00")
    b = factories.UserFactory(username="alice", balance=D("3000.00"))
    la = factories.UserFactory(username="lender_a", balance=D("50000.00"))
    lb = factories.UserFactory(username="lender_b", balance=D("50000.00"))
    current = funded_loan(b, [(la, "10.00", None)], amount="300.00", term=3)
    late = funded_loan(b, [(la, "10.00", "200.00"), (lb, "12.00", "100.00")], amount="300.00", term=3)
    gone = funded_loan(b, [(lb, "11.00", None)], amount="400.00", term=4)
    today = datetime.date.today()
    first = Payment.objects.get(loan=late, number=1).due_date
    for p in Payment.objects.filter(loan=late):
        p.due_date = p.due_date - (first - today) - datetime.timedelta(days=20)
        p.save(update_fields=["due_date"])
    first = Payment.objects.get(loan=gone, number=1).due_date
    for p in Payment.objects.filter(loan=gone):
        p.due_date = p.due_date - (first - today) - datetime.timedelta(days=130)
        p.save(update_fields=["due_date"])
    jobs.sweep(today=today)
    return {"current": current, "late": late, "gone": gone}


def ids_in(body: str) -> list[int]:
    return [int(x) for x in re.findall(r"/admin/loans/loan/(\d+)/change/", body)]


def test_loans_list_shows_delinquency_and_days_past_due_and_filters_by_bucket(admin_client, late_book):  # noqa: F811
    body = admin_client.get(url(Loan, "changelist")).content.decode()
    assert "Days past due" in body or "days past due" in body.lower()
    assert "late_16_30" in body and "late_31_120" in body
    grace = admin_client.get(url(Loan, "changelist") + "?delinquency=late_16_30").content.decode()
    assert ids_in(grace) == [late_book["late"].pk]
    current = admin_client.get(url(Loan, "changelist") + "?delinquency=current").content.decode()
    assert ids_in(current) == [late_book["current"].pk]
    # An unknown bucket filters nothing and is not an error.
    bad = admin_client.get(url(Loan, "changelist") + "?delinquency=nope")
    assert bad.status_code == 200
    assert sorted(ids_in(bad.content.decode())) == sorted(x.pk for x in late_book.values())


def test_loans_sort_by_days_past_due(admin_client, late_book):  # noqa: F811
    # ?o= counts list_display columns from 0; found by name, so a column added before them (as
    # closed_reason was) cannot make this sort another column whose ties happen to fall the same way.
    from loans.admin import LoanAdmin

    days, bucket = LoanAdmin.list_display.index("days_past_due"), LoanAdmin.list_display.index("delinquency")
    late_first = [late_book["gone"].pk, late_book["late"].pk, late_book["current"].pk]
    # created in the order current, late, gone: the default order (newest first) is already late_first,
    # so the ascending sorts are what prove the column is sorted by days past due.
    assert ids_in(admin_client.get(url(Loan, "changelist") + f"?o=-{days}").content.decode()) == late_first
    assert ids_in(admin_client.get(url(Loan, "changelist") + f"?o={days}").content.decode()) == late_first[::-1]
    assert ids_in(admin_client.get(url(Loan, "changelist") + f"?o=-{bucket}").content.decode()) == late_first
    assert ids_in(admin_client.get(url(Loan, "changelist") + f"?o={bucket}").content.decode()) == late_first[::-1]


def test_loan_page_shows_its_notes_its_ledger_rows_and_overdue_installments(admin_client, late_book):  # noqa: F811
    loan = late_book["gone"]
    assert Loan.objects.get(pk=loan.pk).status == "DEFAULTED"
    body = admin_client.get(url(Loan, "change", loan.pk)).content.decode()
    assert "Notes (the first" in body or "notes (the first" in body.lower()
    assert "Charged Off" in body or "CHARGED_OFF" in body
    for row in Transaction.objects.filter(loan=loan):
        assert f"{row.amount}" in body
    assert f"?loan__id__exact={loan.pk}" in body
    assert (
        body.count(">OVERDUE<")
        == Payment.objects.filter(loan=loan, paid=False, due_date__lt=datetime.date.today()).count()
        > 0
    )
    assert "icon-yes.svg" not in body.split("Payments")[-1].split("Ledger")[0]  # no green tick among installments


def test_payment_list_marks_overdue_rows(admin_client, late_book):  # noqa: F811
    body = admin_client.get(url(Payment, "changelist")).content.decode()
    assert ">OVERDUE<" in body


def test_admin_index_shows_fee_revenue_and_charged_off_principal(admin_client, late_book):  # noqa: F811
    body = admin_client.get("/admin/").content.decode()
    fees = sum(Transaction.objects.filter(kind="fee").values_list("amount", flat=True), D("0"))
    assert "Fee revenue, total" in body and f"{fees:.2f}" in body
    assert "Charged-off principal" in body and "400.00" in body
    assert datetime.date.today().strftime("%Y-%m") in body


def test_an_overdue_installments_own_page_shows_no_green_tick(admin_client, late_book):  # noqa: F811
    """The payment's change page showed `overdue` as a boolean: a green tick for a late installment."""
    overdue = Payment.objects.filter(loan=late_book["gone"], paid=False, overdue=True).order_by("number").first()
    assert overdue is not None
    body = admin_client.get(url(Payment, "change", overdue.pk)).content.decode()
    assert ">OVERDUE<" in body
    assert "icon-yes.svg" not in body


def test_loans_with_several_lenders_name_them_in_the_lists(admin_client, late_book):  # noqa: F811
    """`lender` is null with several notes: the lists said "-" for exactly the loans with most lenders."""
    loans = admin_client.get(url(Loan, "changelist")).content.decode()
    payments = admin_client.get(url(Payment, "changelist") + f"?loan__id__exact={late_book['late'].pk}")
    for body in (loans, payments.content.decode()):
        assert "lender_a, lender_b" in body
    assert "lender_a, lender_b" in admin_client.get(url(Loan, "change", late_book["late"].pk)).content.decode()


def test_admin_index_shows_recoveries_next_to_the_charged_off_principal(admin_client, late_book):  # noqa: F811
    gone = Loan.objects.get(pk=late_book["gone"].pk)
    first = Payment.objects.get(loan=gone, number=1)
    from loans import services

    services.payment_pay(loan_id=gone.pk, payment_id=first.pk, borrower=gone.borrower)
    recovered = sum(
        Transaction.objects.filter(loan=gone, kind="repayment", created_at__gte=gone.defaulted_at).values_list(
            "amount", flat=True
        ),
        D("0"),
    )
    assert recovered == first.amount + first.late_fee > 0
    body = admin_client.get("/admin/").content.decode()
    assert "Recoveries" in body
    assert re.search(r"Recoveries</th><td[^>]*><strong>" + re.escape(f"{recovered:.2f}") + "<", body), body


def test_loan_page_shows_principal_outstanding(admin_client, late_book):  # noqa: F811
    gone = late_book["gone"]
    body = admin_client.get(url(Loan, "change", gone.pk)).content.decode()
    unpaid = sum(Payment.objects.filter(loan=gone, paid=False).values_list("principal", flat=True), D("0"))
    assert "Principal outstanding" in body and f"{unpaid:.2f}" in body


def test_a_failed_sweep_is_not_shown_as_a_green_tick(admin_client):  # noqa: F811
    from loans.models import JobRun

    JobRun.objects.create(today=datetime.date.today(), error="OperationalError: boom")
    body = admin_client.get(url(JobRun, "changelist")).content.decode()
    assert ">FAILED<" in body and "icon-yes.svg" not in body


def test_admin_index_fee_revenue_by_month_sums_each_months_fee_rows(admin_client, settings, monkeypatch):  # noqa: F811
    """Fees funded in two months: one line per month with that month's rows and revenue, and the total."""
    from django.utils import timezone

    settings.LENME_MIN_NOTE = D("10.00")
    b = factories.UserFactory(username="bm", balance=D("100.00"))
    la = factories.UserFactory(username="lm_a", balance=D("50000.00"))
    lb = factories.UserFactory(username="lm_b", balance=D("50000.00"))
    real_now = timezone.now
    then = datetime.datetime(2025, 11, 30, 23, 59, 0, tzinfo=datetime.UTC)
    monkeypatch.setattr(timezone, "now", lambda: then)
    funded_loan(b, [(la, "10.00", "200.00"), (lb, "12.00", "100.00")], amount="300.00", term=3)
    monkeypatch.setattr(timezone, "now", real_now)
    funded_loan(b, [(la, "10.00", None)], amount="300.00", term=3)
    rows = {
        month: (Transaction.objects.filter(kind="fee", created_at__year=y, created_at__month=m).count(), total)
        for month, (y, m), total in (
            ("2025-11", (2025, 11), D("3.75")),
            (real_now().strftime("%Y-%m"), (real_now().year, real_now().month), D("3.75")),
        )
    }
    assert rows["2025-11"][0] == 2  # one fee row per note
    body = admin_client.get("/admin/").content.decode()
    for month, (count, total) in rows.items():
        assert re.search(rf"<td>{month}</td><td[^>]*>{count}</td><td[^>]*>{re.escape(f'{total:.2f}')}</td>", body), (
            month
        )
    assert re.search(r"Fee revenue, total</th><td[^>]*><strong>7\.50<", body)
