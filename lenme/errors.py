"""The domain error tree: each error carries its HTTP status and `code`; lenme.api.errors renders them.

Imports no app and no HTTP code, so models, services and jobs can raise these anywhere.
"""

from typing import Any


class DomainError(Exception):
    """A business rule refused the operation; status and code are what clients see."""

    status_code = 409
    code = "conflict"
    title = "Conflict"
    default_detail = "The request conflicts with the current state."

    def __init__(self, detail: str | None = None, *, errors: list[dict[str, Any]] | None = None):
        self.detail = detail or self.default_detail
        self.errors = errors
        super().__init__(self.detail)


class NotFound(DomainError):
    status_code = 404
    code = "not_found"
    title = "Not found"
    default_detail = "Not found."


class Forbidden(DomainError):
    status_code = 403
    code = "permission_denied"
    title = "Permission denied"
    default_detail = "You do not have permission to perform this action."


class ValidationFailed(DomainError):
    status_code = 400
    code = "validation_error"
    title = "Invalid input"
    default_detail = "The request has invalid fields."

    @classmethod
    def field(cls, field: str | None, detail: str, code: str = "invalid") -> "ValidationFailed":
        return cls(detail, errors=[{"field": field, "code": code, "detail": detail}])


class InvalidState(DomainError):
    code = "invalid_state"
    title = "Invalid state"
    default_detail = "The object is not in a state that allows this."


class DuplicateOffer(DomainError):
    code = "duplicate_offer"
    title = "Duplicate offer"
    default_detail = "You already have a pending offer on this loan."


class InsufficientFunds(DomainError):
    code = "insufficient_funds"
    title = "Insufficient funds"
    default_detail = "Your available balance is below what this action needs."


class OutOfOrder(DomainError):
    code = "out_of_order"
    title = "Out of order"
    default_detail = "An earlier installment is still unpaid."


class NotCovered(DomainError):
    code = "not_covered"
    title = "Not covered"
    default_detail = "The chosen offers' amounts do not cover the loan's amount."


class AlreadyPaid(DomainError):
    code = "already_paid"
    title = "Already paid"
    default_detail = "This installment is already paid."


class QuoteChanged(DomainError):
    code = "quote_changed"
    title = "Quote changed"
    default_detail = "The payoff due now differs from the total you sent; get a new quote."


class Conflict(DomainError):
    code = "conflict"
    title = "Conflict"
    default_detail = "The operation lost a race with another request; it is safe to retry."


class IdempotencyInFlight(DomainError):
    code = "idempotency_in_flight"
    title = "Request in flight"
    default_detail = "A request with this Idempotency-Key is still being processed; retry later."


class IdempotencyKeyReused(DomainError):
    status_code = 422
    code = "idempotency_key_reused"
    title = "Idempotency key reused"
    default_detail = "This Idempotency-Key was used with a different request."
