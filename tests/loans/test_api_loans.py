"""Loans through the HTTP API: create, detail, publish, cancel (every hold released), the caller's list
with ?status= and ?role=, /api/loans/available/ and /api/loans/quote/."""

from decimal import Decimal

import pytest

from accounts.models import Transaction
from tests.accounts.api_helpers import (
    accept,
    assert_loan_shape,
    assert_money,
    assert_page,
    assert_problem,
    balances,
    create_loan,
    fund,
    make_offer,
    post,
)
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


# Create --------------------------------------------------------------------------------------------


def test_create_loan_returns_the_loan_with_every_field(borrower, borrower_api):
    response = post(borrower_api, "/api/loans/", {"amount": "5000.00", "term_months": 6, "interest_rate": "15.00"})

    assert response.status_code == 201, response.content
    loan = response.json()
    assert_loan_shape(loan)
    assert {k: v for k, v in loan.items() if k not in ("id", "created_at")} == {
        "borrower": borrower.pk,
        "lender": None,
        "lenders": [],  # v2
        "amount": "5000.00",
        "term_months": 6,
        "interest_rate": "15.00",
        "lenme_fee": "3.75",
        "total_loan_amount": "5003.75",
        "monthly_payment_amount": None,
        "principal_outstanding": "0.00",  # v2
        "status": "OPEN",
        "closed_reason": None,
        "autopay": False,
        "accepted_at": None,
        "funded_at": None,
        "completed_at": None,
        "days_past_due": 0,  # v2
        "delinquency": "current",  # v2
        "defaulted_at": None,  # v2
    }


def test_create_loan_without_rate_has_null_rate(borrower_api):
    loan = create_loan(borrower_api, interest_rate=None)

    assert loan["interest_rate"] is None and loan["monthly_payment_amount"] is None


def test_create_loan_accepts_json_numbers(borrower_api):
    response = borrower_api.post(
        "/api/loans/", b'{"amount": 5000, "term_months": 6, "interest_rate": 15.5}', content_type="application/json"
    )

    assert response.status_code == 201, response.content
    assert (response.json()["amount"], response.json()["interest_rate"]) == ("5000.00", "15.50")


def test_create_draft_loan(borrower_api):
    assert create_loan(borrower_api, draft=True)["status"] == "DRAFT"
    assert create_loan(borrower_api, draft=False)["status"] == "OPEN"


def test_create_loan_ignores_status_lender_fee_and_other_fields(borrower, borrower_api, lender):
    loan = create_loan(
        borrower_api,
        status="FUNDED",
        lender=lender.pk,
        lenme_fee="0.00",
        fee="0.00",
        borrower=lender.pk,
        total_loan_amount="1.00",
        id=999999,
        autopay=True,
        funded_at="2020-01-01T00:00:00Z",
    )

    assert loan["status"] == "OPEN" and loan["lender"] is None and loan["borrower"] == borrower.pk
    assert loan["lenme_fee"] == "3.75" and loan["total_loan_amount"] == "5003.75"
    assert loan["id"] != 999999 and loan["autopay"] is False and loan["funded_at"] is None


def test_create_loan_limits(borrower_api):
    assert create_loan(borrower_api, amount="1.00", term_months=1)["amount"] == "1.00"
    assert create_loan(borrower_api, amount="1000000.00", term_months=360)["term_months"] == 360
    assert create_loan(borrower_api, amount="360.00", term_months=360)["amount"] == "360.00"
    assert create_loan(borrower_api, interest_rate="0.00")["interest_rate"] == "0.00"
    assert create_loan(borrower_api, interest_rate="100.00")["interest_rate"] == "100.00"


@pytest.mark.parametrize(
    "body, field",
    [
        ({"amount": "359.99", "term_months": 360}, "amount"),
        ({"amount": "5.99", "term_months": 6}, "amount"),
        ({"amount": "0.99", "term_months": 1}, "amount"),
        ({"amount": "1000000.01", "term_months": 6}, "amount"),
        ({"amount": "5000.00", "term_months": 0}, "term_months"),
        ({"amount": "5000.00", "term_months": 361}, "term_months"),
        ({"amount": "5000.00", "term_months": -1}, "term_months"),
        ({"amount": "5000.00", "term_months": "6"}, "term_months"),
        ({"amount": "5000.00", "term_months": 6.0}, "term_months"),
        ({"amount": "5000.00", "term_months": True}, "term_months"),
        ({"amount": "5000.00", "term_months": None}, "term_months"),
        ({"amount": "5000.00", "term_months": [6]}, "term_months"),
        ({"amount": "5000.00", "term_months": int("9" * 40)}, "term_months"),
        ({"amount": "5000.00"}, "term_months"),
        ({"term_months": 6}, "amount"),
        ({"amount": "5000.00", "term_months": 6, "interest_rate": "100.01"}, "interest_rate"),
        ({"amount": "5000.00", "term_months": 6, "interest_rate": "-0.01"}, "interest_rate"),
        ({"amount": "5000.00", "term_months": 6, "interest_rate": "15.001"}, "interest_rate"),
        ({"amount": "5000.00", "term_months": 6, "interest_rate": "1e1"}, "interest_rate"),
        ({"amount": "5000.00", "term_months": 6, "interest_rate": "abc"}, "interest_rate"),
        ({"amount": "5000.00", "term_months": 6, "interest_rate": True}, "interest_rate"),
        ({"amount": "5000.00", "term_months": 6, "draft": "yes"}, "draft"),
        ({"amount": "5000.00", "term_months": 6, "draft": 1}, "draft"),
        ({"amount": "5000.00", "term_months": 6, "draft": "true"}, "draft"),
        ({"amount": "5000.00", "term_months": 6, "draft": None}, "draft"),
    ],
)
def test_create_loan_rejects_invalid_fields(borrower, borrower_api, body, field):
    response = post(borrower_api, "/api/loans/", body)

    assert_problem(response, 400, "validation_error", field=field)
    assert borrower_api.get("/api/loans/").json()["count"] == 0


@pytest.mark.parametrize(
    "amount",
    ["1.000", 1.001, "1e3", "NaN", "Infinity", 0, -5, "abc", True, None, [], {}, "9" * 40, "-5000.00"],
    ids=repr,
)
def test_create_loan_rejects_hostile_amounts(borrower_api, amount):
    response = post(borrower_api, "/api/loans/", {"amount": amount, "term_months": 6})

    assert_problem(response, 400, "validation_error", field="amount")


@pytest.mark.parametrize("raw", [b'{"amount": 1e3, "term_months": 6}', b'{"amount": "5000.00", "term_months": 6e0}'])
def test_create_loan_rejects_exponent_numbers(borrower_api, raw):
    assert_problem(borrower_api.post("/api/loans/", raw, content_type="application/json"), 400, "validation_error")


@pytest.mark.parametrize("raw", [b"[]", b'"loan"', b'[{"amount": "5000.00", "term_months": 6}]'])
def test_create_loan_non_object_body_is_400(borrower_api, raw):
    assert_problem(borrower_api.post("/api/loans/", raw, content_type="application/json"), 400, "validation_error")


def test_create_loan_invalid_json_is_parse_error(borrower_api):
    response = borrower_api.post("/api/loans/", b'{"amount": "5000.00", ', content_type="application/json")

    assert_problem(response, 400, "parse_error")


def test_create_loan_needs_a_token(api):
    assert_problem(post(api, "/api/loans/", {"amount": "5000.00", "term_months": 6}), 401, "not_authenticated")


# Detail --------------------------------------------------------------------------------------------


def test_loan_detail_has_empty_payments_before_funding(borrower_api, stranger_api):
    loan = create_loan(borrower_api)

    for client in (borrower_api, stranger_api):
        response = client.get(f"/api/loans/{loan['id']}/")
        assert response.status_code == 200
        assert_loan_shape(response.json(), detail=True)
        assert response.json()["payments"] == []


def test_loan_detail_of_missing_loan_is_404(borrower_api):
    assert_problem(borrower_api.get("/api/loans/999999/"), 404, "not_found")


def test_loan_detail_of_huge_id_is_404_not_500(borrower_api):
    assert_problem(borrower_api.get("/api/loans/99999999999999999999999/"), 404, "not_found")
    assert_problem(borrower_api.get("/api/loans/abc/"), 404, "not_found")


def test_loan_detail_shows_the_schedule_to_borrower_and_lender_only(
    borrower_api, lender, lender_api, lender2_api, stranger_api
):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "15.00")
    make_offer(lender2_api, loan["id"], "15.00")
    accept(borrower_api, loan["id"])
    fund(lender_api, loan["id"])

    for client in (borrower_api, lender_api):
        assert len(client.get(f"/api/loans/{loan['id']}/").json()["payments"]) == 6
    # The losing lender can see the loan, but its schedule is the parties' business (as for /payments/).
    losing = lender2_api.get(f"/api/loans/{loan['id']}/")
    assert losing.status_code == 200 and losing.json()["status"] == "FUNDED"
    assert losing.json()["payments"] == []
    assert_problem(stranger_api.get(f"/api/loans/{loan['id']}/"), 404, "not_found")


# Publish -------------------------------------------------------------------------------------------


def test_draft_is_visible_only_to_its_borrower_until_published(borrower_api, lender_api):
    draft = create_loan(borrower_api, draft=True)

    assert borrower_api.get(f"/api/loans/{draft['id']}/").json()["status"] == "DRAFT"
    assert_problem(lender_api.get(f"/api/loans/{draft['id']}/"), 404, "not_found")
    assert lender_api.get("/api/loans/available/").json()["count"] == 0
    assert_problem(post(lender_api, f"/api/loans/{draft['id']}/offers/", {"interest_rate": "5.00"}), 404, "not_found")
    assert_problem(post(lender_api, f"/api/loans/{draft['id']}/publish/"), 404, "not_found")

    published = post(borrower_api, f"/api/loans/{draft['id']}/publish/")

    assert published.status_code == 200, published.content
    assert_loan_shape(published.json())
    assert published.json()["status"] == "OPEN"
    assert lender_api.get(f"/api/loans/{draft['id']}/").status_code == 200
    assert [loan["id"] for loan in lender_api.get("/api/loans/available/").json()["results"]] == [draft["id"]]


def test_publish_an_open_loan_is_invalid_state(borrower_api, stranger_api):
    loan = create_loan(borrower_api)

    assert_problem(post(borrower_api, f"/api/loans/{loan['id']}/publish/"), 409, "invalid_state")
    assert_problem(post(stranger_api, f"/api/loans/{loan['id']}/publish/"), 403, "permission_denied")


# Cancel --------------------------------------------------------------------------------------------


def test_cancel_draft(borrower_api):
    loan = create_loan(borrower_api, draft=True)

    response = post(borrower_api, f"/api/loans/{loan['id']}/cancel/")

    assert response.status_code == 200, response.content
    assert_loan_shape(response.json())
    assert response.json()["status"] == "CANCELLED"


def test_cancel_open(borrower_api):
    loan = create_loan(borrower_api)

    assert post(borrower_api, f"/api/loans/{loan['id']}/cancel/").json()["status"] == "CANCELLED"


def test_cancel_offered_rejects_every_offer_and_releases_every_hold(
    borrower_api, lender_api, lender2_api, stranger_api
):
    loan = create_loan(borrower_api)
    offers = [make_offer(c, loan["id"], "12.00") for c in (lender_api, lender2_api, stranger_api)]
    post(stranger_api, f"/api/loans/{loan['id']}/offers/{offers[2]['id']}/withdraw/")
    before = Transaction.objects.count()

    response = post(borrower_api, f"/api/loans/{loan['id']}/cancel/")

    assert response.status_code == 200, response.content
    assert response.json()["status"] == "CANCELLED" and response.json()["lender"] is None
    for client in (lender_api, lender2_api, stranger_api):
        assert balances(client) == ("10000.00", "0.00", "10000.00")
    mine = lender_api.get(f"/api/loans/{loan['id']}/offers/").json()["results"]
    assert [(o["status"], o["reserved_amount"]) for o in mine] == [("REJECTED", "0.00")]
    withdrawn = stranger_api.get(f"/api/loans/{loan['id']}/offers/").json()["results"]
    assert [(o["status"], o["reserved_amount"]) for o in withdrawn] == [("WITHDRAWN", "0.00")]
    assert Transaction.objects.count() == before  # a hold is not a money movement


def test_cancel_accepted_rejects_the_accepted_offer_and_releases_its_hold(
    borrower_api, lender, lender_api, lender2_api
):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")
    make_offer(lender2_api, loan["id"], "11.00")
    accepted = accept(borrower_api, loan["id"])
    assert accepted["lender"] == lender.pk and accepted["interest_rate"] == "10.00"
    assert balances(lender_api) == ("10000.00", "5003.75", "4996.25")

    cancelled = post(borrower_api, f"/api/loans/{loan['id']}/cancel/").json()

    assert cancelled["status"] == "CANCELLED"
    assert balances(lender_api) == ("10000.00", "0.00", "10000.00")
    assert balances(lender2_api) == ("10000.00", "0.00", "10000.00")
    offer = lender_api.get(f"/api/loans/{loan['id']}/offers/").json()["results"][0]
    assert (offer["status"], offer["reserved_amount"]) == ("REJECTED", "0.00")
    # The former lender made an offer, so still sees the loan; nobody can fund it any more.
    assert lender_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "CANCELLED"
    assert_problem(post(lender_api, f"/api/loans/{loan['id']}/fund/"), 403, "permission_denied")  # not its lender now
    assert balances(lender_api) == ("10000.00", "0.00", "10000.00")


def test_cancel_funded_is_invalid_state_and_moves_nothing(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")
    accept(borrower_api, loan["id"])
    fund(lender_api, loan["id"])

    assert_problem(post(borrower_api, f"/api/loans/{loan['id']}/cancel/"), 409, "invalid_state")
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "FUNDED"
    assert balances(borrower_api) == ("5000.00", "0.00", "5000.00")


def test_cancel_twice_is_invalid_state(borrower_api):
    loan = create_loan(borrower_api)
    post(borrower_api, f"/api/loans/{loan['id']}/cancel/")

    assert_problem(post(borrower_api, f"/api/loans/{loan['id']}/cancel/"), 409, "invalid_state")


def test_cancelled_loan_takes_no_offers_and_is_hidden_from_strangers(borrower_api, lender_api, stranger_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")
    post(borrower_api, f"/api/loans/{loan['id']}/cancel/")

    assert_problem(
        post(lender_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "9.00"}), 409, "invalid_state"
    )
    assert_problem(stranger_api.get(f"/api/loans/{loan['id']}/"), 404, "not_found")
    assert lender_api.get("/api/loans/available/").json()["count"] == 0


# The caller's list ---------------------------------------------------------------------------------


@pytest.fixture
def my_loans(borrower_api, lender_api, lender2_api):
    """lender: borrows an OPEN and a DRAFT loan, lends on one FUNDED loan and lost an offer on another."""
    own_open = create_loan(lender_api, amount="100.00", interest_rate="10.00")
    own_draft = create_loan(lender_api, amount="200.00", draft=True)
    lent = create_loan(borrower_api, amount="300.00")
    make_offer(lender_api, lent["id"], "10.00")
    accept(borrower_api, lent["id"])
    fund(lender_api, lent["id"])
    lost = create_loan(borrower_api, amount="400.00")
    make_offer(lender_api, lost["id"], "12.00")
    make_offer(lender2_api, lost["id"], "11.00")
    accept(borrower_api, lost["id"])
    return {"own_open": own_open, "own_draft": own_draft, "lent": lent, "lost": lost}


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    results = assert_page(response.json())
    for loan in results:
        assert_loan_shape(loan)
    return [loan["id"] for loan in results]


def test_loan_list_without_role_shows_borrowed_and_lent_newest_first(lender_api, my_loans):
    assert ids(lender_api.get("/api/loans/")) == [
        my_loans["lent"]["id"],
        my_loans["own_draft"]["id"],
        my_loans["own_open"]["id"],
    ]


def test_loan_list_role_borrower_and_lender(lender_api, my_loans):
    assert ids(lender_api.get("/api/loans/?role=borrower")) == [my_loans["own_draft"]["id"], my_loans["own_open"]["id"]]
    assert ids(lender_api.get("/api/loans/?role=lender")) == [my_loans["lent"]["id"]]


def test_loan_list_status_filter(lender_api, borrower_api, my_loans):
    assert ids(lender_api.get("/api/loans/?status=DRAFT")) == [my_loans["own_draft"]["id"]]
    assert ids(lender_api.get("/api/loans/?status=FUNDED&role=lender")) == [my_loans["lent"]["id"]]
    assert ids(lender_api.get("/api/loans/?status=FUNDED&role=borrower")) == []
    assert ids(borrower_api.get("/api/loans/?status=ACCEPTED")) == [my_loans["lost"]["id"]]


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=open", "status"),
        ("status=BOGUS", "status"),
        ("status=", "status"),
        ("role=admin", "role"),
        ("role=Lender", "role"),
        ("role=", "role"),
    ],
)
def test_loan_list_bad_filters_are_400(borrower_api, query, field):
    assert_problem(borrower_api.get(f"/api/loans/?{query}"), 400, "validation_error", field=field)


def test_loan_list_needs_a_token(api):
    assert_problem(api.get("/api/loans/"), 401, "not_authenticated")


# Pagination ----------------------------------------------------------------------------------------


def test_pagination_default_50_and_max_200(borrower_api):
    for _ in range(201):
        post(borrower_api, "/api/loans/", {"amount": "10.00", "term_months": 1})

    default = borrower_api.get("/api/loans/").json()
    assert default["count"] == 201 and len(default["results"]) == 50 and default["previous"] is None
    assert default["next"].endswith("/api/loans/?page=2")
    assert len(borrower_api.get("/api/loans/?page_size=200").json()["results"]) == 200
    last = borrower_api.get("/api/loans/?page=5").json()
    assert len(last["results"]) == 1 and last["next"] is None
    newest_first = [loan["id"] for loan in borrower_api.get("/api/loans/?page_size=200").json()["results"]]
    assert newest_first == sorted(newest_first, reverse=True)


@pytest.mark.parametrize(
    "url",
    [
        "/api/loans/?page=abc",
        "/api/loans/?page=0",
        "/api/loans/?page=-1",
        "/api/loans/?page=2",
        "/api/loans/?page=99999999999999999999",
        "/api/loans/?page=1.5",
        "/api/loans/?page_size=abc",
        "/api/loans/?page_size=0",
        "/api/loans/?page_size=-5",
        "/api/transactions/?page=9",
        "/api/loans/available/?page=9",
    ],
)
def test_bad_or_out_of_range_page_is_400(borrower_api, url):
    create_loan(borrower_api)

    body = assert_problem(borrower_api.get(url), 400, "validation_error")
    assert body["errors"][0]["field"] in ("page", "page_size")


def test_first_page_of_an_empty_list_is_200(borrower_api):
    assert borrower_api.get("/api/loans/?page=1").json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_offers_page_out_of_range_is_400_not_a_misleading_404(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")

    assert_problem(borrower_api.get(f"/api/loans/{loan['id']}/offers/?page=3"), 400, "validation_error", field="page")


# Available -----------------------------------------------------------------------------------------


@pytest.fixture
def market(borrower_api, lender_api, lender2_api):
    """Loans as the stranger sees the market: three open ones, plus ones that must not show."""
    small = create_loan(borrower_api, amount="100.00", term_months=3)
    big = create_loan(borrower_api, amount="9000.00", term_months=12)
    mid = create_loan(borrower_api, amount="500.00", term_months=3)
    make_offer(lender_api, mid["id"], "10.00")  # OFFERED, still no lender: listed
    accepted = create_loan(borrower_api, amount="600.00", term_months=3)
    make_offer(lender_api, accepted["id"], "10.00")
    accept(borrower_api, accepted["id"])
    create_loan(borrower_api, amount="700.00", draft=True)
    cancelled = create_loan(borrower_api, amount="800.00")
    post(borrower_api, f"/api/loans/{cancelled['id']}/cancel/")
    return {"small": small["id"], "big": big["id"], "mid": mid["id"]}


def test_available_lists_open_and_offered_loans_without_lender_newest_first(stranger_api, market):
    assert ids(stranger_api.get("/api/loans/available/")) == [market["mid"], market["big"], market["small"]]


def test_available_excludes_the_callers_own_loans(borrower_api, stranger_api, market):
    mine = create_loan(stranger_api, amount="50.00", term_months=1)

    assert mine["id"] not in ids(stranger_api.get("/api/loans/available/"))
    assert mine["id"] in ids(borrower_api.get("/api/loans/available/"))
    assert ids(borrower_api.get("/api/loans/available/")) == [mine["id"]]


def test_available_filters(stranger_api, market):
    assert ids(stranger_api.get("/api/loans/available/?min_amount=500")) == [market["mid"], market["big"]]
    assert ids(stranger_api.get("/api/loans/available/?max_amount=500.00")) == [market["mid"], market["small"]]
    assert ids(stranger_api.get("/api/loans/available/?min_amount=100.01&max_amount=8999.99")) == [market["mid"]]
    assert ids(stranger_api.get("/api/loans/available/?term_months=3")) == [market["mid"], market["small"]]
    assert ids(stranger_api.get("/api/loans/available/?term_months=12&min_amount=1")) == [market["big"]]


def test_available_ordering(stranger_api, market):
    by = lambda o: ids(stranger_api.get(f"/api/loans/available/?ordering={o}"))  # noqa: E731
    assert by("amount") == [market["small"], market["mid"], market["big"]]
    assert by("-amount") == [market["big"], market["mid"], market["small"]]
    assert by("created_at") == [market["small"], market["big"], market["mid"]]
    assert by("-created_at") == [market["mid"], market["big"], market["small"]]


@pytest.mark.parametrize(
    "query, field",
    [
        ("min_amount=abc", "min_amount"),
        ("min_amount=1e3", "min_amount"),
        ("min_amount=1.001", "min_amount"),
        ("min_amount=NaN", "min_amount"),
        ("min_amount=-5", "min_amount"),
        ("max_amount=Infinity", "max_amount"),
        ("max_amount=" + "9" * 40, "max_amount"),
        ("max_amount=", "max_amount"),
        ("term_months=abc", "term_months"),
        ("term_months=6.0", "term_months"),
        ("term_months=0", "term_months"),
        ("term_months=361", "term_months"),
        ("term_months=" + "9" * 40, "term_months"),
        ("term_months=true", "term_months"),
        ("ordering=id", "ordering"),
        ("ordering=-status", "ordering"),
        ("ordering=amount;drop", "ordering"),
        ("ordering=", "ordering"),
    ],
)
def test_available_bad_query_params_are_400(stranger_api, query, field):
    assert_problem(stranger_api.get(f"/api/loans/available/?{query}"), 400, "validation_error", field=field)


def test_available_min_amount_zero_means_no_lower_bound(stranger_api, market):
    assert len(ids(stranger_api.get("/api/loans/available/?min_amount=0"))) == 3


def test_available_needs_a_token(api):
    assert_problem(api.get("/api/loans/available/"), 401, "not_authenticated")


# Quote ---------------------------------------------------------------------------------------------


def test_quote_worked_example_without_auth(api):
    response = api.get("/api/loans/quote/?amount=5000.00&term_months=6&interest_rate=15.00")

    assert response.status_code == 200, response.content
    assert response.json() == {
        "amount": "5000.00",
        "term_months": 6,
        "interest_rate": "15.00",
        "lenme_fee": "3.75",
        "monthly_payment_amount": "870.17",
        "total_repayment": "5221.00",
        "total_interest": "221.00",
        "payments": [
            {"number": 1, "amount": "870.17", "principal": "807.67", "interest": "62.50"},
            {"number": 2, "amount": "870.17", "principal": "817.77", "interest": "52.40"},
            {"number": 3, "amount": "870.17", "principal": "827.99", "interest": "42.18"},
            {"number": 4, "amount": "870.17", "principal": "838.34", "interest": "31.83"},
            {"number": 5, "amount": "870.16", "principal": "848.81", "interest": "21.35"},
            {"number": 6, "amount": "870.16", "principal": "859.42", "interest": "10.74"},
        ],
    }


def test_quote_zero_rate_and_360_months(api):
    zero = api.get("/api/loans/quote/?amount=100&term_months=3&interest_rate=0").json()
    assert [p["amount"] for p in zero["payments"]] == ["33.33", "33.34", "33.33"]  # re-levelled: 66.67 / 2
    assert zero["total_interest"] == "0.00" and zero["interest_rate"] == "0.00"

    long = api.get("/api/loans/quote/?amount=1000000.00&term_months=360&interest_rate=100.00")
    assert long.status_code == 200 and len(long.json()["payments"]) == 360
    total = sum(Decimal(p["principal"]) for p in long.json()["payments"])
    assert total == Decimal("1000000.00")
    for row in long.json()["payments"]:
        assert_money(row["amount"])


def test_quote_matches_what_funding_creates(borrower_api, lender_api, api):
    loan = create_loan(borrower_api, amount="1234.56", term_months=7, interest_rate="9.99")
    make_offer(lender_api, loan["id"], "9.99")
    accept(borrower_api, loan["id"])
    funded = fund(lender_api, loan["id"])

    quote = api.get("/api/loans/quote/?amount=1234.56&term_months=7&interest_rate=9.99").json()

    assert [{k: p[k] for k in ("number", "amount", "principal", "interest")} for p in funded["payments"]] == quote[
        "payments"
    ]
    assert funded["monthly_payment_amount"] == quote["monthly_payment_amount"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("term_months=6&interest_rate=15", "amount"),
        ("amount=5000&interest_rate=15", "term_months"),
        ("amount=5000&term_months=6", "interest_rate"),
        ("amount=5000.001&term_months=6&interest_rate=15", "amount"),
        ("amount=1e3&term_months=6&interest_rate=15", "amount"),
        ("amount=NaN&term_months=6&interest_rate=15", "amount"),
        ("amount=Infinity&term_months=6&interest_rate=15", "amount"),
        ("amount=0&term_months=6&interest_rate=15", "amount"),
        ("amount=-5&term_months=6&interest_rate=15", "amount"),
        ("amount=abc&term_months=6&interest_rate=15", "amount"),
        ("amount=" + "9" * 40 + "&term_months=6&interest_rate=15", "amount"),
        ("amount=1000000.01&term_months=6&interest_rate=15", "amount"),
        ("amount=5.99&term_months=6&interest_rate=15", "amount"),
        ("amount=5000&term_months=6.0&interest_rate=15", "term_months"),
        ("amount=5000&term_months=abc&interest_rate=15", "term_months"),
        ("amount=5000&term_months=0&interest_rate=15", "term_months"),
        ("amount=5000&term_months=361&interest_rate=15", "term_months"),
        ("amount=5000&term_months=" + "9" * 40 + "&interest_rate=15", "term_months"),
        ("amount=5000&term_months=%206&interest_rate=15", "term_months"),
        ("amount=5000&term_months=6&interest_rate=100.01", "interest_rate"),
        ("amount=5000&term_months=6&interest_rate=-1", "interest_rate"),
        ("amount=5000&term_months=6&interest_rate=1.005", "interest_rate"),
        ("amount=5000&term_months=6&interest_rate=1e1", "interest_rate"),
    ],
)
def test_quote_bad_input_is_400(api, query, field):
    assert_problem(api.get(f"/api/loans/quote/?{query}"), 400, "validation_error", field=field)


def test_quote_creates_nothing(api):
    api.get("/api/loans/quote/?amount=5000.00&term_months=6&interest_rate=15.00")

    assert client_for(UserFactory(username="quoter")).get("/api/loans/available/").json()["count"] == 0
    assert Transaction.objects.count() == 0
