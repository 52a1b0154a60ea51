"""Races on loans with several notes, over real HTTP on PostgreSQL: ten lenders funding at once, the
last fund against the funding-deadline sweep, offers against accept, pay against autopay. No cent
created or lost, the ledger audit clean, no 5xx."""

import datetime
from collections import Counter
from decimal import Decimal

import pytest
from django.utils import timezone

from accounts.models import Profile, Transaction
from loans import jobs
from loans.models import Loan, Note, Offer, Payment
from tests.concurrency.conftest import assert_audit_clean, race, show

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _small_notes(settings):
    settings.LENME_MIN_NOTE = Decimal("10.00")  # parts of 10.00 keep the loans small


def held(user) -> Decimal:
    return Profile.objects.get(user=user).reserved_balance


def part_offers(harness, borrower_api, n: int, *, amount: str = "100.00", part: str = "10.00", term: int = 6):
    """A loan of `amount` with n PENDING part offers of `part` each, accepted; returns (loan, lenders, apis)."""
    reply = borrower_api.post("/api/loans/", {"amount": amount, "term_months": term, "interest_rate": "20.00"})
    assert reply.status == 201, reply.body
    loan = reply.body
    lenders = [harness.user(f"l{loan['id']}_{i}", "1000.00") for i in range(n)]
    apis = [harness.api(u) for u in lenders]
    for i, api in enumerate(apis):
        made = api.post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": f"{5 + i % 4}.00", "amount": part})
        assert made.status == 201, made.body
    return loan, lenders, apis


def accept(borrower_api, loan_id: int) -> dict:
    reply = borrower_api.post(f"/api/loans/{loan_id}/accept/", {})
    assert reply.status == 200, reply.body
    return reply.body


def test_ten_lenders_funding_at_once_disburse_exactly_once(harness, capsys):
    borrower = harness.user("borrower")
    borrower_api = harness.api(borrower)
    loan, lenders, apis = part_offers(harness, borrower_api, 10)
    accept(borrower_api, loan["id"])

    replies = harness.race(*((api, "POST", f"/api/loans/{loan['id']}/fund/", None) for api in apis))

    assert Counter(r.status for r in replies) == {200: 10}
    assert Counter(r.body["status"] for r in replies) == {"ACCEPTED": 9, "FUNDED": 1}
    assert Loan.objects.get(pk=loan["id"]).status == "FUNDED"
    assert Note.objects.filter(loan_id=loan["id"]).count() == 10
    assert Transaction.objects.filter(kind="funding", loan_id=loan["id"]).count() == 10
    assert Transaction.objects.filter(kind="fee", loan_id=loan["id"]).count() == 10  # 3.75 / 10 each > 0
    assert Profile.objects.get(user=borrower).balance == Decimal("100.00")
    assert all(held(u) == 0 for u in lenders)
    checks = assert_audit_clean()
    show(capsys, "10 lenders fund at once", {"funded": 1, "invariant checks": checks})


def test_the_last_fund_racing_the_deadline_sweep_ends_funded_or_all_released(harness, settings, capsys):
    borrower = harness.user("borrower")
    borrower_api = harness.api(borrower)
    endings: Counter = Counter()
    for _ in range(4):
        loan, lenders, apis = part_offers(harness, borrower_api, 3, amount="30.00", part="10.00", term=3)
        accept(borrower_api, loan["id"])
        for api in apis[:-1]:
            assert api.post(f"/api/loans/{loan['id']}/fund/").status == 200
        settings.LENME_FUNDING_TTL = 0
        now = timezone.now() + datetime.timedelta(seconds=1)

        fund_reply, lapsed = race(
            lambda a=apis[-1], p=f"/api/loans/{loan['id']}/fund/": a.post(p),
            lambda n=now: jobs.fundings_expire(now=n),
        )

        status = Loan.objects.get(pk=loan["id"]).status
        if status == "FUNDED":
            assert fund_reply.status == 200 and fund_reply.body["status"] == "FUNDED" and lapsed == 0
            assert Transaction.objects.filter(kind="funding", loan_id=loan["id"]).count() == 3
        else:
            assert status == "OPEN" and lapsed == 1
            assert fund_reply.code == "invalid_state" or fund_reply.status == 403  # no longer a lender
            assert not Transaction.objects.filter(loan_id=loan["id"]).exists()
            assert all(held(u) == 0 for u in lenders)
            assert set(Offer.objects.filter(loan_id=loan["id"]).values_list("status", flat=True)) == {"EXPIRED"}
        endings[status] += 1
        settings.LENME_FUNDING_TTL = 259200
        checks = assert_audit_clean()
    show(capsys, "last fund vs deadline sweep", {**endings, "invariant checks": checks})


def test_offers_racing_accept_leave_every_hold_accounted_for(harness, capsys):
    borrower = harness.user("borrower")
    borrower_api = harness.api(borrower)
    loan, lenders, apis = part_offers(harness, borrower_api, 4, amount="40.00", part="20.00")
    late = [harness.user(f"late{i}", "1000.00") for i in range(6)]
    late_apis = [harness.api(u) for u in late]
    path = f"/api/loans/{loan['id']}/offers/"

    replies = harness.race(
        (borrower_api, "POST", f"/api/loans/{loan['id']}/accept/", {}),
        *((api, "POST", path, {"interest_rate": "1.00", "amount": "40.00"}) for api in late_apis),
        (apis[0], "POST", f"{path}{Offer.objects.filter(lender=lenders[0]).get().pk}/withdraw/", None),
    )

    assert replies[0].status == 200, replies[0].body
    outcomes = Counter(r.outcome for r in replies[1:])
    # An offer that arrives after accept finds the loan ACCEPTED: 409, or 404 once the loan is no longer
    # visible to someone who never offered on it (API.md, Visibility).
    assert set(outcomes) <= {"201", "409 invalid_state", "404 not_found", "200"}
    assert not Offer.objects.filter(loan_id=loan["id"], status="PENDING").exists()
    filled = Offer.objects.filter(loan_id=loan["id"], status="ACCEPTED")
    assert sum(o.filled_amount for o in filled) == Decimal("40.00")
    assert sum(o.fee for o in filled) == Decimal("3.75")
    checks = assert_audit_clean()
    show(capsys, "offers vs accept", {**outcomes, "invariant checks": checks})


def test_pay_racing_autopay_on_a_five_note_loan_pays_each_installment_once(harness, capsys):
    borrower = harness.user("borrower", "1000.00")
    borrower_api = harness.api(borrower)
    loan, lenders, apis = part_offers(harness, borrower_api, 5, amount="50.00", part="10.00", term=3)
    accept(borrower_api, loan["id"])
    for api in apis:
        body = api.post(f"/api/loans/{loan['id']}/fund/").body
    assert body["status"] == "FUNDED"
    assert borrower_api.post(f"/api/loans/{loan['id']}/autopay/", {"enabled": True}).status == 200
    first, second = body["payments"][0], body["payments"][1]
    today = datetime.date.fromisoformat(second["due_date"])
    pay = f"/api/loans/{loan['id']}/payments/{first['id']}/pay/"
    before = Profile.objects.get(user=borrower).balance

    replies = race(
        *(lambda p=pay: borrower_api.post(p) for _ in range(4)),
        lambda: jobs.autopay_run(today=today),
    )

    outcomes = Counter(r.outcome for r in replies[:4])
    assert set(outcomes) <= {"200", "409 already_paid"}
    assert list(Payment.objects.filter(loan_id=loan["id"]).order_by("number").values_list("paid", flat=True)) == [
        True,
        True,
        False,
    ]
    for number in (1, 2):
        rows = Transaction.objects.filter(kind="repayment", payment__loan_id=loan["id"], payment__number=number)
        assert rows.count() == 5 and len({r.loan_note_id for r in rows}) == 5
    paid = sum(Decimal(p["amount"]) for p in (first, second))
    assert Profile.objects.get(user=borrower).balance == before - paid
    checks = assert_audit_clean()
    show(capsys, "pay vs autopay, five notes", {**outcomes, "invariant checks": checks})
