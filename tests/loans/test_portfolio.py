"""GET /api/portfolio/ (v2): every figure checked against what this test computes on its own from the
ledger rows it created and the contract's schedule rule; the caller's figures only; 401 without a
token; a bounded number of queries whatever the number of notes."""

import datetime
from decimal import Decimal
from fractions import Fraction

import pytest
from django.db.models import Sum

from accounts.models import Transaction
from loans import jobs, services
from loans.models import Note, Payment
from tests import factories
from tests.accounts.api_helpers import assert_problem
from tests.conftest import client_for
from tests.loans.delinquency_helpers import funded_loan, ref_round, ref_schedule

pytestmark = pytest.mark.django_db
D = Decimal
ZERO = D("0.00")


def portfolio(user) -> dict:
    response = client_for(user).get("/api/portfolio/")
    assert response.status_code == 200, response.content
    return response.json()


def ledger(**filters) -> Decimal:
    return (Transaction.objects.filter(**filters).aggregate(t=Sum("amount"))["t"] or ZERO).quantize(D("0.01"))


def test_portfolio_needs_a_token(api):
    assert_problem(api.get("/api/portfolio/"), 401, "not_authenticated")
    api.credentials(HTTP_AUTHORIZATION="Token nope")
    assert_problem(api.get("/api/portfolio/"), 401, "authentication_failed")


def test_a_new_user_has_an_empty_portfolio(stranger):
    assert portfolio(stranger) == {
        "lender": {
            "notes": {"ACTIVE": 0, "REPAID": 0, "CHARGED_OFF": 0},
            "principal_invested": "0.00", "principal_outstanding": "0.00", "principal_repaid": "0.00",
            "interest_received": "0.00", "late_fees_received": "0.00", "fees_paid": "0.00",
            "charged_off_principal": "0.00", "recoveries": "0.00", "held_in_offers": "0.00",
            "weighted_average_rate": None,
        },
        "borrower": {"loans": {}, "principal_outstanding": "0.00", "total_repaid": "0.00", "next_payment": None},
    }  # fmt: skip


@pytest.fixture
def book(settings):
    """Lender L holds three notes: on loan X (ACTIVE, two installments paid, one late), on loan Y
    (CHARGED_OFF, then two installments recovered), on loan Z (REPAID); plus a PENDING part offer.
    Other lenders share X and Y. Borrower B owes X and Y; B2 owes Z."""
    settings.LENME_LATE_FEE = D("5.00")
    settings.LENME_MIN_NOTE = D("10.00")
    L = factories.UserFactory(username="L", balance=D("50000.00"))
    M = factories.UserFactory(username="M", balance=D("50000.00"))
    N = factories.UserFactory(username="N", balance=D("50000.00"))
    B = factories.UserFactory(username="B", balance=D("5000.00"))
    B2 = factories.UserFactory(username="B2", balance=D("5000.00"))
    X = funded_loan(B, [(L, "9.00", "700.00"), (M, "13.00", "300.00")], amount="1000.00", term=6)
    Y = funded_loan(B, [(L, "17.50", "250.00"), (N, "11.00", "550.00")], amount="800.00", term=4)
    Z = funded_loan(B2, [(L, "12.25", None)], amount="300.00", term=3)
    # X: installment 1 paid late (after the sweep marked it overdue), installment 2 on time.
    x1, x2 = Payment.objects.filter(loan=X).order_by("number")[:2]
    jobs.sweep(today=x1.due_date + datetime.timedelta(days=3))
    services.payment_pay(loan_id=X.pk, payment_id=x1.pk, borrower=B)
    services.payment_pay(loan_id=X.pk, payment_id=x2.pk, borrower=B)
    # Z: repaid in full (before the sweep below, which would otherwise charge it off too).
    for p in Payment.objects.filter(loan=Z).order_by("number"):
        services.payment_pay(loan_id=Z.pk, payment_id=p.pk, borrower=B2)
    # Y: charged off with nothing paid, then two installments recovered.
    y1 = Payment.objects.get(loan=Y, number=1)
    jobs.sweep(today=y1.due_date + datetime.timedelta(days=settings.LENME_CHARGE_OFF_DAYS))
    marker = Transaction.objects.order_by("-pk").values_list("pk", flat=True).first()
    for p in Payment.objects.filter(loan=Y).order_by("number")[:2]:
        services.payment_pay(loan_id=Y.pk, payment_id=p.pk, borrower=B)
    # And a pending part offer on a new loan.
    W = services.loan_create(borrower=B2, amount=D("1000.00"), term_months=12, interest_rate=D("20.00"))
    services.offer_submit(loan_id=W.pk, lender=L, interest_rate=D("15.00"), amount=D("250.00"))
    return dict(L=L, M=M, N=N, B=B, B2=B2, X=X, Y=Y, Z=Z, W=W, marker=marker)


def test_lender_figures_match_the_ledger_and_the_contracts_schedule(book):
    L, X, Y, Z = book["L"], book["X"], book["Y"], book["Z"]
    # What L received, from the ledger, split into principal/interest by the reference schedule of
    # each note (a repayment row pays the note's row plus its late fee share; the rest is late fee).
    terms = {X.pk: ("700.00", "9.00", 6), Y.pk: ("250.00", "17.50", 4), Z.pk: ("300.00", "12.25", 3)}
    principal = interest = late = ZERO
    outstanding_active: dict[str, Decimal] = {}
    for loan_id, (amount, rate, n) in terms.items():
        rows = ref_schedule(amount, rate, n)
        receipts = list(
            Transaction.objects.filter(kind="repayment", to_user=L, loan_id=loan_id)
            .order_by("pk")
            .values_list("payment__number", "amount")
        )
        for number, got in receipts:
            row_amount, row_principal, row_interest = rows[number - 1]
            principal += row_principal
            interest += row_interest
            late += got - row_amount
        if loan_id == X.pk:
            outstanding_active[rate] = D(amount) - sum((rows[k - 1][1] for k, _ in receipts), ZERO)
    assert late > 0  # X's late installment 1 paid L a share of the 5.00 fee
    invested = ledger(kind="funding", from_user=L)
    fees = ledger(kind="fee", from_user=L)
    recoveries = ledger(kind="repayment", to_user=L, loan=Y, pk__gt=book["marker"])
    y_rows = ref_schedule("250.00", "17.50", 4)
    w_hold = D("250.00") + (D("3.75") * D("250") / D("1000")).quantize(D("0.01"), rounding="ROUND_CEILING")
    total_weight = sum(outstanding_active.values(), ZERO)
    rate = ref_round(
        sum((Fraction(D(r)) * Fraction(w) for r, w in outstanding_active.items()), Fraction(0)) / Fraction(total_weight)
    )

    assert portfolio(L)["lender"] == {
        "notes": {"ACTIVE": 1, "REPAID": 1, "CHARGED_OFF": 1},
        "principal_invested": f"{invested}",
        "principal_outstanding": f"{total_weight}",
        "principal_repaid": f"{principal}",
        "interest_received": f"{interest}",
        "late_fees_received": f"{late}",
        "fees_paid": f"{fees}",
        "charged_off_principal": "250.00",  # nothing of Y was paid before the charge-off
        "recoveries": f"{recoveries}",
        "held_in_offers": f"{w_hold}",
        "weighted_average_rate": f"{rate}",
    }
    assert invested == D("1250.00")
    assert recoveries > sum((r[0] for r in y_rows[:2]), ZERO)  # its rows and late fee shares were recovered
    assert principal + interest + late == ledger(kind="repayment", to_user=L)


def test_several_active_notes_weigh_the_rate_by_principal_outstanding(settings):
    settings.LENME_MIN_NOTE = D("10.00")
    L = factories.UserFactory(username="L", balance=D("50000.00"))
    M = factories.UserFactory(username="M", balance=D("50000.00"))
    B = factories.UserFactory(username="B", balance=D("100.00"))
    funded_loan(B, [(L, "10.00", "333.33"), (M, "9.00", "666.67")], amount="1000.00", term=3)
    funded_loan(B, [(L, "15.01", "100.00")], amount="100.00", term=3)
    # (10.00 * 333.33 + 15.01 * 100.00) / 433.33 = 11.1561... -> 11.16
    assert portfolio(L)["lender"]["weighted_average_rate"] == "11.16"
    assert portfolio(L)["lender"]["principal_outstanding"] == "433.33"


def test_borrower_figures_match_the_ledger(book):
    B, B2, X, Y = book["B"], book["B2"], book["X"], book["Y"]
    body = portfolio(B)["borrower"]
    x_rows = [
        sum(parts)
        for parts in zip(
            [p for _, p, _ in ref_schedule("700.00", "9.00", 6)],
            [p for _, p, _ in ref_schedule("300.00", "13.00", 6)],
            strict=True,
        )
    ]
    y_rows = [
        sum(parts)
        for parts in zip(
            [p for _, p, _ in ref_schedule("250.00", "17.50", 4)],
            [p for _, p, _ in ref_schedule("550.00", "11.00", 4)],
            strict=True,
        )
    ]
    x3 = Payment.objects.get(loan=X, number=3)
    y3 = Payment.objects.get(loan=Y, number=3)
    nxt = min((x3, y3), key=lambda p: (p.due_date, p.loan_id))
    assert body == {
        "loans": {"FUNDED": 1, "DEFAULTED": 1},
        "principal_outstanding": f"{sum(x_rows[2:], ZERO) + sum(y_rows[2:], ZERO)}",
        "total_repaid": f"{ledger(kind='repayment', from_user=B)}",
        "next_payment": {
            "loan": nxt.loan_id,
            "number": 3,
            "due_date": nxt.due_date.isoformat(),
            "amount": f"{nxt.amount + nxt.late_fee}",
        },
    }
    assert portfolio(B2)["borrower"]["loans"] == {"COMPLETED": 1, "OFFERED": 1}  # W has a PENDING offer
    assert portfolio(B2)["borrower"]["next_payment"] is None


def test_nobody_sees_another_users_figures(book):
    """Each user's answer is computed from their own rows: M's and N's figures are theirs, not L's."""
    M, N = book["M"], book["N"]
    m = portfolio(M)["lender"]
    assert m["notes"] == {"ACTIVE": 1, "REPAID": 0, "CHARGED_OFF": 0}
    assert m["principal_invested"] == "300.00" and m["recoveries"] == "0.00" and m["held_in_offers"] == "0.00"
    n = portfolio(N)["lender"]
    assert n["notes"] == {"ACTIVE": 0, "REPAID": 0, "CHARGED_OFF": 1}
    assert n["charged_off_principal"] == "550.00"
    assert D(n["recoveries"]) == ledger(kind="repayment", to_user=N, pk__gt=book["marker"])
    assert portfolio(M)["borrower"] == {
        "loans": {},
        "principal_outstanding": "0.00",
        "total_repaid": "0.00",
        "next_payment": None,
    }
    # Query parameters ask for nothing else: the answer is still the caller's.
    other = client_for(M).get(f"/api/portfolio/?user={book['L'].pk}&lender={book['L'].pk}").json()
    assert other["lender"] == m


def _lender_with_notes(count: int) -> object:
    L = factories.UserFactory(username=f"L{count}", balance=D("1000000.00"))
    B = factories.UserFactory(username=f"B{count}", balance=D("100.00"))
    for _ in range(count):
        funded_loan(B, [(L, "12.00", None)], amount="10.00", term=1)
    return L


@pytest.mark.parametrize("count", [1, 200])
def test_portfolio_query_count_does_not_grow_with_notes(count, django_assert_max_num_queries):
    L = _lender_with_notes(count)
    assert Note.objects.filter(lender=L).count() == count
    api = client_for(L)
    with django_assert_max_num_queries(13):
        body = api.get("/api/portfolio/").json()
    assert body["lender"]["notes"]["ACTIVE"] == count
    assert body["lender"]["principal_outstanding"] == f"{D('10.00') * count}"
