"""Notes (v2): many lenders fund one loan in parts, each repaid to the cent by its own schedule.

Money is checked against references written here from API.md's words (Decimal, not lenme.money)."""

import datetime
from decimal import ROUND_CEILING, ROUND_DOWN, ROUND_HALF_UP, Decimal, localcontext

import pytest
from django.db import connection

from accounts.audit import audit
from accounts.models import Profile, Transaction
from loans import jobs, services
from loans.models import Loan, NotePayment, Offer
from loans.schedule import build_schedule
from tests import factories
from tests.accounts.api_helpers import assert_problem, balances, create_loan, post
from tests.conftest import client_for

pytestmark = pytest.mark.django_db
CENT = Decimal("0.01")


# References from the contract's words ------------------------------------------------------------


def ref_fee_hold(fee: str, amount: str, loan_amount: str) -> Decimal:
    """`lenme_fee * amount / loan amount` rounded **up** to the cent."""
    with localcontext() as ctx:
        ctx.prec = 60
        return (Decimal(fee) * Decimal(amount) / Decimal(loan_amount)).quantize(CENT, rounding=ROUND_CEILING)


def ref_split(total: Decimal, weights: list[Decimal]) -> list[Decimal]:
    """Each part rounded down to the cent, the missing cents one each to the largest remainders; ties to
    the earlier part (the caller lists parts in the contract's tie order)."""
    with localcontext() as ctx:
        ctx.prec = 60
        whole = sum(weights)
        exact = [total * w / whole for w in weights]
        parts = [x.quantize(CENT, rounding=ROUND_DOWN) for x in exact]
        missing = int((total - sum(parts)) / CENT)
        for i in sorted(range(len(parts)), key=lambda i: (-(exact[i] - parts[i]), i))[:missing]:
            parts[i] += CENT
        return parts


def ref_weighted_rate(parts: list[tuple[str, str]], loan_amount: str) -> str:
    with localcontext() as ctx:
        ctx.prec = 60
        avg = sum(Decimal(r) * Decimal(a) for r, a in parts) / Decimal(loan_amount)
        return f"{avg.quantize(CENT, rounding=ROUND_HALF_UP)}"


# Helpers ------------------------------------------------------------------------------------------


def offer(client, loan_id: int, rate: str, amount: str | None = None) -> dict:
    body = {"interest_rate": rate} | ({"amount": amount} if amount is not None else {})
    response = post(client, f"/api/loans/{loan_id}/offers/", body)
    assert response.status_code == 201, response.content
    return response.json()


def user(name: str, balance: str = "10000.00"):
    u = factories.UserFactory(username=name, balance=Decimal(balance))
    return u, client_for(u)


def snapshot(loan_id: int) -> tuple:
    """Everything a refused request must leave untouched."""
    return (
        list(Loan.objects.filter(pk=loan_id).values()),
        list(Offer.objects.filter(loan_id=loan_id).order_by("pk").values()),
        Transaction.objects.count(),
        list(Profile.objects.order_by("pk").values_list("balance", "reserved_balance")),
    )


@pytest.fixture
def three(borrower, borrower_api):
    """A 1000.00 loan over 3 months with four offers: A 400.00 at 10%, B 350.00 at 12%, C the whole loan
    at 12% (younger than B), D 300.00 at 9%."""
    loan = create_loan(borrower_api, amount="1000.00", term_months=3, interest_rate="20.00")
    people = {name: user(name) for name in ("la", "lb", "lc", "ld")}
    offers = {
        "A": offer(people["la"][1], loan["id"], "10.00", "400.00"),
        "B": offer(people["lb"][1], loan["id"], "12.00", "350.00"),
        "C": offer(people["lc"][1], loan["id"], "12.00"),
        "D": offer(people["ld"][1], loan["id"], "9.00", "300.00"),
    }
    return loan, people, offers


# Offers -------------------------------------------------------------------------------------------


def test_a_part_offer_holds_its_amount_plus_its_fee_share_rounded_up(three):
    loan, people, offers = three
    assert offers["A"]["amount"] == "400.00"
    assert offers["A"]["reserved_amount"] == f"{Decimal('400.00') + ref_fee_hold('3.75', '400', '1000')}"  # 401.50
    assert offers["B"]["reserved_amount"] == f"{Decimal('350.00') + ref_fee_hold('3.75', '350', '1000')}"  # 351.32
    assert offers["B"]["reserved_amount"] == "351.32"
    assert offers["C"]["amount"] == "1000.00" and offers["C"]["reserved_amount"] == "1003.75"  # v1 exactly
    assert balances(people["lb"][1]) == ("10000.00", "351.32", "9648.68")
    for o in offers.values():
        assert o["filled_amount"] is None and o["fee"] is None and o["funded_at"] is None


@pytest.mark.parametrize(
    "amount, code",
    [("24.99", "out_of_range"), ("1000.01", "out_of_range"), ("1.000", None), ("10.001", None), ("0", None),
     ("-5.00", None), (25, None)],
)  # fmt: skip
def test_an_offer_amount_out_of_range_or_with_three_decimals_is_400_and_holds_nothing(
    borrower_api, stranger, stranger_api, amount, code
):
    loan = create_loan(borrower_api, amount="1000.00", term_months=3)
    before = balances(stranger_api)

    response = post(stranger_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00", "amount": amount})

    if amount == 25:  # a JSON number with two places at most is a valid amount
        assert response.status_code == 201 and response.json()["amount"] == "25.00"
        return
    body = assert_problem(response, 400, "validation_error", field="amount")
    if code:
        assert body["errors"][0]["code"] == code
    assert balances(stranger_api) == before
    assert not Offer.objects.filter(loan_id=loan["id"]).exists()


def test_the_minimum_part_is_the_loan_amount_when_that_is_smaller(borrower_api, stranger_api, settings):
    settings.LENME_MIN_NOTE = Decimal("25.00")
    loan = create_loan(borrower_api, amount="20.00", term_months=2)
    assert_problem(
        post(stranger_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00", "amount": "19.99"}),
        400,
        "validation_error",
        field="amount",
    )
    assert offer(stranger_api, loan["id"], "10.00", "20.00")["reserved_amount"] == "23.75"


# Accept -------------------------------------------------------------------------------------------


def test_accept_fills_in_rate_order_splits_the_fee_and_cuts_the_holds(borrower_api, three):
    loan, people, offers = three
    ids = [offers[k]["id"] for k in ("C", "B", "A")]  # any order: the fill order is the rates'

    response = post(borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_ids": ids})

    assert response.status_code == 200, response.content
    body = response.json()
    filled = [("10.00", "400.00"), ("12.00", "350.00"), ("12.00", "250.00")]  # A, B (older), C in part
    fees = ref_split(Decimal("3.75"), [Decimal(a) for _, a in filled])
    assert [f"{f}" for f in fees] == ["1.50", "1.31", "0.94"]
    assert body["status"] == "ACCEPTED"
    assert body["lenders"] == [people[k][0].pk for k in ("la", "lb", "lc")]
    assert body["lender"] is None
    assert body["interest_rate"] == ref_weighted_rate(filled, "1000.00") == "11.20"
    first_rows = sum(
        build_schedule(amount=Decimal(a), annual_rate=Decimal(r), term_months=3)[0].amount for r, a in filled
    )
    assert body["monthly_payment_amount"] == f"{first_rows}"
    for key, name, (_, amount), fee in zip("ABC", ("la", "lb", "lc"), filled, fees, strict=True):
        row = Offer.objects.get(pk=offers[key]["id"])
        assert (row.status, row.filled_amount, row.fee) == ("ACCEPTED", Decimal(amount), fee)
        hold = Decimal(amount) + fee
        assert row.reserved_amount == hold
        assert balances(people[name][1]) == ("10000.00", f"{hold}", f"{Decimal('10000.00') - hold}")
    assert Offer.objects.get(pk=offers["D"]["id"]).status == "REJECTED"  # not chosen: released
    assert balances(people["ld"][1]) == ("10000.00", "0.00", "10000.00")
    assert audit().ok, audit().violations


def test_accept_by_default_fills_every_pending_offer_in_rate_order(borrower_api, three):
    loan, people, offers = three
    body = post(borrower_api, f"/api/loans/{loan['id']}/accept/", {}).json()
    # D 300 at 9%, A 400 at 10%, B 300 of 350 at 12%; C (younger at 12%) is not needed: released.
    assert body["lenders"] == [people[k][0].pk for k in ("ld", "la", "lb")]
    assert Offer.objects.get(pk=offers["B"]["id"]).filled_amount == Decimal("300.00")
    assert Offer.objects.get(pk=offers["C"]["id"]).status == "REJECTED"
    fees = ref_split(Decimal("3.75"), [Decimal("300"), Decimal("400"), Decimal("300")])
    got = [Offer.objects.get(pk=offers[k]["id"]).fee for k in ("D", "A", "B")]
    assert got == fees == [Decimal("1.13"), Decimal("1.50"), Decimal("1.12")]  # the tie goes to the earlier filled
    assert audit().ok, audit().violations


@pytest.mark.parametrize(
    "body_of",
    [
        lambda o: {"offer_ids": []},
        lambda o: {"offer_ids": [o["A"]["id"], o["A"]["id"]]},
        lambda o: {"offer_ids": [o["A"]["id"], 987654]},
        lambda o: {"offer_ids": [o["A"]["id"]], "offer_id": o["A"]["id"]},
        lambda o: {"offer_ids": "1,2"},
        lambda o: {"offer_ids": [o["A"]["id"], "2"]},
        lambda o: {"offer_ids": [2**70]},
    ],
)
def test_bad_offer_ids_are_400_and_change_nothing(borrower_api, three, body_of):
    loan, people, offers = three
    before = snapshot(loan["id"])

    response = post(borrower_api, f"/api/loans/{loan['id']}/accept/", body_of(offers))

    assert_problem(response, 400, "validation_error")
    assert snapshot(loan["id"]) == before


def test_an_offer_of_another_loan_is_foreign(borrower_api, three, stranger_api):
    loan, people, offers = three
    other = create_loan(borrower_api, amount="100.00", term_months=1)
    foreign = offer(stranger_api, other["id"], "5.00")
    before = snapshot(loan["id"])
    response = post(borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_ids": [offers["A"]["id"], foreign["id"]]})
    assert_problem(response, 400, "validation_error", field="offer_ids")
    assert snapshot(loan["id"]) == before


def test_offers_that_do_not_cover_the_loan_are_409_not_covered_and_change_nothing(borrower_api, three):
    loan, people, offers = three
    before = snapshot(loan["id"])

    response = post(
        borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_ids": [offers["A"]["id"], offers["B"]["id"]]}
    )

    assert_problem(response, 409, "not_covered")
    assert snapshot(loan["id"]) == before
    # A single part offer by offer_id (v1 shape) is not covered either.
    assert_problem(
        post(borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_id": offers["A"]["id"]}), 409, "not_covered"
    )


def test_a_chosen_offer_that_is_not_pending_is_409_invalid_state(borrower_api, three):
    loan, people, offers = three
    assert post(people["la"][1], f"/api/loans/{loan['id']}/offers/{offers['A']['id']}/withdraw/").status_code == 200
    response = post(
        borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_ids": [offers["A"]["id"], offers["C"]["id"]]}
    )
    assert_problem(response, 409, "invalid_state")


# Fund, notes, payments ----------------------------------------------------------------------------


def accept_three(borrower_api, loan, offers) -> None:
    ids = [offers[k]["id"] for k in "ABC"]
    assert post(borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_ids": ids}).status_code == 200


def test_every_lender_funds_and_the_last_disburses_one_funding_and_one_fee_row_per_note(
    borrower, borrower_api, three, stranger_api
):
    loan, people, offers = three
    accept_three(borrower_api, loan, offers)
    url = f"/api/loans/{loan['id']}/fund/"

    assert_problem(post(people["ld"][1], url), 403, "permission_denied")  # a released offer's lender
    assert_problem(post(stranger_api, url), 404, "not_found")
    first = post(people["la"][1], url)
    assert first.status_code == 200 and first.json()["status"] == "ACCEPTED" and first.json()["payments"] == []
    assert Offer.objects.get(pk=offers["A"]["id"]).funded_at is not None
    assert balances(people["la"][1]) == ("10000.00", "401.50", "9598.50")  # the hold is kept
    assert_problem(post(people["la"][1], url), 409, "invalid_state")  # already funded
    assert Transaction.objects.filter(loan_id=loan["id"]).count() == 0
    assert post(people["lb"][1], url).json()["status"] == "ACCEPTED"

    last = post(people["lc"][1], url)

    assert last.status_code == 200, last.content
    body = last.json()
    assert body["status"] == "FUNDED" and len(body["payments"]) == 3
    notes = borrower_api.get(f"/api/loans/{loan['id']}/notes/").json()["results"]
    assert [n["amount"] for n in notes] == ["400.00", "350.00", "250.00"]
    assert [n["fee"] for n in notes] == ["1.50", "1.31", "0.94"]
    assert [n["lender"] for n in notes] == [people[k][0].pk for k in ("la", "lb", "lc")]
    for note, name in zip(notes, ("la", "lb", "lc"), strict=True):
        rows = Transaction.objects.filter(loan_note_id=note["id"]).order_by("kind")
        assert [(t.kind, f"{t.amount}", t.from_user_id) for t in rows] == [
            ("fee", note["fee"], people[name][0].pk),
            ("funding", note["amount"], people[name][0].pk),
        ]
        spent = Decimal(note["amount"]) + Decimal(note["fee"])
        assert balances(people[name][1]) == (f"{Decimal('10000.00') - spent}", "0.00", f"{Decimal('10000.00') - spent}")
    assert balances(borrower_api)[0] == "1000.00"
    # Each installment is the sum of its notes' rows, each note amortized on its own.
    per_note = [
        build_schedule(amount=Decimal(a), annual_rate=Decimal(r), term_months=3)
        for r, a in (("10.00", "400.00"), ("12.00", "350.00"), ("12.00", "250.00"))
    ]
    for k, row in enumerate(body["payments"]):
        assert row["amount"] == f"{sum(s[k].amount for s in per_note)}"
        assert row["principal"] == f"{sum(s[k].principal for s in per_note)}"
        assert row["interest"] == f"{sum(s[k].interest for s in per_note)}"
    assert body["principal_outstanding"] == "1000.00"
    tx = people["la"][1].get("/api/transactions/").json()["results"]
    assert {t["note_id"] for t in tx if t["kind"] in ("funding", "fee")} == {notes[0]["id"]}
    assert audit().ok, audit().violations


def test_each_installment_pays_every_note_its_row_and_its_late_fee_share(borrower, borrower_api, three, settings):
    loan, people, offers = three
    accept_three(borrower_api, loan, offers)
    for name in ("la", "lb", "lc"):
        body = post(people[name][1], f"/api/loans/{loan['id']}/fund/").json()
    first = body["payments"][0]
    settings.LENME_LATE_FEE = Decimal("5.00")
    jobs.payments_mark_overdue(today=datetime.date.fromisoformat(first["due_date"]) + datetime.timedelta(days=1))
    factories.account_deposit(user=borrower, amount=Decimal("500.00"))
    notes = borrower_api.get(f"/api/loans/{loan['id']}/notes/").json()["results"]
    rows = [NotePayment.objects.get(note_id=n["id"], number=1) for n in notes]
    shares = ref_split(Decimal("5.00"), [r.amount for r in rows])  # lower note id first: the tie order
    before = [Decimal(balances(people[k][1])[0]) for k in ("la", "lb", "lc")]

    paid = post(borrower_api, f"/api/loans/{loan['id']}/payments/{first['id']}/pay/")

    assert paid.status_code == 200, paid.content
    assert sum(shares) == Decimal("5.00")
    for name, row, share, was in zip(("la", "lb", "lc"), rows, shares, before, strict=True):
        got = Transaction.objects.get(kind="repayment", payment_id=first["id"], loan_note_id=row.note_id)
        assert got.amount == row.amount + share and got.to_user_id == people[name][0].pk
        assert Decimal(balances(people[name][1])[0]) == was + row.amount + share
        detail = people[name][1].get(f"/api/notes/{row.note_id}/").json()
        assert detail["payments"][0]["late_fee"] == f"{share}" and detail["payments"][0]["paid"] is True
        assert detail["late_fees_received"] == f"{share}"
        assert detail["principal_repaid"] == f"{row.principal}"
        assert Decimal(detail["principal_repaid"]) + Decimal(detail["principal_outstanding"]) == Decimal(
            detail["amount"]
        )
    kinds = {n.kind for n in factories.User.objects.get(username="lb").notifications.all()}
    assert "payment_received" in kinds
    # Pay the rest: every note REPAID, every lender told the loan is complete.
    for row in body["payments"][1:]:
        assert post(borrower_api, f"/api/loans/{loan['id']}/payments/{row['id']}/pay/").status_code == 200
    statuses = {n["status"] for n in borrower_api.get(f"/api/loans/{loan['id']}/notes/").json()["results"]}
    assert statuses == {"REPAID"}
    for name in ("la", "lb", "lc"):
        assert people[name][0].notifications.filter(kind="loan_completed").count() == 1
    assert audit().ok, audit().violations


def test_note_visibility(borrower_api, three, stranger_api):
    loan, people, offers = three
    accept_three(borrower_api, loan, offers)
    assert borrower_api.get(f"/api/loans/{loan['id']}/notes/").json()["results"] == []  # before funding
    assert people["la"][1].get(f"/api/loans/{loan['id']}/notes/").json()["results"] == []
    assert_problem(people["ld"][1].get(f"/api/loans/{loan['id']}/notes/"), 403, "permission_denied")
    for name in ("la", "lb", "lc"):
        post(people[name][1], f"/api/loans/{loan['id']}/fund/")
    mine = people["lb"][1].get(f"/api/loans/{loan['id']}/notes/").json()["results"]
    assert [n["lender"] for n in mine] == [people["lb"][0].pk]
    others = [n["id"] for n in borrower_api.get(f"/api/loans/{loan['id']}/notes/").json()["results"]]
    assert len(others) == 3
    assert_problem(people["la"][1].get(f"/api/notes/{mine[0]['id']}/"), 404, "not_found")
    assert_problem(stranger_api.get(f"/api/notes/{mine[0]['id']}/"), 404, "not_found")
    assert borrower_api.get(f"/api/notes/{mine[0]['id']}/").status_code == 200
    assert [n["id"] for n in people["lb"][1].get("/api/notes/").json()["results"]] == [mine[0]["id"]]
    assert people["lb"][1].get("/api/notes/?status=REPAID").json()["count"] == 0
    assert_problem(people["lb"][1].get("/api/notes/?status=NOPE"), 400, "validation_error")
    # Every lender sees the schedule and lists the loan as theirs.
    assert len(people["lc"][1].get(f"/api/loans/{loan['id']}/payments/").json()) == 3
    assert [x["id"] for x in people["lc"][1].get("/api/loans/?role=lender").json()["results"]] == [loan["id"]]
    assert_problem(people["ld"][1].get(f"/api/loans/{loan['id']}/payments/"), 403, "permission_denied")


def test_a_v1_loan_has_one_note_whose_schedule_is_the_loans(borrower_api, lender, lender_api):
    loan = create_loan(borrower_api)
    offer(lender_api, loan["id"], "15.00")
    accepted = post(borrower_api, f"/api/loans/{loan['id']}/accept/", {}).json()
    assert accepted["lender"] == lender.pk and accepted["lenders"] == [lender.pk]
    funded = post(lender_api, f"/api/loans/{loan['id']}/fund/").json()
    (note,) = lender_api.get("/api/notes/").json()["results"]
    assert (note["amount"], note["fee"], note["interest_rate"]) == ("5000.00", "3.75", "15.00")
    rows = lender_api.get(f"/api/notes/{note['id']}/").json()["payments"]
    assert [(r["amount"], r["principal"], r["interest"], r["due_date"]) for r in rows] == [
        (p["amount"], p["principal"], p["interest"], p["due_date"]) for p in funded["payments"]
    ]
    assert [p["amount"] for p in funded["payments"]] == ["870.17"] * 4 + ["870.16"] * 2


def test_the_funding_deadline_releases_every_accepted_offer_funded_or_not(borrower_api, three, settings):
    loan, people, offers = three
    accept_three(borrower_api, loan, offers)
    post(people["la"][1], f"/api/loans/{loan['id']}/fund/")
    settings.LENME_FUNDING_TTL = 0

    jobs.fundings_expire(now=Loan.objects.get(pk=loan["id"]).accepted_at + datetime.timedelta(seconds=1))

    body = borrower_api.get(f"/api/loans/{loan['id']}/").json()
    assert body["status"] == "OPEN" and body["lenders"] == [] and body["lender"] is None
    assert body["interest_rate"] == "20.00" and body["monthly_payment_amount"] is None
    for key, name in zip("ABCD", ("la", "lb", "lc", "ld"), strict=True):
        assert Offer.objects.get(pk=offers[key]["id"]).status == ("EXPIRED" if key != "D" else "REJECTED")
        assert balances(people[name][1]) == ("10000.00", "0.00", "10000.00")
    for name in ("la", "lb", "lc"):
        assert people[name][0].notifications.filter(kind="offer_expired").count() == 1
    assert audit().ok, audit().violations


def test_cancel_after_a_partial_funding_releases_every_hold(borrower_api, three):
    loan, people, offers = three
    accept_three(borrower_api, loan, offers)
    post(people["lb"][1], f"/api/loans/{loan['id']}/fund/")

    assert post(borrower_api, f"/api/loans/{loan['id']}/cancel/").json()["status"] == "CANCELLED"

    for name in ("la", "lb", "lc", "ld"):
        assert balances(people[name][1]) == ("10000.00", "0.00", "10000.00")
    assert audit().ok, audit().violations


def test_autopay_pays_every_note(borrower, borrower_api, three):
    loan, people, offers = three
    accept_three(borrower_api, loan, offers)
    for name in ("la", "lb", "lc"):
        body = post(people[name][1], f"/api/loans/{loan['id']}/fund/").json()
    services.loan_autopay_set(loan_id=loan["id"], borrower=borrower, enabled=True)
    factories.account_deposit(user=borrower, amount=Decimal("100.00"))
    jobs.autopay_run(today=datetime.date.fromisoformat(body["payments"][-1]["due_date"]))
    assert Loan.objects.get(pk=loan["id"]).status == "COMPLETED"
    assert Transaction.objects.filter(kind="repayment", loan_id=loan["id"]).count() == 9
    assert audit().ok, audit().violations


# Query counts -------------------------------------------------------------------------------------


def many_offers(borrower, n: int, *, term: int = 12):
    loan = services.loan_create(borrower=borrower, amount=Decimal(25 * n), term_months=term)
    people = []
    for i in range(n):
        lender = factories.UserFactory(username=f"q{n}_{i}", balance=Decimal("100.00"))
        services.offer_submit(loan_id=loan.pk, lender=lender, interest_rate=Decimal(5 + i % 7), amount=Decimal("25.00"))
        people.append(lender)
    return loan, people


def inserts_into(queries, table: str) -> int:
    """Statements that insert into table, on their own or inside a WITH (PostgreSQL folds some)."""
    return sum(1 for q in queries if f'INSERT INTO "{table}"' in q["sql"])


@pytest.mark.parametrize("n", [1, 5, 40])
def test_accept_fund_and_pay_take_a_bounded_number_of_queries(borrower, borrower_api, n, django_assert_max_num_queries):
    loan, people = many_offers(borrower, n)
    with django_assert_max_num_queries(10 if connection.vendor == "postgresql" else 12):
        assert post(borrower_api, f"/api/loans/{loan.pk}/accept/", {}).status_code == 200
    for lender in people[:-1]:
        services.loan_fund(loan_id=loan.pk, lender=lender)
    last = client_for(people[-1])
    # +2 for the webhook/email outbox (one statement with the notifications on PostgreSQL)
    with django_assert_max_num_queries(13 if connection.vendor == "postgresql" else 16) as captured:
        body = post(last, f"/api/loans/{loan.pk}/fund/").json()
    assert body["status"] == "FUNDED"
    assert inserts_into(captured.captured_queries, "loans_notepayment") == 1
    assert NotePayment.objects.filter(note__loan=loan).count() == 12 * n
    factories.account_deposit(user=borrower, amount=Decimal("100.00"))
    # +2 for the webhook/email outbox, +1 for days_past_due as of the payment's day (v2 Delinquency);
    # PostgreSQL folds them (and the note rows and profiles) into the payment's lock and the step's one
    # write statement
    with django_assert_max_num_queries(6 if connection.vendor == "postgresql" else 14) as captured:
        assert post(borrower_api, f"/api/loans/{loan.pk}/payments/{body['payments'][0]['id']}/pay/").status_code == 200
    assert inserts_into(captured.captured_queries, "accounts_transaction") == 1
    assert Transaction.objects.filter(kind="repayment", loan_id=loan.pk).count() == n
    assert audit().ok, audit().violations


def test_a_40_note_360_month_loan_funds_in_one_request(borrower, borrower_api):
    loan, people = many_offers(borrower, 40, term=360)
    services.loan_accept(loan_id=loan.pk, borrower=borrower)
    for lender in people[:-1]:
        services.loan_fund(loan_id=loan.pk, lender=lender)

    response = post(client_for(people[-1]), f"/api/loans/{loan.pk}/fund/")

    assert response.status_code == 200 and response.json()["status"] == "FUNDED"
    assert len(response.json()["payments"]) == 360
    assert NotePayment.objects.filter(note__loan=loan).count() == 40 * 360
    assert audit().ok, audit().violations
