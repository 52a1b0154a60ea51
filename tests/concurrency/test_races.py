"""Races on one money step at a time, each started together behind a barrier over real HTTP on
PostgreSQL: exactly the stated winners, money moved once, and the ledger audit clean afterwards."""

from collections import Counter
from decimal import Decimal

import pytest

from accounts.models import Profile, Transaction
from loans.models import Loan, Offer, Payment
from tests.concurrency.conftest import assert_audit_clean, race, show

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def money(user) -> tuple[Decimal, Decimal]:
    profile = Profile.objects.get(user=user)
    return profile.balance, profile.reserved_balance


def open_loan(api, amount: str = "100.00", term: int = 4, rate: str = "20.00") -> dict:
    reply = api.post("/api/loans/", {"amount": amount, "term_months": term, "interest_rate": rate})
    assert reply.status == 201, reply.body
    return reply.body


def offer(api, loan_id: int, rate: str = "10.00") -> dict:
    reply = api.post(f"/api/loans/{loan_id}/offers/", {"interest_rate": rate})
    assert reply.status == 201, reply.body
    return reply.body


def accepted_loan(borrower_api, lender_api, amount: str = "100.00", term: int = 4) -> tuple[dict, dict]:
    loan = open_loan(borrower_api, amount, term)
    made = offer(lender_api, loan["id"])
    reply = borrower_api.post(f"/api/loans/{loan['id']}/accept/", {"offer_id": made["id"]})
    assert reply.status == 200, reply.body
    return reply.body, made


def funded_loan(borrower_api, lender_api, amount: str = "100.00", term: int = 4) -> dict:
    loan, _ = accepted_loan(borrower_api, lender_api, amount, term)
    reply = lender_api.post(f"/api/loans/{loan['id']}/fund/")
    assert reply.status == 200, reply.body
    return reply.body


def test_lender_with_money_for_one_offer_wins_exactly_one_of_20(harness, capsys):
    borrower = harness.user("borrower")
    lender = harness.user("lender", "103.75")  # one 100.00 loan plus the 3.75 fee, exactly
    borrower_api, lender_api = harness.api(borrower), harness.api(lender)
    loans = [open_loan(borrower_api) for _ in range(20)]

    replies = harness.race(
        *((lender_api, "POST", f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00"}) for loan in loans)
    )

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {"201": 1, "409 insufficient_funds": 19}
    assert money(lender) == (Decimal("103.75"), Decimal("103.75"))
    assert Offer.objects.filter(lender=lender).count() == 1
    winner = next(r for r in replies if r.status == 201)
    assert Loan.objects.get(pk=winner.body["loan"]).status == "OFFERED"
    assert Loan.objects.filter(status="OFFERED").count() == 1
    checks = assert_audit_clean()
    show(capsys, "20 offers, money for one", {**outcomes, "invariant checks": checks})


def test_ten_concurrent_fund_calls_fund_once(harness, capsys):
    borrower, lender = harness.user("borrower"), harness.user("lender", "1000.00")
    borrower_api, lender_api = harness.api(borrower), harness.api(lender)
    loan, _ = accepted_loan(borrower_api, lender_api, "500.00", 6)

    replies = harness.race(*((lender_api, "POST", f"/api/loans/{loan['id']}/fund/", None) for _ in range(10)))

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {"200": 1, "409 invalid_state": 9}
    assert money(borrower) == (Decimal("500.00"), Decimal("0.00"))
    assert money(lender) == (Decimal("496.25"), Decimal("0.00"))
    assert Transaction.objects.filter(kind="funding").count() == 1
    assert Transaction.objects.filter(kind="fee").count() == 1
    assert Payment.objects.filter(loan_id=loan["id"]).count() == 6
    checks = assert_audit_clean()
    show(capsys, "10 x fund", {**outcomes, "invariant checks": checks})


def test_ten_concurrent_fund_retries_with_one_key_fund_once_and_replay(harness, capsys):
    borrower, lender = harness.user("borrower"), harness.user("lender", "1000.00")
    borrower_api, lender_api = harness.api(borrower), harness.api(lender)
    loan, _ = accepted_loan(borrower_api, lender_api, "500.00", 6)
    path = f"/api/loans/{loan['id']}/fund/"

    calls = [lambda conn: lender_api.send("POST", path, None, key="fund-once", conn=conn) for _ in range(10)]
    replies = race(*calls, connect=lender_api.connect)

    executed = [r for r in replies if r.status == 200 and "idempotent-replayed" not in r.headers]
    replayed = [r for r in replies if r.headers.get("idempotent-replayed") == "true"]
    in_flight = [r for r in replies if r.code == "idempotency_in_flight"]
    assert len(executed) == 1
    assert len(executed) + len(replayed) + len(in_flight) == 10
    assert all(r.raw == executed[0].raw and r.status == 200 for r in replayed)
    late = lender_api.post(path, key="fund-once")
    assert late.headers.get("idempotent-replayed") == "true" and late.raw == executed[0].raw
    assert Transaction.objects.filter(kind="funding").count() == 1
    assert money(borrower) == (Decimal("500.00"), Decimal("0.00"))
    checks = assert_audit_clean()
    show(
        capsys,
        "10 x fund, one Idempotency-Key",
        {"executed": 1, "replayed": len(replayed), "in_flight": len(in_flight), "invariant checks": checks},
    )


def test_ten_pays_of_one_installment_and_a_full_withdrawal_pay_at_most_once(harness, capsys):
    figures: Counter = Counter()
    for round_ in range(3):
        borrower, lender = harness.user(f"borrower{round_}"), harness.user(f"lender{round_}", "1000.00")
        borrower_api, lender_api = harness.api(borrower), harness.api(lender)
        loan = funded_loan(borrower_api, lender_api, "400.00", 4)
        first = loan["payments"][0]
        whole = f"{money(borrower)[0]:.2f}"  # the borrower holds exactly the principal: 400.00

        calls = [(borrower_api, "POST", f"/api/loans/{loan['id']}/payments/{first['id']}/pay/", None)] * 10
        at = round_ * 5  # the withdrawal's thread starts first, in the middle, then last
        calls.insert(at, (borrower_api, "POST", "/api/accounts/withdraw/", {"amount": whole}))
        replies = harness.race(*calls)

        withdrawal = replies.pop(at)
        pay_outcomes = Counter(r.outcome for r in replies)
        figures.update(pay_outcomes)
        figures[f"withdraw {withdrawal.outcome}"] += 1
        paid = Transaction.objects.filter(kind="repayment", loan_id=loan["id"]).count()
        assert paid <= 1 and pay_outcomes["200"] == paid
        balance, reserved = money(borrower)
        assert balance >= 0 and reserved == 0
        if withdrawal.status == 200:  # the withdrawal won: no installment could be paid
            assert paid == 0 and balance == 0
            assert set(pay_outcomes) == {"409 insufficient_funds"}
        else:  # a payment won first: the whole balance is no longer available
            assert withdrawal.outcome == "409 insufficient_funds" and paid == 1
            assert set(pay_outcomes) <= {"200", "409 already_paid"}
            assert balance == Decimal("400.00") - Decimal(first["amount"])
        assert Payment.objects.get(pk=first["id"]).paid == bool(paid)
    checks = assert_audit_clean()
    show(capsys, "3 rounds of 10 x pay + withdraw-all", {**figures, "invariant checks": checks})


def test_accept_racing_withdraw_of_the_same_offer_has_one_winner(harness, capsys):
    figures: Counter = Counter()
    borrower, lender = harness.user("borrower"), harness.user("lender", "5000.00")
    borrower_api, lender_api = harness.api(borrower), harness.api(lender)
    for _ in range(6):
        loan = open_loan(borrower_api)
        made = offer(lender_api, loan["id"])

        accept, withdraw = harness.race(
            (borrower_api, "POST", f"/api/loans/{loan['id']}/accept/", {"offer_id": made["id"]}),
            (lender_api, "POST", f"/api/loans/{loan['id']}/offers/{made['id']}/withdraw/", None),
        )

        assert sorted([accept.status, withdraw.status]) == [200, 409]
        state = Loan.objects.get(pk=loan["id"])
        the_offer = Offer.objects.get(pk=made["id"])
        if accept.status == 200:
            figures["accept won"] += 1
            assert withdraw.code == "invalid_state"
            assert (state.status, state.lender_id, the_offer.status) == ("ACCEPTED", lender.pk, "ACCEPTED")
            assert the_offer.reserved_amount == Decimal("103.75")
        else:
            figures["withdraw won"] += 1
            assert accept.code == "invalid_state"
            assert (state.status, state.lender_id, the_offer.status) == ("OPEN", None, "WITHDRAWN")
            assert the_offer.reserved_amount == 0
    held = Offer.objects.filter(lender=lender, status="ACCEPTED").count() * Decimal("103.75")
    assert money(lender) == (Decimal("5000.00"), held)
    checks = assert_audit_clean()
    show(capsys, "6 x accept vs withdraw", {**figures, "invariant checks": checks})


def test_cancel_racing_accept_leaves_a_cancelled_loan_with_its_hold_released(harness, capsys):
    figures: Counter = Counter()
    borrower, lender = harness.user("borrower"), harness.user("lender", "5000.00")
    borrower_api, lender_api = harness.api(borrower), harness.api(lender)
    for _ in range(6):
        loan = open_loan(borrower_api)
        made = offer(lender_api, loan["id"])

        cancel, accept = harness.race(
            (borrower_api, "POST", f"/api/loans/{loan['id']}/cancel/", None),
            (borrower_api, "POST", f"/api/loans/{loan['id']}/accept/", {"offer_id": made["id"]}),
        )

        # Either order ends CANCELLED: cancel first refuses the accept; accept first is then cancelled.
        assert cancel.status == 200 and cancel.body["status"] == "CANCELLED"
        assert accept.outcome in ("200", "409 invalid_state")
        figures["accept then cancel" if accept.status == 200 else "cancel first"] += 1
        state, the_offer = Loan.objects.get(pk=loan["id"]), Offer.objects.get(pk=made["id"])
        assert (state.status, state.lender_id, the_offer.status, the_offer.reserved_amount) == (
            "CANCELLED",
            None,
            "REJECTED",
            0,
        )
    assert money(lender) == (Decimal("5000.00"), Decimal("0.00"))
    checks = assert_audit_clean()
    show(capsys, "6 x cancel vs accept", {**figures, "invariant checks": checks})


def test_cancel_racing_fund_has_one_winner_and_moves_money_only_if_funded(harness, capsys):
    figures: Counter = Counter()
    borrower, lender = harness.user("borrower"), harness.user("lender", "5000.00")
    borrower_api, lender_api = harness.api(borrower), harness.api(lender)
    for _ in range(6):
        loan, made = accepted_loan(borrower_api, lender_api)
        before = money(borrower)[0]

        cancel, fund = harness.race(
            (borrower_api, "POST", f"/api/loans/{loan['id']}/cancel/", None),
            (lender_api, "POST", f"/api/loans/{loan['id']}/fund/", None),
        )

        state, the_offer = Loan.objects.get(pk=loan["id"]), Offer.objects.get(pk=made["id"])
        if fund.status == 200:
            figures["fund won"] += 1
            assert cancel.outcome == "409 invalid_state"
            assert state.status == "FUNDED" and money(borrower)[0] == before + Decimal("100.00")
            assert Transaction.objects.filter(kind="funding", loan_id=loan["id"]).count() == 1
        else:
            figures["cancel won"] += 1
            assert cancel.status == 200
            # The lender is no longer the loan's lender once it is cancelled: 403 (or 409 invalid_state).
            assert fund.outcome in ("403 permission_denied", "409 invalid_state")
            assert (state.status, the_offer.status, the_offer.reserved_amount) == ("CANCELLED", "REJECTED", 0)
            assert money(borrower)[0] == before
            assert not Transaction.objects.filter(loan_id=loan["id"]).exists()
    checks = assert_audit_clean()
    show(capsys, "6 x cancel vs fund", {**figures, "invariant checks": checks})


def test_cancel_accept_and_fund_all_at_once_end_cancelled_or_funded_never_both(harness, capsys):
    figures: Counter = Counter()
    borrower, lender = harness.user("borrower"), harness.user("lender", "5000.00")
    borrower_api, lender_api = harness.api(borrower), harness.api(lender)
    for _ in range(6):
        loan = open_loan(borrower_api)
        made = offer(lender_api, loan["id"])
        before = money(borrower)[0]

        cancel, accept, fund = harness.race(
            (borrower_api, "POST", f"/api/loans/{loan['id']}/cancel/", None),
            (borrower_api, "POST", f"/api/loans/{loan['id']}/accept/", {"offer_id": made["id"]}),
            (lender_api, "POST", f"/api/loans/{loan['id']}/fund/", None),
        )

        state, the_offer = Loan.objects.get(pk=loan["id"]), Offer.objects.get(pk=made["id"])
        figures[f"{state.status}: cancel {cancel.outcome} / accept {accept.outcome} / fund {fund.outcome}"] += 1
        if state.status == "FUNDED":  # accept, then fund, then the cancel came too late
            assert (accept.status, fund.status, cancel.outcome) == (200, 200, "409 invalid_state")
            assert money(borrower)[0] == before + Decimal("100.00")
            assert (the_offer.status, the_offer.reserved_amount) == ("ACCEPTED", 0)
        else:
            assert state.status == "CANCELLED" and cancel.status == 200
            assert fund.outcome in ("403 permission_denied", "409 invalid_state")
            assert accept.outcome in ("200", "409 invalid_state")
            assert (the_offer.status, the_offer.reserved_amount) == ("REJECTED", 0)
            assert money(borrower)[0] == before
        assert Transaction.objects.filter(kind="funding", loan_id=loan["id"]).count() == (state.status == "FUNDED")
    assert money(lender)[1] == Decimal("0.00")
    checks = assert_audit_clean()
    show(capsys, "6 x cancel + accept + fund at once", {**figures, "invariant checks": checks})


def test_concurrent_deposits_near_the_maximum_credit_exactly_what_fits(harness, capsys):
    """Deposit is one UPDATE ... RETURNING on PostgreSQL: the bound is re-checked on the row it locks,
    so of 12 racing deposits of 1.00 onto a balance 5.00 below the maximum exactly 5 succeed."""
    rich = harness.user("rich", "999999999994.99")
    rich_api = harness.api(rich)

    replies = harness.race(*[(rich_api, "POST", "/api/accounts/deposit/", {"amount": "1.00"})] * 12)

    outcomes = Counter(r.outcome for r in replies)
    assert outcomes == {"200": 5, "400 validation_error": 7}, outcomes
    assert money(rich) == (Decimal("999999999999.99"), Decimal("0.00"))
    assert Transaction.objects.filter(kind="deposit", to_user=rich, amount=Decimal("1.00")).count() == 5
    assert sorted(r.body["balance"] for r in replies if r.status == 200) == [f"99999999999{d}.99" for d in range(5, 10)]
    assert_audit_clean()
    show(capsys, "deposits racing to the maximum", dict(outcomes))


def test_concurrent_deposits_with_keys_credit_each_key_once(harness, capsys):
    """Six keys, each sent three times at once: six deposits, every repeat a replay or a 409 in flight."""
    user = harness.user("saver")
    api = harness.api(user)
    replies = race(
        *[
            (
                lambda conn, k=f"k{i % 6}": api.send(
                    "POST", "/api/accounts/deposit/", {"amount": "2.00"}, key=k, conn=conn
                )
            )
            for i in range(18)
        ],
        connect=api.connect,
    )

    outcomes = Counter(r.outcome for r in replies)
    assert set(outcomes) <= {"200", "409 idempotency_in_flight"}, outcomes
    assert money(user)[0] == Decimal("12.00")
    assert Transaction.objects.filter(kind="deposit", to_user=user).count() == 6
    assert_audit_clean()
    show(capsys, "keyed deposits", dict(outcomes))
