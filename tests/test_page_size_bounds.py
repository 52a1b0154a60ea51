"""Issue 11 item 7: the schema says page_size maximum 200; the service served 201 as 200. Now every
paginated endpoint answers page_size=201 with 400 validation_error naming page_size, like the rest of
bad paging, and 200 still works."""

import pytest

from tests.accounts.api_helpers import assert_page, assert_problem, create_loan


@pytest.fixture
def paginated_urls(borrower_api):
    loan = create_loan(borrower_api)
    return [
        "/api/loans/",
        "/api/loans/available/",
        "/api/transactions/",
        "/api/notifications/",
        f"/api/loans/{loan['id']}/offers/",
        "/api/notes/",  # v2: Notes
        f"/api/loans/{loan['id']}/notes/",
    ]


def test_page_size_above_the_schema_maximum_is_400_on_every_paginated_endpoint(borrower_api, paginated_urls):
    for url in paginated_urls:
        for size in ("201", "1000", "999999999999999999"):
            body = assert_problem(borrower_api.get(f"{url}?page_size={size}"), 400, "validation_error")
            assert body["errors"][0]["field"] == "page_size", (url, body)


def test_page_size_at_the_maximum_is_served(borrower_api, paginated_urls):
    for url in paginated_urls:
        response = borrower_api.get(f"{url}?page_size=200")
        assert response.status_code == 200, (url, response.content)
        assert_page(response.json())


def test_every_paginated_endpoint_in_the_schema_declares_maximum_200(api, db):
    schema = api.get("/api/schema/?format=json").json()
    listed = set()
    for path, methods in schema["paths"].items():
        for operation in methods.values():
            for parameter in operation.get("parameters", []):
                if parameter["name"] == "page_size":
                    listed.add(path)
                    assert parameter["schema"]["maximum"] == 200
    assert listed == {
        "/api/loans/",
        "/api/loans/available/",
        "/api/transactions/",
        "/api/notifications/",
        "/api/loans/{loan_id}/offers/",
        "/api/notes/",  # v2: Notes
        "/api/loans/{loan_id}/notes/",
        "/api/webhooks/",  # v2 webhooks
        "/api/webhooks/{endpoint_id}/deliveries/",
    }
