"""Delinquency (v2): how late a loan is (days past due, its bucket) and the charge-off of a loan too late.

`days_past_due` is the number of days from the due date of the oldest unpaid installment due before
`today` to `today` (0 when none; an installment of 0.00 never counts). The sweep (rule 6) sets it as
of its day, every payment as of the payment's day; a FUNDED loan that reaches LENME_CHARGE_OFF_DAYS
is charged off (loans.services.chargeoff).
"""

import datetime

from django.db.models import Min, QuerySet

from loans.models import UNPAID, Loan, Payment

CURRENT = "current"
GRACE = "grace"
LATE_16_30 = "late_16_30"
LATE_31_120 = "late_31_120"
DEFAULT = "default"
BUCKETS = (CURRENT, GRACE, LATE_16_30, LATE_31_120, DEFAULT)
# The inclusive days_past_due range of each bucket (None: no upper bound), for filters and docs.
BUCKET_RANGES: dict[str, tuple[int, int | None]] = {
    CURRENT: (0, 0),
    GRACE: (1, 15),
    LATE_16_30: (16, 30),
    LATE_31_120: (31, 120),
    DEFAULT: (121, None),
}


def delinquency_bucket(days_past_due: int) -> str:
    for bucket, (low, high) in BUCKET_RANGES.items():
        if days_past_due >= low and (high is None or days_past_due <= high):
            return bucket
    raise ValueError(f"days_past_due cannot be negative: {days_past_due}")


def _counting(payments: QuerySet[Payment], today: datetime.date) -> QuerySet[Payment]:
    """The installments that make a loan late on `today`: unpaid, not 0.00, due before today."""
    return payments.filter(UNPAID, amount__gt=0, due_date__lt=today)


def days_past_due_from(oldest_due: datetime.date | None, today: datetime.date) -> int:
    return 0 if oldest_due is None else (today - oldest_due).days


def loan_days_past_due(*, loan: Loan, today: datetime.date) -> int:
    """One query: the loan's days past due as of `today`."""
    oldest = _counting(Payment.objects.filter(loan=loan), today).aggregate(oldest=Min("due_date"))["oldest"]
    return days_past_due_from(oldest, today)


def oldest_unpaid_due_dates(*, loan_ids, today: datetime.date) -> dict[int, datetime.date]:
    """One query: for each loan with a counting installment, the due date of its oldest one."""
    rows = (
        _counting(Payment.objects.filter(loan_id__in=loan_ids), today)
        .order_by()
        .values("loan_id")
        .annotate(oldest=Min("due_date"))
        .values_list("loan_id", "oldest")
    )
    return dict(rows)
