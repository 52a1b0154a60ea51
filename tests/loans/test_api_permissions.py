"""The permission matrix of every endpoint that takes an id, for the borrower (B), the loan's lender or
the offer's maker (L), a second lender (L2: a rival offer, the losing one once the loan is funded), a
stranger (S) and an anonymous caller (anon), on a DRAFT, an OFFERED and a FUNDED loan.

Precedence is 401 > 404 (not visible) > 403 (visible, not allowed) > 400 > 409 invalid_state > other
409s. Each case starts from the same scenario (a savepoint rolled back after it); within a case a role
that would succeed and change the state goes last.
"""

import pytest
from django.db import transaction
from rest_framework.test import APIClient

from tests.accounts.api_helpers import (
    accept,
    assert_problem,
    balances,
    create_loan,
    fund,
    make_offer,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def clients(borrower_api, lender_api, lender2_api, stranger_api):
    return {"B": borrower_api, "L": lender_api, "L2": lender2_api, "S": stranger_api, "anon": APIClient()}


def build(state: str, clients: dict) -> dict:
    """Ids for the path templates: loan, o1 (L's offer), o2 (L2's offer), p1/p2 (payments), foreign ids."""
    b, lender, lender2 = clients["B"], clients["L"], clients["L2"]
    other = create_loan(b, amount="100.00", term_months=1)
    foreign_offer = make_offer(lender2, other["id"], "1.00")
    ids = {"foreign_offer": foreign_offer["id"], "foreign_payment": 999999}
    if state == "DRAFT":
        loan = create_loan(b, draft=True)
        ids.update(o1=foreign_offer["id"], o2=foreign_offer["id"], p1=999999, p2=999999)
    elif state == "OFFERED":
        loan = create_loan(b)
        ids.update(o1=make_offer(lender, loan["id"], "12.00")["id"], o2=make_offer(lender2, loan["id"], "13.00")["id"])
        ids.update(p1=999999, p2=999999)
    else:  # FUNDED: L lends, L2's offer lost
        loan = create_loan(b)
        ids.update(o1=make_offer(lender, loan["id"], "12.00")["id"], o2=make_offer(lender2, loan["id"], "13.00")["id"])
        accept(b, loan["id"])
        payments = fund(lender, loan["id"])["payments"]
        ids.update(p1=payments[0]["id"], p2=payments[1]["id"])
    ids["loan"] = loan["id"]
    return ids


def expectations(spec: str) -> list[tuple[str, int, str | None]]:
    """ "B:409/invalid_state L:403 S:200" -> [("B", 409, "invalid_state"), ("L", 403, "permission_denied"), ...]"""
    defaults = {401: "not_authenticated", 403: "permission_denied", 404: "not_found", 400: "validation_error"}
    out = []
    for item in spec.split():
        role, result = item.split(":")
        status, _, code = result.partition("/")
        out.append((role, int(status), code or defaults.get(int(status))))
    return out


LOAN = "/api/loans/{loan}/"
OFFERS = "/api/loans/{loan}/offers/"
CASES = [
    # state, name, method, path, body, expectations (anon is always checked first: 401)
    ("DRAFT", "detail", "get", LOAN, None, "B:200 L:404 L2:404 S:404"),
    ("DRAFT", "offers-list", "get", OFFERS, None, "B:200 L:404 L2:404 S:404"),
    ("DRAFT", "offer-submit", "post", OFFERS, {"interest_rate": "10.00"}, "B:403 L:404 L2:404 S:404"),
    ("DRAFT", "offer-submit-bad-body", "post", OFFERS, {"interest_rate": "x"}, "B:403 L:404 S:404"),
    ("DRAFT", "accept", "post", LOAN + "accept/", {}, "L:404 S:404 B:409/invalid_state"),
    ("DRAFT", "accept-bad-body", "post", LOAN + "accept/", {"offer_id": "x"}, "L:404 S:404 B:400"),
    ("DRAFT", "fund", "post", LOAN + "fund/", None, "L:404 S:404 B:403"),
    ("DRAFT", "withdraw-foreign", "post", OFFERS + "{foreign_offer}/withdraw/", None, "L2:404 B:404 S:404"),
    ("DRAFT", "reject-foreign", "post", LOAN + "reject/{foreign_offer}/", None, "B:404 L2:404 S:404"),
    ("DRAFT", "payments", "get", LOAN + "payments/", None, "L:404 S:404 B:200"),
    ("DRAFT", "pay-missing", "post", LOAN + "payments/{p1}/pay/", None, "B:404 L:404 S:404"),
    ("DRAFT", "autopay", "post", LOAN + "autopay/", {"enabled": True}, "L:404 S:404 B:200"),
    ("DRAFT", "publish", "post", LOAN + "publish/", None, "L:404 L2:404 S:404 B:200"),
    ("DRAFT", "cancel", "post", LOAN + "cancel/", None, "L:404 S:404 B:200"),
    ("OFFERED", "detail", "get", LOAN, None, "B:200 L:200 L2:200 S:200"),
    ("OFFERED", "offers-list", "get", OFFERS, None, "B:200 L:200 L2:200 S:200"),
    (
        "OFFERED",
        "offer-submit",
        "post",
        OFFERS,
        {"interest_rate": "10.00"},
        "B:403 L:409/duplicate_offer L2:409/duplicate_offer S:201",
    ),
    ("OFFERED", "offer-submit-bad-body", "post", OFFERS, {"interest_rate": "x"}, "B:403 L:400 S:400"),
    ("OFFERED", "offer-submit-over-max", "post", OFFERS, {"interest_rate": "15.01"}, "B:403 L:400 S:400"),
    ("OFFERED", "publish", "post", LOAN + "publish/", None, "L:403 L2:403 S:403 B:409/invalid_state"),
    ("OFFERED", "cancel", "post", LOAN + "cancel/", None, "L:403 L2:403 S:403 B:200"),
    ("OFFERED", "accept", "post", LOAN + "accept/", {}, "L:403 L2:403 S:403 B:200"),
    ("OFFERED", "accept-bad-body", "post", LOAN + "accept/", {"offer_id": "x"}, "L:403 S:403 B:400"),
    ("OFFERED", "accept-list-body", "post", LOAN + "accept/", [1], "L:403 S:403 B:400"),
    ("OFFERED", "accept-offer", "post", LOAN + "accept/", "o2", "L:403 L2:403 S:403 B:200"),
    ("OFFERED", "fund", "post", LOAN + "fund/", None, "B:403 L:403 L2:403 S:403"),
    ("OFFERED", "autopay", "post", LOAN + "autopay/", {"enabled": True}, "L:403 S:403 B:200"),
    ("OFFERED", "autopay-bad-body", "post", LOAN + "autopay/", {"enabled": "yes"}, "L:403 S:403 B:400"),
    ("OFFERED", "withdraw", "post", OFFERS + "{o1}/withdraw/", None, "B:403 L2:403 S:403 L:200"),
    ("OFFERED", "withdraw-foreign", "post", OFFERS + "{foreign_offer}/withdraw/", None, "L2:404 L:404 B:404"),
    ("OFFERED", "reject", "post", LOAN + "reject/{o1}/", None, "L:403 L2:403 S:403 B:200"),
    ("OFFERED", "reject-foreign", "post", LOAN + "reject/{foreign_offer}/", None, "B:404 L:404 S:404"),
    ("OFFERED", "payments", "get", LOAN + "payments/", None, "L:403 L2:403 S:403 B:200"),
    ("OFFERED", "pay-missing", "post", LOAN + "payments/{p1}/pay/", None, "B:404 L:404 S:404"),
    ("FUNDED", "detail", "get", LOAN, None, "B:200 L:200 L2:200 S:404"),
    ("FUNDED", "offers-list", "get", OFFERS, None, "B:200 L:200 L2:200 S:404"),
    (
        "FUNDED",
        "offer-submit",
        "post",
        OFFERS,
        {"interest_rate": "10.00"},
        "B:403 L:409/invalid_state L2:409/invalid_state S:404",
    ),
    ("FUNDED", "offer-submit-bad-body", "post", OFFERS, {"interest_rate": "x"}, "B:403 L2:400 S:404"),
    ("FUNDED", "publish", "post", LOAN + "publish/", None, "L:403 L2:403 S:404 B:409/invalid_state"),
    ("FUNDED", "cancel", "post", LOAN + "cancel/", None, "L:403 L2:403 S:404 B:409/invalid_state"),
    ("FUNDED", "accept", "post", LOAN + "accept/", {}, "L:403 L2:403 S:404 B:409/invalid_state"),
    ("FUNDED", "accept-bad-body", "post", LOAN + "accept/", {"offer_id": "x"}, "L:403 L2:403 S:404 B:400"),
    ("FUNDED", "fund", "post", LOAN + "fund/", None, "B:403 L2:403 S:404 L:409/invalid_state"),
    ("FUNDED", "autopay", "post", LOAN + "autopay/", {"enabled": True}, "L:403 L2:403 S:404 B:200"),
    ("FUNDED", "withdraw", "post", OFFERS + "{o1}/withdraw/", None, "B:403 L2:403 S:404 L:409/invalid_state"),
    ("FUNDED", "withdraw-lost", "post", OFFERS + "{o2}/withdraw/", None, "B:403 L:403 S:404 L2:409/invalid_state"),
    ("FUNDED", "withdraw-foreign", "post", OFFERS + "{foreign_offer}/withdraw/", None, "L2:404 B:404 S:404"),
    ("FUNDED", "reject", "post", LOAN + "reject/{o1}/", None, "L:403 L2:403 S:404 B:409/invalid_state"),
    ("FUNDED", "reject-foreign", "post", LOAN + "reject/{foreign_offer}/", None, "B:404 L:404 S:404"),
    ("FUNDED", "payments", "get", LOAN + "payments/", None, "B:200 L:200 L2:403 S:404"),
    ("FUNDED", "pay-later", "post", LOAN + "payments/{p2}/pay/", None, "L:403 L2:403 S:404 B:409/out_of_order"),
    ("FUNDED", "pay", "post", LOAN + "payments/{p1}/pay/", None, "L:403 L2:403 S:404 B:200"),
    ("FUNDED", "pay-foreign", "post", LOAN + "payments/{foreign_payment}/pay/", None, "B:404 L:404 S:404"),
]


def run_case(clients: dict, ids: dict, method: str, path: str, body, spec: str) -> list[str]:
    """Every caller's answer to one request; returns what differs from the spec."""
    url = path.format(**ids)
    if body == "o2":
        body = {"offer_id": ids["o2"]}
    mismatches = []
    for role, status, code in [("anon", 401, "not_authenticated"), *expectations(spec)]:
        response = getattr(clients[role], method)(url, body, format="json")
        if status >= 400:
            try:
                assert_problem(response, status, code)
            except AssertionError:
                mismatches.append(
                    f"{role}: wanted {status} {code}, got {response.status_code} {response.content[:120]!r}"
                )
        elif response.status_code != status or response["Content-Type"] != "application/json":
            mismatches.append(f"{role}: wanted {status}, got {response.status_code} {response.content[:120]!r}")
    return mismatches


@pytest.mark.parametrize("state", ["DRAFT", "OFFERED", "FUNDED"])
def test_permission_matrix(clients, state):
    """Each case runs in a savepoint rolled back afterwards, so every case starts from the same scenario."""
    ids = build(state, clients)
    failures = []
    for case_state, name, method, path, body, spec in CASES:
        if case_state != state:
            continue
        savepoint = transaction.savepoint()
        try:
            failures += [f"{state}-{name} {path}: {m}" for m in run_case(clients, ids, method, path, body, spec)]
        finally:
            transaction.savepoint_rollback(savepoint)
    assert not failures, "\n".join(failures)


def test_anonymous_gets_401_even_for_a_missing_loan(api):
    for url in ("/api/loans/999999/", "/api/loans/999999/offers/", "/api/loans/999999/payments/"):
        assert_problem(api.get(url), 401, "not_authenticated")
    for url in ("/api/loans/999999/accept/", "/api/loans/999999/fund/", "/api/loans/999999/payments/1/pay/"):
        assert_problem(api.post(url, {"offer_id": "x"}, format="json"), 401, "not_authenticated")


def test_bad_token_is_401_authentication_failed_before_anything_else(borrower_api):
    loan = create_loan(borrower_api)
    forger = APIClient()
    forger.credentials(HTTP_AUTHORIZATION="Token forged")

    assert_problem(forger.get(f"/api/loans/{loan['id']}/"), 401, "authentication_failed")
    assert_problem(forger.post(f"/api/loans/{loan['id']}/cancel/"), 401, "authentication_failed")
    assert borrower_api.get(f"/api/loans/{loan['id']}/").json()["status"] == "OPEN"


def test_a_failed_call_moves_no_money_in_the_matrix(clients):
    """After every refused call on a funded loan, every balance is where funding left it."""
    ids = build("FUNDED", clients)
    for url in (
        f"/api/loans/{ids['loan']}/fund/",
        f"/api/loans/{ids['loan']}/cancel/",
        f"/api/loans/{ids['loan']}/payments/{ids['p2']}/pay/",
        f"/api/loans/{ids['loan']}/offers/{ids['o1']}/withdraw/",
    ):
        for role in ("B", "L", "L2", "S", "anon"):
            assert clients[role].post(url, format="json").status_code >= 400
    assert balances(clients["B"]) == ("5000.00", "0.00", "5000.00")
    assert balances(clients["L"]) == ("4996.25", "0.00", "4996.25")
    assert balances(clients["L2"]) == ("10000.00", "103.75", "9896.25")  # its offer on the other loan
    assert balances(clients["S"]) == ("10000.00", "0.00", "10000.00")
