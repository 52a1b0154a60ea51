"""Writes for the lending flow. Each service owns its transaction (lenme.db.atomic_retry), locks what
it changes in the global order of lenme.locks, re-reads state under the lock, checks, then mutates.

Checks run in the contract's precedence: 404 (not visible) -> 403 -> 400 -> 409 invalid_state -> 409s.
One module per entity: loans, offers, notes (funding), payments, payoff (and prepayment); shared building blocks in common.
"""

from loans.services.common import (
    check_transition,
    loan_drop_lender,
    loan_reopen_if_no_pending,
    offers_release,
    transition,
)
from loans.services.loans import loan_autopay_set, loan_cancel, loan_create, loan_publish, notification_read
from loans.services.notes import loan_fund
from loans.services.offers import loan_accept, offer_reject, offer_submit, offer_withdraw
from loans.services.payments import payment_pay, payment_settle
from loans.services.payoff import loan_payoff, loan_prepay

__all__ = [
    "check_transition",
    "loan_accept",
    "loan_autopay_set",
    "loan_cancel",
    "loan_create",
    "loan_drop_lender",
    "loan_fund",
    "loan_payoff",
    "loan_prepay",
    "loan_publish",
    "loan_reopen_if_no_pending",
    "notification_read",
    "offer_reject",
    "offer_submit",
    "offer_withdraw",
    "offers_release",
    "payment_pay",
    "payment_settle",
    "transition",
]
