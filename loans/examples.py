"""OpenAPI examples that walk the Lenme flow: 5000.00 for 6 months at 15.00%, funded on Jan 31."""

import datetime
from decimal import Decimal

from drf_spectacular.utils import OpenApiExample

from loans.payoff import Installment, NoteTerms, payoff_quote, relevel_rows
from loans.schedule import build_schedule

_SCHEDULE = build_schedule(
    amount=Decimal("5000.00"), annual_rate=Decimal("15.00"), term_months=6, start=datetime.date(2026, 1, 31)
)
_LOAN = {
    "id": 1, "borrower": 2, "lender": None, "lenders": [], "amount": "5000.00", "term_months": 6,
    "interest_rate": "15.00", "lenme_fee": "3.75", "total_loan_amount": "5003.75", "monthly_payment_amount": None,
    "principal_outstanding": "0.00", "status": "OPEN", "closed_reason": None, "autopay": False, "days_past_due": 0,
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
        "status": "paid" if paid else "scheduled", "loan_status": "FUNDED",
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


# Payoff (v2): a two-note loan of 5000.00 over 6 months funded on 2026-01-31 (note 21: 3000.00 at 12.00% to
# lender 3; note 22: 2000.00 at 15.00% to lender 4), quoted 10 days after funding. Computed here by the
# same pure function the service uses (loans.payoff), so the numbers shown are the ones a client gets.
_FUNDING_DATE = datetime.date(2026, 1, 31)
_NOTE_TERMS = ((21, Decimal("12.00"), Decimal("3000.00")), (22, Decimal("15.00"), Decimal("2000.00")))
_NOTE_ROWS = {
    nid: build_schedule(amount=amount, annual_rate=rate, term_months=6, start=_FUNDING_DATE)
    for nid, rate, amount in _NOTE_TERMS
}
_TWO_NOTE_ROWS = [
    (k + 1, rows[0].due_date, *(sum((r[k].__getattribute__(f) for r in _NOTE_ROWS.values()), Decimal("0"))
                                 for f in ("amount", "principal", "interest")))
    for k, rows in enumerate(zip(*_NOTE_ROWS.values(), strict=True))
]  # fmt: skip
_TWO_NOTE_QUOTE = payoff_quote(
    funding_date=_FUNDING_DATE,
    installments=[
        Installment(number=n, due_date=d, amount=a, late_fee=Decimal("0.00"), paid=False, fee_added=False)
        for n, d, a, _, _ in _TWO_NOTE_ROWS
    ],
    notes=[
        NoteTerms(note_id=nid, rate=rate, principals=[r.principal for r in _NOTE_ROWS[nid]])
        for nid, rate, _ in _NOTE_TERMS
    ],
    as_of=_FUNDING_DATE + datetime.timedelta(days=10),
    late_fee=Decimal("0.00"),
)
_Q = _TWO_NOTE_QUOTE
_N21, _N22 = _Q.notes
PAYOFF_QUOTE_TWO_NOTES = _ok(
    f"Two notes, 10 days after funding: {_Q.total}",
    {"loan": 2, "as_of": _Q.as_of.isoformat(), "due_installments": _Q.due_installments, "due_amount": f"{_Q.due_amount}",
     "principal_outstanding": f"{_Q.principal_outstanding}", "accrued_interest": f"{_Q.accrued_interest}",
     "total": f"{_Q.total}"},
)  # fmt: skip
PAYOFF_QUOTE_DESCRIPTION = (
    "The borrower or a lender of the loan (anyone else who can see it: 403); the loan FUNDED or DEFAULTED "
    "(else 409 `invalid_state`). `as_of` (YYYY-MM-DD) defaults to today (UTC); before today: 400. "
    "Installments are paid in order (1..p); `j` is the highest number paid or due on or before `as_of` (0 when "
    "none). `due_installments` are the unpaid installments due on or before `as_of` and `due_amount` the sum of "
    "their `amount + late_fee`, counting the `LENME_LATE_FEE` each one due before `as_of` will owe by then; "
    "`principal_outstanding` is the principal of rows j+1..n; `accrued_interest` is the sum over notes of "
    "`round(B * rate / 1200 * d / D)` (exact, half-up to the cent once per note), `B` the note's principal in "
    "rows j+1..n, `S` the due date of row j (the funding date when j = 0), `N` that of row j+1, `d = max(0, days "
    "from S to as_of)`, `D` the days from S to N (0.00 when j = n); `total = due_amount + principal_outstanding "
    "+ accrued_interest`. As of the last due date or later the quote is exactly the unpaid installments.\n\n"
    f"Worked example: 5000.00 over 6 months funded on {_FUNDING_DATE}, in two notes: 3000.00 at 12.00% and "
    f"2000.00 at 15.00%. On {_Q.as_of} (10 days after funding, period 1 running {_FUNDING_DATE} to "
    f"{_TWO_NOTE_ROWS[0][1]}: D = {(_TWO_NOTE_ROWS[0][1] - _FUNDING_DATE).days}) nothing is due; the principal "
    f"left is 3000.00 + 2000.00 = {_Q.principal_outstanding}; accrued interest is round(3000.00 * 12.00 / 1200 "
    f"* 10 / {(_TWO_NOTE_ROWS[0][1] - _FUNDING_DATE).days}) = {_N21.accrued_interest} plus round(2000.00 * 15.00 "
    f"/ 1200 * 10 / {(_TWO_NOTE_ROWS[0][1] - _FUNDING_DATE).days}) = {_N22.accrued_interest}, so "
    f"{_Q.accrued_interest}; the total is {_Q.total}."
)
PAYOFF_DESCRIPTION = (
    "Pays the loan off today: the quote as of today (GET .../payoff/). Send the quote's `total` to guard "
    "against a change (a day passing, a fee): a `total` that differs from the payoff due now is 409 "
    "`quote_changed`; an available balance below it 409 `insufficient_funds`; nothing moves on any error. In "
    "one transaction the due installments are paid in order as `pay` pays them (late fees included), then each "
    "note's principal of rows j+1..n plus its accrued interest goes to its lender in one `payoff` ledger row "
    "(none for 0.00); rows j+1..n become `status: settled` (`paid` stays false), every note REPAID, and the "
    'loan COMPLETED with `closed_reason: "prepaid"` (`"repaid"` when the last installment was among the '
    f"due ones). In the worked example, paying off on {_Q.as_of} with `total` {_Q.total} moves "
    f"{_N21.principal + _N21.accrued_interest} to note 21's lender and {_N22.principal + _N22.accrued_interest} "
    "to note 22's. 200: the Loan with `payments`. The loan may be FUNDED or DEFAULTED (what charged-off notes "
    "receive counts in their `recoveries`).\n\nWith an `Idempotency-Key`, a 409 `quote_changed` is stored and "
    "replayed like every 409 (see Idempotency): get a new quote and send it with a new key. A `total` is an "
    "input amount, so 0.00 is 400 (Conventions): in the one case where the quote itself is 0.00 (only 0.00 "
    "installments left after prepayments), leave `total` out."
)
PAYOFF_REQUEST = OpenApiExample("Pay off with the quoted total", value={"total": f"{_Q.total}"}, request_only=True)
_PAID_OFF_LOAN = _LOAN | {
    "id": 2, "lender": None, "lenders": [3, 4], "interest_rate": "13.20", "monthly_payment_amount": f"{_TWO_NOTE_ROWS[0][2]}",
    "status": "COMPLETED", "closed_reason": "prepaid", "accepted_at": "2026-01-30T12:00:00Z",
    "funded_at": "2026-01-31T08:00:00Z", "completed_at": "2026-02-10T09:30:00Z",
}  # fmt: skip
LOAN_PAID_OFF = _ok(
    "Paid off 10 days after funding: every installment settled",
    _PAID_OFF_LOAN | {"payments": [
        {"id": 30 + n, "loan": 2, "number": n, "due_date": d.isoformat(), "amount": f"{a}", "principal": f"{p}",
         "interest": f"{i}", "late_fee": "0.00", "overdue": False, "paid": False, "paid_at": None,
         "status": "settled", "loan_status": "COMPLETED"}
        for n, d, a, p, i in _TWO_NOTE_ROWS
    ]},
)  # fmt: skip
QUOTE_CHANGED = OpenApiExample(
    "quote_changed (v2)",
    value={"type": "about:blank", "title": "Quote changed", "status": 409,
           "detail": f"The payoff due today is {_Q.total}, not 5000.00.", "code": "quote_changed"},
    response_only=True, status_codes=["409"],
)  # fmt: skip
PREPAY_DESCRIPTION = (
    "Pays `amount` of extra principal now. The loan must be FUNDED (else 409 `invalid_state`, checked before "
    "the amount: whatever the `amount`) with no overdue installment (an unpaid one of more than 0.00 due "
    "before today: 409 `out_of_order`); `amount` is 0.01 to less than the principal outstanding (else 400: "
    "paying it all is a payoff). The amount is split over the notes in proportion to their principal "
    "outstanding, rounded down to the cent, the cents still missing going one each to the largest remainders "
    "(ties: the lower note id); each note's part goes to its lender in one `prepayment` ledger row. Then each "
    "note's unpaid rows are re-levelled from its new principal by the schedule rule over the rows left, with "
    "the same due dates, except that the first unpaid row keeps the `interest` it had (the current period was "
    "earning on the old principal) and its `amount` becomes that interest plus its re-levelled principal; the "
    "loan's unpaid installments are their sums again (an installment can become 0.00: paying it moves nothing, "
    "and it is never overdue). 200: the Loan with `payments`."
)
# The README's part 3: 900.00 over 3 months funded on 2026-01-31 in two notes (600.00 at 9.00%, 300.00 at
# 12.00%); 300.00 prepaid before installment 1 splits 200.00 and 100.00 (600:300), and each note's rows
# are re-levelled over the three rows left, installment 1 keeping its interest (4.50 + 3.00).
_PREPAY_NOTES = (
    (Decimal("9.00"), Decimal("600.00"), Decimal("200.00")),
    (Decimal("12.00"), Decimal("300.00"), Decimal("100.00")),
)
_PREPAID_ROWS = [
    relevel_rows(
        principal=amount - part,
        rate=rate,
        first_interest=build_schedule(amount=amount, annual_rate=rate, term_months=3)[0].interest,
        rows_left=3,
    )
    for rate, amount, part in _PREPAY_NOTES
]
_PREPAY_DUE = [
    r.due_date
    for r in build_schedule(amount=Decimal("900.00"), annual_rate=Decimal("0"), term_months=3, start=_FUNDING_DATE)
]
PREPAY_REQUEST = OpenApiExample("Prepay 300.00", value={"amount": "300.00"}, request_only=True)
LOAN_PREPAID = _ok(
    "300.00 prepaid on a 900.00 two-note loan: installments re-levelled",
    _LOAN | {
        "id": 3, "amount": "900.00", "term_months": 3, "interest_rate": "10.00", "total_loan_amount": "903.75",
        "lender": None, "lenders": [3, 4], "monthly_payment_amount": f"{sum(n[0][0] for n in _PREPAID_ROWS)}",
        "principal_outstanding": "600.00", "status": "FUNDED", "accepted_at": "2026-01-30T12:00:00Z",
        "funded_at": "2026-01-31T08:00:00Z",
        "payments": [
            {"id": 40 + k, "loan": 3, "number": k + 1, "due_date": _PREPAY_DUE[k].isoformat(),
             "amount": f"{sum(n[k][0] for n in _PREPAID_ROWS)}", "principal": f"{sum(n[k][1] for n in _PREPAID_ROWS)}",
             "interest": f"{sum(n[k][2] for n in _PREPAID_ROWS)}", "late_fee": "0.00", "overdue": False, "paid": False,
             "paid_at": None, "status": "scheduled", "loan_status": "FUNDED"}
            for k in range(3)
        ],
    },
)  # fmt: skip
