"""Every row lock the services take, in one place so the global order is visible.

Order, always: IdempotencyRecord -> Loan -> Offer(s) -> Payment(s) -> Profile(s) by primary key. A
money step locks what it will change in that order, re-reads state under the lock, checks, then
mutates; so two steps can wait for each other but never deadlock. An idempotency record is locked only
by the one request that owns it (others try NOWAIT and answer 409 at once), so it never makes anyone
wait behind a money lock; on PostgreSQL the key is claimed first in the money step's transaction by a
session advisory lock taken without waiting (lenme.api.idempotency.TransactionClaim), the same rule. Reads (selectors, GET endpoints) never lock.

Notes and their rows (NotePayment) take no lock of their own: notes are written once, by the funding
that holds the loan's lock, and a note row changes only with its installment, under that Payment's
lock (so every writer of a note row already holds the loan and the payment, in this order).
The per-app modules (accounts.locks, loans.locks) hold the querysets; this module is the one place
the order is written down.
"""

from accounts.locks import lock_idempotency_record, lock_idempotency_record_nowait, lock_profiles
from loans.locks import lock_loan, lock_offers, lock_payments

__all__ = [
    "lock_idempotency_record",
    "lock_idempotency_record_nowait",
    "lock_loan",
    "lock_offers",
    "lock_payments",
    "lock_profiles",
]
