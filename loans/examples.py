"""OpenAPI examples that walk the Lenme flow: 5000.00 for 6 months at 15.00%, funded on Jan 31."""

import datetime
from decimal import Decimal

from drf_spectacular.utils import OpenApiExample

from loans.schedule import build_schedule

_SCHEDULE = build_schedule(
    amount=Decimal("5000.00"), annual_rate=Decimal("15.00"), term_months=6, start=datetime.date(2026, 1, 31)
)
_LOAN = {
    "id": 1, "borrower": 2, "lender": None, "lenders": [], "amount": "5000.00", "term_months": 6,
    "interest_rate": "15.00", "lenme_fee": "3.75", "total_loan_amount": "5003.75", "monthly_payment_amount": None,
    "principal_outstanding": "0.00", "status": "OPEN", "autopay": False, "days_past_due": 0,
    "delinquency": "current", "created_at": "2026-01-30T09:00:00Z", "accepted_at": None, "funded_at": None,
    "completed_at": None, "defaulted_at": None,
}  # fmt: skip
_ACCEPTED = _LOAN | {
    "lender": 3,
    "lenders": [3],
    "monthly_payment_amount": "870.17",
    "status": "ACCEPTED",
    "accepted_at": "2026-01-30T12:00:00Z",
}
_FUNDED = _ACCEPTED | {"status": "FUNDED", "funded_at": "2026-01-31T08:00:00Z", "principal_outstanding": "5000.00"}


def _payment(row, *, paid: bool = False) -> dict:
    return {
        "id": 10 + row.number, "loan": 1, "number": row.number, "due_date": row.due_date.isoformat(),
        "amount": f"{row.amount}", "principal": f"{row.principal}", "interest": f"{row.interest}",
        "late_fee": "0.00", "overdue": False, "paid": paid, "paid_at": "2026-02-27T10:00:00Z" if paid else None,
        "loan_status": "FUNDED",
    }  # fmt: skip


def _ok(name: str, value: dict | list, status: str = "200") -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[status])


LOAN_CREATED = _ok("OPEN loan", _LOAN, "201")
LOAN_ACCEPTED = _ok("Accepted at 15.00%", _ACCEPTED)
LOAN_FUNDED = _ok("Funded, with its schedule", _FUNDED | {"payments": [_payment(r) for r in _SCHEDULE]})
OFFER_CREATED = _ok(
    "PENDING offer holding 5003.75",
    {"id": 7, "loan": 1, "lender": 3, "interest_rate": "15.00", "amount": "5000.00", "filled_amount": None,
     "fee": None, "reserved_amount": "5003.75", "status": "PENDING", "funded_at": None,
     "created_at": "2026-01-30T10:00:00Z"},
    "201",
)  # fmt: skip
PAYMENT_PAID = _ok("Installment 1 paid", _payment(_SCHEDULE[0], paid=True))
QUOTE = _ok(
    "5000.00 at 15.00% for 6 months",
    {
        "amount": "5000.00", "term_months": 6, "interest_rate": "15.00", "lenme_fee": "3.75",
        "monthly_payment_amount": "870.17", "total_repayment": "5221.00", "total_interest": "221.00",
        "payments": [
            {"number": r.number, "amount": f"{r.amount}", "principal": f"{r.principal}", "interest": f"{r.interest}"}
            for r in _SCHEDULE
        ],
    },
)  # fmt: skip
INSUFFICIENT_FUNDS = OpenApiExample(
    "insufficient_funds",
    value={"type": "about:blank", "title": "Insufficient funds", "status": 409,
           "detail": "This offer holds 5003.75; your available balance is 1000.00.", "code": "insufficient_funds"},
    response_only=True, status_codes=["409"],
)  # fmt: skip
VALIDATION_ERROR = OpenApiExample(
    "validation_error",
    value={"type": "about:blank", "title": "Invalid input", "status": 400, "detail": "Must have at most two decimal places.",
           "code": "validation_error",
           "errors": [{"field": "amount", "code": "max_places", "detail": "Must have at most two decimal places."}]},
    response_only=True, status_codes=["400"],
)  # fmt: skip


# Three notes (v2): a 1000.00 loan over 3 months; offers 7 (400.00 at 10%), 8 (350.00 at 12%) and 9 (the whole
# loan at 12%, younger than 8) are filled 400.00, 350.00 and 250.00; the 3.75 fee splits 1.50, 1.31, 0.94.
_PARTS = ((3, "10.00", "400.00"), (4, "12.00", "350.00"), (5, "12.00", "250.00"))
_FIRST_ROWS = sum(
    (build_schedule(amount=Decimal(a), annual_rate=Decimal(r), term_months=3)[0].amount for _, r, a in _PARTS),
    Decimal("0"),
)
THREE_NOTE_ACCEPT_REQUEST = OpenApiExample(
    "Accept three offers (v2)", value={"offer_ids": [9, 8, 7]}, request_only=True
)
THREE_NOTE_ACCEPTED = _ok(
    "Three notes accepted: filled 400.00, 350.00, 250.00 (v2)",
    _LOAN | {
        "id": 2, "amount": "1000.00", "term_months": 3, "interest_rate": "11.20", "total_loan_amount": "1003.75",
        "lender": None, "lenders": [3, 4, 5], "monthly_payment_amount": f"{_FIRST_ROWS}", "status": "ACCEPTED",
        "accepted_at": "2026-01-30T12:00:00Z",
    },
)  # fmt: skip
THREE_NOTE_OFFERS = _ok(
    "Offers after a three-note accept (v2)",
    {"count": 3, "next": None, "previous": None, "results": [
        {"id": 7, "loan": 2, "lender": 3, "interest_rate": "10.00", "amount": "400.00", "filled_amount": "400.00",
         "fee": "1.50", "reserved_amount": "401.50", "status": "ACCEPTED", "funded_at": None,
         "created_at": "2026-01-30T10:00:00Z"},
        {"id": 8, "loan": 2, "lender": 4, "interest_rate": "12.00", "amount": "350.00", "filled_amount": "350.00",
         "fee": "1.31", "reserved_amount": "351.31", "status": "ACCEPTED", "funded_at": None,
         "created_at": "2026-01-30T10:05:00Z"},
        {"id": 9, "loan": 2, "lender": 5, "interest_rate": "12.00", "amount": "1000.00", "filled_amount": "250.00",
         "fee": "0.94", "reserved_amount": "250.94", "status": "ACCEPTED", "funded_at": None,
         "created_at": "2026-01-30T10:10:00Z"},
    ]},
)  # fmt: skip
NOT_COVERED = OpenApiExample(
    "not_covered (v2)",
    value={"type": "about:blank", "title": "Not covered", "status": 409,
           "detail": "The chosen offers add up to 750.00; the loan is for 1000.00.", "code": "not_covered"},
    response_only=True, status_codes=["409"],
)  # fmt: skip


PORTFOLIO = _ok(
    "A lender with three notes (one charged off) who also borrows",
    {
        "lender": {
            "notes": {"ACTIVE": 1, "REPAID": 1, "CHARGED_OFF": 1},
            "principal_invested": "3000.00", "principal_outstanding": "660.42", "principal_repaid": "1839.58",
            "interest_received": "61.96", "late_fees_received": "5.00", "fees_paid": "3.75",
            "charged_off_principal": "500.00", "recoveries": "87.02", "held_in_offers": "250.63",
            "weighted_average_rate": "12.50",
        },
        "borrower": {
            "loans": {"FUNDED": 1, "COMPLETED": 2},
            "principal_outstanding": "4161.90", "total_repaid": "3480.68",
            "next_payment": {"loan": 1, "number": 2, "due_date": "2026-03-31", "amount": "870.17"},
        },
    },
)  # fmt: skip
