"""Query-count pins on the hot money endpoints, token authentication included; the schedule of any
term is written by one INSERT."""

import pytest

from tests.accounts.api_helpers import (
    accept,
    create_loan,
    deposit,
    funded_loan,
    make_offer,
    pay,
    post,
)

pytestmark = pytest.mark.django_db


def payment_inserts(queries) -> list[str]:
    return [q["sql"] for q in queries if q["sql"].lstrip().upper().startswith("INSERT") and "loans_payment" in q["sql"]]


def test_offer_submit_query_count(borrower_api, lender_api, lender2_api, django_assert_max_num_queries):
    loan = create_loan(borrower_api)
    make_offer(lender2_api, loan["id"], "14.00")  # the loan is OFFERED already: the path with most checks

    with django_assert_max_num_queries(10):
        response = post(lender_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "12.00"})
    assert response.status_code == 201


def test_first_offer_query_count(borrower_api, lender_api, django_assert_max_num_queries):
    loan = create_loan(borrower_api)

    with django_assert_max_num_queries(10):
        response = post(lender_api, f"/api/loans/{loan['id']}/offers/", {"interest_rate": "12.00"})
    assert response.status_code == 201


@pytest.mark.parametrize("term", [6, 360])
def test_fund_query_count_and_one_schedule_insert(borrower_api, lender_api, django_assert_max_num_queries, term):
    loan = create_loan(borrower_api, amount="1000.00", term_months=term)
    make_offer(lender_api, loan["id"], "7.00")
    accept(borrower_api, loan["id"])

    # v2: 12 + one INSERT for the notes and one for all their rows (API.md, Notes).
    with django_assert_max_num_queries(14) as captured:
        response = post(lender_api, f"/api/loans/{loan['id']}/fund/")
    assert response.status_code == 200
    assert len(response.json()["payments"]) == term
    assert len(payment_inserts(captured.captured_queries)) == 1


def test_pay_query_count(borrower_api, lender_api, django_assert_max_num_queries):
    loan = funded_loan(borrower_api, lender_api)

    with django_assert_max_num_queries(12):
        response = post(borrower_api, f"/api/loans/{loan['id']}/payments/{loan['payments'][0]['id']}/pay/")
    assert response.status_code == 200


def test_paying_the_last_installment_query_count(borrower_api, lender_api, django_assert_max_num_queries):
    loan = funded_loan(borrower_api, lender_api, amount="100.00", term_months=2)
    deposit(borrower_api, "10.00")
    pay(borrower_api, loan["id"], loan["payments"][0]["id"])

    with django_assert_max_num_queries(13):  # v2: + one UPDATE turning the loan's notes REPAID
        response = post(borrower_api, f"/api/loans/{loan['id']}/payments/{loan['payments'][1]['id']}/pay/")
    assert response.json()["loan_status"] == "COMPLETED"


def test_list_endpoints_do_not_query_per_row(borrower_api, lender_api, django_assert_max_num_queries):
    loan = funded_loan(borrower_api, lender_api, amount="1000.00", term_months=120)
    for _ in range(10):
        create_loan(borrower_api)

    for url in (
        "/api/loans/",
        f"/api/loans/{loan['id']}/",
        f"/api/loans/{loan['id']}/payments/",
        f"/api/loans/{loan['id']}/offers/",
        "/api/transactions/",
    ):
        with django_assert_max_num_queries(5):
            assert borrower_api.get(url).status_code == 200
    with django_assert_max_num_queries(5):
        assert lender_api.get("/api/loans/available/").status_code == 200
