"""audit_ledger, charge-offs (in check (h), the notes): a note's status follows its loan's, and charged-off principal
appears only on notes of loans that were charged off. Clean after a real charge-off and recovery."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from loans import jobs
from loans.models import Loan, Note, Payment
from tests.test_audit_ledger import failing_checks, flow, run_audit  # noqa: F401 - fixture

pytestmark = pytest.mark.django_db


def test_a_charge_off_and_its_recoveries_leave_the_audit_clean(flow, settings):  # noqa: F811
    first = Payment.objects.filter(loan_id=flow["repaying"], paid=False).order_by("number").first().due_date
    jobs.sweep(today=first + datetime.timedelta(days=settings.LENME_CHARGE_OFF_DAYS))
    assert Loan.objects.get(pk=flow["repaying"]).status == "DEFAULTED"
    output, code = run_audit()
    assert code == 0, output


def test_a_charged_off_note_on_a_funded_loan_is_caught(flow):  # noqa: F811
    Note.objects.filter(loan_id=flow["repaying"]).update(status="CHARGED_OFF")
    output, code = run_audit()
    assert code == 1 and "CHARGED_OFF on a loan that is FUNDED" in output
    assert failing_checks() == {"notes"}


def test_a_defaulted_loan_with_active_notes_is_caught(flow):  # noqa: F811
    Loan.objects.filter(pk=flow["repaying"]).update(status="DEFAULTED", defaulted_at=timezone.now())
    output, code = run_audit()
    assert code == 1 and "ACTIVE on a loan that is DEFAULTED" in output


def test_charged_off_principal_on_a_loan_never_charged_off_is_caught(flow):  # noqa: F811
    Note.objects.filter(loan_id=flow["completed"]).update(charged_off_principal=Decimal("1.00"))
    output, code = run_audit()
    assert code == 1 and "on a loan never charged off" in output
    assert failing_checks() == {"notes"}
