"""Hostile input on every endpoint: whatever the body, path or query, the answer is a problem+json 4xx
(never a 500) and no money moves."""

import pytest

from accounts.models import Transaction
from tests.accounts.api_helpers import (
    PROBLEM_TYPE,
    balances,
    create_loan,
    funded_loan,
    make_offer,
)

pytestmark = pytest.mark.django_db

HOSTILE_BODIES = [
    b"",
    b"null",
    b"[]",
    b"[1, 2]",
    b'"a string"',
    b"42",
    b"1e999",
    b"true",
    b"{",
    b"{}}",
    b'{"amount": NaN}',
    b'{"amount": Infinity, "interest_rate": -Infinity}',
    b'{"amount": 1e3, "term_months": 6e0, "interest_rate": 1E1}',
    b'{"amount": "1.000", "term_months": "6", "interest_rate": "15.001", "offer_id": "1", "enabled": "yes"}',
    b'{"amount": 1.001, "term_months": 6.0, "interest_rate": 1.001, "offer_id": 1.0, "enabled": 1}',
    b'{"amount": true, "term_months": true, "interest_rate": true, "offer_id": true, "draft": "yes"}',
    b'{"amount": null, "term_months": null, "interest_rate": null, "offer_id": null, "enabled": null}',
    b'{"amount": [], "term_months": [], "interest_rate": {}, "offer_id": [], "enabled": {}}',
    b'{"amount": "' + b"9" * 40 + b'", "term_months": ' + b"9" * 40 + b', "offer_id": ' + b"9" * 40 + b"}",
    b'{"amount": ' + b"9" * 40 + b".99, " + b'"interest_rate": ' + b"9" * 40 + b"}",
    b'{"amount": -5, "term_months": -6, "interest_rate": -1, "offer_id": -1}',
    b'{"amount": 0, "term_months": 0, "interest_rate": "abc", "offer_id": 0}',
    b'{"amount": "\\u0000", "interest_rate": "\\ud800"}',
    b"[" * 50000,
    b'{"a": ' * 50000,
    '{"amount": "\u0665"}'.encode(),
    b"\xff\xfe\x00",
]


@pytest.fixture
def world(borrower_api, lender_api, lender2_api, stranger_api):
    """An OPEN loan, an OFFERED one, a FUNDED one (with a losing offer) and a DRAFT."""
    funded = funded_loan(borrower_api, lender_api, loser_api=lender2_api, amount="1000.00", term_months=3)
    offered = create_loan(borrower_api)
    offer = make_offer(stranger_api, offered["id"], "10.00")
    open_loan = create_loan(borrower_api)
    draft = create_loan(borrower_api, draft=True)
    return {"funded": funded, "offered": offered, "offer": offer, "open": open_loan, "draft": draft}


def post_urls(world) -> list[tuple[str, str]]:
    """Every POST, with the caller who gets furthest into it (the one allowed to do it)."""
    f, o = world["funded"], world["offered"]
    return [
        ("lender", "/api/accounts/deposit/"),
        ("lender", "/api/accounts/withdraw/"),
        ("borrower", "/api/loans/"),
        ("lender", f"/api/loans/{o['id']}/offers/"),
        ("borrower", f"/api/loans/{o['id']}/accept/"),
        ("stranger", f"/api/loans/{o['id']}/offers/{world['offer']['id']}/withdraw/"),
        ("borrower", f"/api/loans/{o['id']}/reject/{world['offer']['id']}/"),
        ("borrower", f"/api/loans/{o['id']}/cancel/"),
        ("borrower", f"/api/loans/{world['draft']['id']}/publish/"),
        ("lender", f"/api/loans/{f['id']}/fund/"),
        ("borrower", f"/api/loans/{f['id']}/payments/{f['payments'][1]['id']}/pay/"),
        ("borrower", f"/api/loans/{f['id']}/autopay/"),
        ("stranger", "/api/auth/register/"),
        ("stranger", "/api/auth/token/"),
    ]


# The only POSTs that ignore their body, and so may succeed whatever it is.
BODY_IGNORED = ("/withdraw/", "/reject/", "/cancel/", "/publish/", "/fund/", "/pay/")


def snapshot(clients) -> list:
    return [balances(c) for c in clients.values()] + [Transaction.objects.count()]


def test_hostile_bodies_never_500_and_never_move_money(world, borrower_api, lender_api, lender2_api, stranger_api):
    clients = {"borrower": borrower_api, "lender": lender_api, "lender2": lender2_api, "stranger": stranger_api}
    before = snapshot(clients)
    for role, url in post_urls(world):
        for raw in HOSTILE_BODIES:
            response = clients[role].post(url, raw, content_type="application/json")
            assert response.status_code < 500, (url, raw[:40], response.content)
            if response.status_code >= 400:
                assert response["Content-Type"] == PROBLEM_TYPE, (url, raw[:40])
                assert response.status_code != 400 or "errors" in response.json()
            else:
                # No body at all is an empty object: accept then takes the best offer, as documented.
                assert url.endswith(BODY_IGNORED) or (url.endswith("/accept/") and raw == b""), (url, raw[:40])
    after = snapshot(clients)
    # The stranger's offer was accepted, then released by the cancel; no money moved anywhere.
    assert after[0:3] == before[0:3]
    assert after[3] == ("10000.00", "0.00", "10000.00")
    assert after[4] == before[4]
    assert borrower_api.get(f"/api/loans/{world['funded']['id']}/").json()["status"] == "FUNDED"


@pytest.mark.parametrize(
    "method, path",
    [
        ("get", "/api/loans/{big}/"),
        ("get", "/api/loans/{big}/offers/"),
        ("get", "/api/loans/{big}/payments/"),
        ("post", "/api/loans/{big}/cancel/"),
        ("post", "/api/loans/{funded}/offers/{big}/withdraw/"),
        ("post", "/api/loans/{funded}/reject/{big}/"),
        ("post", "/api/loans/{funded}/payments/{big}/pay/"),
        ("post", "/api/loans/{funded}/payments/0/pay/"),
        ("get", "/api/loans/-1/"),
        ("get", "/api/loans/0/"),
        ("get", "/api/loans/1.5/"),
        ("get", "/api/loans/%00/"),
    ],
)
def test_out_of_range_or_malformed_ids_in_the_path_are_404(borrower_api, lender_api, method, path):
    url = path.format(big="9" * 30, funded=funded_loan(borrower_api, lender_api, amount="100.00", term_months=2)["id"])

    response = getattr(borrower_api, method)(url)

    assert response.status_code == 404, response.content
    assert response["Content-Type"] == PROBLEM_TYPE
    assert response.json()["code"] == "not_found"


@pytest.mark.parametrize("offer_id", [int("9" * 30), 2**63, 2**63 - 1, 2**31])
def test_huge_offer_id_in_the_accept_body_is_400_not_500(borrower_api, lender_api, offer_id):
    loan = create_loan(borrower_api)
    make_offer(lender_api, loan["id"], "10.00")

    response = borrower_api.post(f"/api/loans/{loan['id']}/accept/", {"offer_id": offer_id}, format="json")

    assert response.status_code == 400, response.content
    assert response.json()["code"] == "validation_error"
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OFFERED"


@pytest.mark.parametrize(
    "url",
    [
        "/api/loans/available/?min_amount=%00",
        "/api/loans/available/?term_months=%EF%BC%96",
        "/api/loans/available/?ordering=amount&ordering=bogus",
        "/api/loans/quote/?amount=5000&term_months=6&interest_rate=15&amount=abc",
        "/api/loans/quote/?amount=" + "1" * 5000 + "&term_months=6&interest_rate=15",
        "/api/loans/quote/?amount=%F0%9F%92%B0&term_months=6&interest_rate=15",
        "/api/loans/?status=%00",
        "/api/loans/?page=%EF%BC%91",
        "/api/transactions/?page_size=" + "9" * 5000,
    ],
)
def test_hostile_query_strings_are_400(stranger_api, url):
    response = stranger_api.get(url)

    assert response.status_code == 400, response.content
    assert response["Content-Type"] == PROBLEM_TYPE
    assert response.json()["code"] == "validation_error"
