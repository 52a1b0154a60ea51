"""Offers through the HTTP API: submit (holds), list (ordering and who sees what), withdraw, reject and
accept (default best, explicit offer_id), with every hold checked through GET /api/accounts/me/."""

import pytest

from accounts.models import Transaction
from tests.accounts.api_helpers import (
    accept,
    assert_loan_shape,
    assert_offer_shape,
    assert_page,
    assert_problem,
    balances,
    create_loan,
    make_offer,
    post,
)
from tests.conftest import client_for
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

FULL = ("10000.00", "0.00", "10000.00")
HOLDING_ONE = ("10000.00", "5003.75", "4996.25")


def offers_url(loan_id: int) -> str:
    return f"/api/loans/{loan_id}/offers/"


# Submit --------------------------------------------------------------------------------------------


def test_offer_reserves_total_loan_amount_and_makes_the_loan_offered(borrower_api, lender, lender_api):
    loan = create_loan(borrower_api)
    before = Transaction.objects.count()

    response = post(lender_api, offers_url(loan["id"]), {"interest_rate": "12.50"})

    assert response.status_code == 201, response.content
    offer = response.json()
    assert_offer_shape(offer)
    assert {k: v for k, v in offer.items() if k not in ("id", "created_at")} == {
        "loan": loan["id"],
        "lender": lender.pk,
        "interest_rate": "12.50",
        "amount": "5000.00",  # v2: left out, the whole loan
        "filled_amount": None,
        "fee": None,
        "reserved_amount": "5003.75",
        "status": "PENDING",
        "funded_at": None,
    }
    assert balances(lender_api) == HOLDING_ONE
    loan_now = borrower_api.get(f"/api/loans/{loan['id']}/").json()
    assert loan_now["status"] == "OFFERED" and loan_now["lender"] is None and loan_now["interest_rate"] == "15.00"
    assert Transaction.objects.count() == before  # a hold moves no money


def test_offer_at_exactly_the_max_rate_and_at_zero(borrower_api, lender_api, lender2_api):
    loan = create_loan(borrower_api)

    assert make_offer(lender_api, loan["id"], "15.00")["interest_rate"] == "15.00"
    assert make_offer(lender2_api, loan["id"], "0")["interest_rate"] == "0.00"


def test_offer_on_loan_without_max_rate_accepts_any_rate(borrower_api, lender_api):
    loan = create_loan(borrower_api, interest_rate=None)

    assert make_offer(lender_api, loan["id"], "100.00")["interest_rate"] == "100.00"


def test_offer_above_the_max_rate_is_400_and_holds_nothing(borrower_api, lender_api):
    loan = create_loan(borrower_api)

    assert_problem(
        post(lender_api, offers_url(loan["id"]), {"interest_rate": "15.01"}),
        400,
        "validation_error",
        field="interest_rate",
    )
    assert balances(lender_api) == FULL
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OPEN"


@pytest.mark.parametrize(
    "rate",
    ["1.001", 1.001, "1e1", "NaN", "Infinity", -5, "-0.01", "100.01", "abc", True, None, [], {}, "9" * 40, 12],
    ids=repr,
)
def test_offer_hostile_rates_are_400_and_hold_nothing(borrower_api, lender_api, rate):
    loan = create_loan(borrower_api, interest_rate=None)

    response = post(lender_api, offers_url(loan["id"]), {"interest_rate": rate})

    if rate == 12:  # a JSON integer is a valid number with no decimals
        assert response.status_code == 201 and response.json()["interest_rate"] == "12.00"
        return
    assert_problem(response, 400, "validation_error", field="interest_rate")
    assert balances(lender_api) == FULL


def test_offer_missing_rate_and_non_object_bodies_are_400(borrower_api, lender_api):
    loan = create_loan(borrower_api)

    assert_problem(post(lender_api, offers_url(loan["id"]), {}), 400, "validation_error", field="interest_rate")
    for raw in (b"[]", b'"12.00"', b"12"):
        response = lender_api.post(offers_url(loan["id"]), raw, content_type="application/json")
        assert_problem(response, 400, "validation_error", field=None)
    assert_problem(lender_api.post(offers_url(loan["id"]), b"{", content_type="application/json"), 400, "parse_error")
    assert balances(lender_api) == FULL


def test_offer_on_own_loan_is_403_even_with_an_invalid_body(borrower_api):
    loan = create_loan(borrower_api)

    assert_problem(post(borrower_api, offers_url(loan["id"]), {"interest_rate": "10.00"}), 403, "permission_denied")
    assert_problem(post(borrower_api, offers_url(loan["id"]), {"interest_rate": "nope"}), 403, "permission_denied")
    assert_problem(post(borrower_api, offers_url(loan["id"]), {"interest_rate": "99.00"}), 403, "permission_denied")


def test_second_pending_offer_by_the_same_lender_is_duplicate_offer(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "12.00")

    assert_problem(post(lender_api, offers_url(loan["id"]), {"interest_rate": "11.00"}), 409, "duplicate_offer")
    assert balances(lender_api) == HOLDING_ONE


def test_offer_after_withdrawing_is_allowed(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    first = make_offer(lender_api, loan["id"], "12.00")
    post(lender_api, f"{offers_url(loan['id'])}{first['id']}/withdraw/")

    again = make_offer(lender_api, loan["id"], "11.00")

    assert again["status"] == "PENDING" and balances(lender_api) == HOLDING_ONE


def test_offer_with_insufficient_available_balance_is_409(borrower_api, lender_api):
    loan = create_loan(borrower_api, amount="5000.00")
    other = create_loan(borrower_api, amount="4996.26", term_months=1)
    make_offer(lender_api, loan["id"], "10.00")  # 4996.25 left available

    response = post(lender_api, offers_url(other["id"]), {"interest_rate": "10.00"})

    assert_problem(response, 409, "insufficient_funds")
    assert balances(lender_api) == HOLDING_ONE
    assert borrower_api.get(f"/api/loans/{other['id']}/").json()["status"] == "OPEN"


def test_offer_that_exactly_uses_the_available_balance_is_allowed(borrower_api):
    exact = client_for(UserFactory(username="exact", balance="5003.75"))
    loan = create_loan(borrower_api)

    make_offer(exact, loan["id"], "10.00")

    assert balances(exact) == ("5003.75", "5003.75", "0.00")


def test_offer_needs_open_or_offered_loan(borrower_api, lender_api, lender2_api, stranger_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")
    accept(borrower_api, loan["id"])

    # The loan is ACCEPTED: still visible to lenders who made an offer, but closed to new ones.
    assert_problem(post(lender_api, offers_url(loan["id"]), {"interest_rate": "9.00"}), 409, "invalid_state")
    assert_problem(post(stranger_api, offers_url(loan["id"]), {"interest_rate": "9.00"}), 404, "not_found")
    assert balances(lender2_api) == FULL


def test_invalid_state_beats_duplicate_and_insufficient_funds(borrower_api, lender_api, lender2_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")
    make_offer(lender2_api, loan["id"], "11.00")
    accept(borrower_api, loan["id"], None)

    # lender2 was rejected and is still a viewer; the loan is ACCEPTED: invalid_state wins.
    assert_problem(post(lender2_api, offers_url(loan["id"]), {"interest_rate": "9.00"}), 409, "invalid_state")


def test_offer_on_missing_loan_is_404(lender_api):
    assert_problem(post(lender_api, offers_url(999999), {"interest_rate": "10.00"}), 404, "not_found")
    assert_problem(post(lender_api, offers_url(999999), {"interest_rate": "bad"}), 404, "not_found")


# List ----------------------------------------------------------------------------------------------


@pytest.fixture
def four_offers(borrower_api, lender_api, lender2_api, stranger_api):
    loan = create_loan(borrower_api, interest_rate="20.00")
    fourth = client_for(UserFactory(username="fourth", balance="10000.00"))
    a = make_offer(lender_api, loan["id"], "12.00")
    b = make_offer(lender2_api, loan["id"], "11.00")
    c = make_offer(stranger_api, loan["id"], "12.00")
    d = make_offer(fourth, loan["id"], "13.00")
    return loan, {"lender": a, "lender2": b, "stranger": c, "fourth": d}, fourth


def offer_ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    results = assert_page(response.json())
    for offer in results:
        assert_offer_shape(offer)
    return [o["id"] for o in results]


def test_borrower_sees_offers_lowest_rate_first_then_oldest(borrower_api, four_offers):
    loan, o, _ = four_offers

    assert offer_ids(borrower_api.get(offers_url(loan["id"]))) == [
        o["lender2"]["id"],
        o["lender"]["id"],
        o["stranger"]["id"],
        o["fourth"]["id"],
    ]


def test_borrower_sees_every_offer_but_rejected_ones(borrower_api, lender_api, stranger_api, four_offers):
    loan, o, _ = four_offers
    post(borrower_api, f"/api/loans/{loan['id']}/reject/{o['lender2']['id']}/")
    post(stranger_api, f"{offers_url(loan['id'])}{o['stranger']['id']}/withdraw/")

    listed = borrower_api.get(offers_url(loan["id"])).json()["results"]

    assert [(x["id"], x["status"]) for x in listed] == [
        (o["lender"]["id"], "PENDING"),
        (o["stranger"]["id"], "WITHDRAWN"),
        (o["fourth"]["id"], "PENDING"),
    ]


def test_a_lender_sees_only_their_own_offers_whatever_their_status(lender2_api, borrower_api, four_offers):
    loan, o, _ = four_offers
    post(borrower_api, f"/api/loans/{loan['id']}/reject/{o['lender2']['id']}/")

    listed = lender2_api.get(offers_url(loan["id"])).json()["results"]

    assert [(x["id"], x["status"], x["reserved_amount"]) for x in listed] == [(o["lender2"]["id"], "REJECTED", "0.00")]


def test_a_viewer_without_offers_sees_an_empty_page(borrower_api):
    loan = create_loan(borrower_api)
    viewer = client_for(UserFactory(username="viewer"))

    assert viewer.get(offers_url(loan["id"])).json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_offer_list_paginates(borrower_api, four_offers):
    loan, o, _ = four_offers

    page = borrower_api.get(f"{offers_url(loan['id'])}?page_size=3&page=2").json()

    assert page["count"] == 4 and [x["id"] for x in page["results"]] == [o["fourth"]["id"]]


# Withdraw ------------------------------------------------------------------------------------------


def test_withdraw_releases_the_hold_and_reopens_the_loan_when_no_pending_is_left(borrower_api, lender_api, lender2_api):
    loan = create_loan(borrower_api)
    first = make_offer(lender_api, loan["id"], "10.00")
    second = make_offer(lender2_api, loan["id"], "11.00")

    response = post(lender_api, f"{offers_url(loan['id'])}{first['id']}/withdraw/")

    assert response.status_code == 200, response.content
    assert_offer_shape(response.json())
    assert (response.json()["status"], response.json()["reserved_amount"]) == ("WITHDRAWN", "0.00")
    assert balances(lender_api) == FULL
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OFFERED"

    post(lender2_api, f"{offers_url(loan['id'])}{second['id']}/withdraw/")

    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OPEN"
    assert balances(lender2_api) == FULL


def test_withdraw_twice_is_invalid_state(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    offer = make_offer(lender_api, loan["id"], "10.00")
    post(lender_api, f"{offers_url(loan['id'])}{offer['id']}/withdraw/")

    assert_problem(post(lender_api, f"{offers_url(loan['id'])}{offer['id']}/withdraw/"), 409, "invalid_state")
    assert balances(lender_api) == FULL


def test_withdraw_someone_elses_offer_is_403(borrower_api, lender_api, lender2_api):
    loan = create_loan(borrower_api)
    offer = make_offer(lender_api, loan["id"], "10.00")

    for client in (borrower_api, lender2_api):
        assert_problem(post(client, f"{offers_url(loan['id'])}{offer['id']}/withdraw/"), 403, "permission_denied")
    assert balances(lender_api) == HOLDING_ONE


def test_withdraw_accepted_offer_is_invalid_state(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    offer = make_offer(lender_api, loan["id"], "10.00")
    accept(borrower_api, loan["id"])

    assert_problem(post(lender_api, f"{offers_url(loan['id'])}{offer['id']}/withdraw/"), 409, "invalid_state")
    assert balances(lender_api) == HOLDING_ONE


def test_withdraw_with_offer_id_of_another_loan_is_404(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    other = create_loan(borrower_api)
    offer = make_offer(lender_api, other["id"], "10.00")

    assert_problem(post(lender_api, f"{offers_url(loan['id'])}{offer['id']}/withdraw/"), 404, "not_found")
    assert_problem(post(lender_api, f"{offers_url(loan['id'])}99999999999999999999999/withdraw/"), 404, "not_found")
    assert balances(lender_api) == HOLDING_ONE


# Reject --------------------------------------------------------------------------------------------


def test_reject_releases_the_hold_and_reopens_the_loan(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    offer = make_offer(lender_api, loan["id"], "10.00")

    response = post(borrower_api, f"/api/loans/{loan['id']}/reject/{offer['id']}/")

    assert response.status_code == 200, response.content
    assert_offer_shape(response.json())
    assert (response.json()["status"], response.json()["reserved_amount"]) == ("REJECTED", "0.00")
    assert balances(lender_api) == FULL
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OPEN"
    # The lender can offer again on the reopened loan.
    assert make_offer(lender_api, loan["id"], "9.00")["status"] == "PENDING"


def test_reject_non_pending_offer_is_invalid_state(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    offer = make_offer(lender_api, loan["id"], "10.00")
    post(lender_api, f"{offers_url(loan['id'])}{offer['id']}/withdraw/")

    assert_problem(post(borrower_api, f"/api/loans/{loan['id']}/reject/{offer['id']}/"), 409, "invalid_state")


def test_reject_by_anyone_but_the_borrower_is_403(borrower_api, lender_api, lender2_api):
    loan = create_loan(borrower_api)
    offer = make_offer(lender_api, loan["id"], "10.00")

    for client in (lender_api, lender2_api):
        assert_problem(post(client, f"/api/loans/{loan['id']}/reject/{offer['id']}/"), 403, "permission_denied")
    assert balances(lender_api) == HOLDING_ONE


def test_reject_offer_of_another_loan_is_404(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    other = create_loan(borrower_api)
    offer = make_offer(lender_api, other["id"], "10.00")

    assert_problem(post(borrower_api, f"/api/loans/{loan['id']}/reject/{offer['id']}/"), 404, "not_found")
    assert balances(lender_api) == HOLDING_ONE


# Accept --------------------------------------------------------------------------------------------


def test_accept_defaults_to_lowest_rate_then_oldest(borrower_api, lender, lender_api, lender2_api, stranger_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "11.00")
    make_offer(lender2_api, loan["id"], "12.00")
    make_offer(stranger_api, loan["id"], "11.00")  # same rate, younger

    response = post(borrower_api, f"/api/loans/{loan['id']}/accept/", {})

    assert response.status_code == 200, response.content
    body = response.json()
    assert_loan_shape(body)
    assert (body["status"], body["lender"], body["interest_rate"]) == ("ACCEPTED", lender.pk, "11.00")
    assert body["monthly_payment_amount"] is not None and body["accepted_at"] is not None
    assert balances(lender_api) == HOLDING_ONE
    assert balances(lender2_api) == FULL and balances(stranger_api) == FULL
    statuses = {
        name: client.get(offers_url(loan["id"])).json()["results"][0]["status"]
        for name, client in (("lender", lender_api), ("lender2", lender2_api), ("stranger", stranger_api))
    }
    assert statuses == {"lender": "ACCEPTED", "lender2": "REJECTED", "stranger": "REJECTED"}


def test_accept_without_a_body_picks_the_best(borrower_api, lender, lender_api, lender2_api):
    loan = create_loan(borrower_api)
    make_offer(lender2_api, loan["id"], "14.00")
    make_offer(lender_api, loan["id"], "13.99")

    response = borrower_api.post(f"/api/loans/{loan['id']}/accept/")

    assert response.status_code == 200 and response.json()["lender"] == lender.pk


def test_accept_the_worked_example_monthly_payment(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "15.00")

    assert accept(borrower_api, loan["id"])["monthly_payment_amount"] == "870.17"


def test_accept_a_chosen_offer(borrower_api, lender_api, lender2, lender2_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")
    chosen = make_offer(lender2_api, loan["id"], "14.00")

    body = accept(borrower_api, loan["id"], chosen["id"])

    assert (body["lender"], body["interest_rate"]) == (lender2.pk, "14.00")
    assert balances(lender_api) == FULL and balances(lender2_api) == HOLDING_ONE
    accepted = lender2_api.get(offers_url(loan["id"])).json()["results"][0]
    assert (accepted["status"], accepted["reserved_amount"]) == ("ACCEPTED", "5003.75")


def test_accept_non_pending_offer_id_is_invalid_state(borrower_api, lender_api, lender2_api):
    loan = create_loan(borrower_api)
    withdrawn = make_offer(lender_api, loan["id"], "10.00")
    make_offer(lender2_api, loan["id"], "11.00")
    post(lender_api, f"{offers_url(loan['id'])}{withdrawn['id']}/withdraw/")

    response = post(borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_id": withdrawn["id"]})

    assert_problem(response, 409, "invalid_state")
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OFFERED"
    assert balances(lender2_api) == HOLDING_ONE


def test_accept_with_no_pending_offer_is_invalid_state(borrower_api):
    loan = create_loan(borrower_api)

    assert_problem(post(borrower_api, f"/api/loans/{loan['id']}/accept/", {}), 409, "invalid_state")


def test_accept_twice_is_invalid_state(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    offer = make_offer(lender_api, loan["id"], "10.00")
    accept(borrower_api, loan["id"])

    assert_problem(post(borrower_api, f"/api/loans/{loan['id']}/accept/", {}), 409, "invalid_state")
    assert_problem(
        post(borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_id": offer["id"]}), 409, "invalid_state"
    )
    assert balances(lender_api) == HOLDING_ONE


def test_accept_offer_id_of_another_loan_is_400(borrower_api, lender_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")
    other = create_loan(borrower_api)
    foreign = make_offer(client_for(UserFactory(username="x", balance="10000.00")), other["id"], "9.00")

    response = post(borrower_api, f"/api/loans/{loan['id']}/accept/", {"offer_id": foreign["id"]})

    assert_problem(response, 400, "validation_error", field="offer_id")
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OFFERED"


@pytest.mark.parametrize(
    "body",
    [{"offer_id": "1"}, {"offer_id": 1.0}, {"offer_id": True}, {"offer_id": 0}, {"offer_id": -1}, {"offer_id": None},
     {"offer_id": int("9" * 40)}, [], "x"],
    ids=repr,
)  # fmt: skip
def test_accept_bad_offer_id_is_400(borrower_api, lender_api, body):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")

    assert_problem(post(borrower_api, f"/api/loans/{loan['id']}/accept/", body), 400, "validation_error")
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OFFERED"


def test_accept_by_anyone_but_the_borrower_is_403_even_with_a_bad_body(borrower_api, lender_api, stranger_api):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")

    for client in (lender_api, stranger_api):
        assert_problem(post(client, f"/api/loans/{loan['id']}/accept/", {}), 403, "permission_denied")
        assert_problem(post(client, f"/api/loans/{loan['id']}/accept/", {"offer_id": "x"}), 403, "permission_denied")
        assert_problem(
            client.post(f"/api/loans/{loan['id']}/accept/", b"[]", content_type="application/json"),
            403,
            "permission_denied",
        )
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OFFERED"
