"""Loans, the offers lenders make on them, the repayment schedule, and user notifications."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from lenme.money import MONEY, RATE, ZERO


class LoanStatus(models.TextChoices):
    DRAFT = "DRAFT"
    OPEN = "OPEN"
    OFFERED = "OFFERED"
    ACCEPTED = "ACCEPTED"
    FUNDED = "FUNDED"
    DEFAULTED = "DEFAULTED"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"


class OfferStatus(models.TextChoices):
    PENDING = "PENDING"
    ACCEPTED = "ACCEPTED"
    REJECTED = "REJECTED"
    WITHDRAWN = "WITHDRAWN"
    EXPIRED = "EXPIRED"


# The lifecycle, in one table each: every status change goes through loans.services.transitions.
LOAN_TRANSITIONS: dict[str, set[str]] = {
    LoanStatus.DRAFT: {LoanStatus.OPEN, LoanStatus.CANCELLED},
    LoanStatus.OPEN: {LoanStatus.OFFERED, LoanStatus.CANCELLED},
    LoanStatus.OFFERED: {LoanStatus.OPEN, LoanStatus.ACCEPTED, LoanStatus.CANCELLED},
    LoanStatus.ACCEPTED: {LoanStatus.FUNDED, LoanStatus.OPEN, LoanStatus.CANCELLED},
    LoanStatus.FUNDED: {LoanStatus.COMPLETED, LoanStatus.DEFAULTED},
    LoanStatus.DEFAULTED: {LoanStatus.COMPLETED},
    LoanStatus.COMPLETED: set(),
    LoanStatus.CANCELLED: set(),
}
OFFER_TRANSITIONS: dict[str, set[str]] = {
    OfferStatus.PENDING: {OfferStatus.ACCEPTED, OfferStatus.REJECTED, OfferStatus.WITHDRAWN, OfferStatus.EXPIRED},
    OfferStatus.ACCEPTED: {OfferStatus.EXPIRED, OfferStatus.REJECTED},
    OfferStatus.REJECTED: set(),
    OfferStatus.WITHDRAWN: set(),
    OfferStatus.EXPIRED: set(),
}
LIVE_LOAN_STATUSES = (LoanStatus.OPEN, LoanStatus.OFFERED)
# Loans with a schedule still running: they take payments, age and can be charged off (FUNDED only).
REPAYING_LOAN_STATUSES = (LoanStatus.FUNDED, LoanStatus.DEFAULTED)


class ClosedReason(models.TextChoices):
    REPAID = "repaid"  # its last installment was paid
    PREPAID = "prepaid"  # paid off early


class PaymentStatus(models.TextChoices):
    SCHEDULED = "scheduled"
    PAID = "paid"
    SETTLED = "settled"  # (v2) closed by a payoff without being paid as such


# An installment still to pay: neither paid nor settled by a payoff.
UNPAID = Q(paid=False, settled=False)


class NoteStatus(models.TextChoices):
    ACTIVE = "ACTIVE"
    REPAID = "REPAID"
    CHARGED_OFF = "CHARGED_OFF"


class Loan(models.Model):
    borrower = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="loans_borrowed")
    lender = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="loans_lent"
    )
    amount = models.DecimalField(**MONEY)
    term_months = models.PositiveSmallIntegerField()
    # What the borrower asked for (null: any rate); interest_rate shows it until an offer is accepted.
    requested_interest_rate = models.DecimalField(**RATE, null=True, blank=True)
    interest_rate = models.DecimalField(**RATE, null=True, blank=True)
    # The fee in force when the loan was requested, so a later change of LENME_FEE never reprices it.
    lenme_fee = models.DecimalField(**MONEY)
    status = models.CharField(max_length=16, choices=LoanStatus.choices, default=LoanStatus.OPEN, db_index=True)
    autopay = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    accepted_at = models.DateTimeField(null=True, blank=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    # (v2) Why a COMPLETED loan closed; "" (shown as null) in every other state.
    closed_reason = models.CharField(max_length=16, choices=ClosedReason.choices, blank=True, default="")
    # Set at accept, cleared when the lenders are dropped: the accepted offers' lenders in fill order,
    # and installment 1's amount (the notes' rows 1 summed), so reads need no query per loan.
    lender_ids = models.JSONField(default=list, blank=True)
    first_installment = models.DecimalField(**MONEY, null=True, blank=True)
    # (v2) Delinquency, set by the sweep (rule 6) and by every payment; see loans.delinquency.
    days_past_due = models.PositiveIntegerField(default=0, db_index=True)
    defaulted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="loan_amount_positive"),
            models.CheckConstraint(condition=Q(term_months__gte=1, term_months__lte=360), name="loan_term_range"),
            models.CheckConstraint(condition=Q(amount__gte=F("term_months")), name="loan_amount_covers_term"),
            models.CheckConstraint(condition=Q(lenme_fee__gte=0), name="loan_fee_non_negative"),
            models.CheckConstraint(condition=~Q(lender=F("borrower")), name="loan_lender_not_borrower"),
            models.CheckConstraint(
                condition=Q(interest_rate__isnull=True) | Q(interest_rate__gte=0, interest_rate__lte=100),
                name="loan_rate_range",
            ),
            models.CheckConstraint(
                condition=~Q(status="DEFAULTED") | Q(defaulted_at__isnull=False), name="loan_defaulted_has_date"
            ),
            models.CheckConstraint(
                condition=Q(status="COMPLETED", closed_reason__in=["repaid", "prepaid"])
                | (~Q(status="COMPLETED") & Q(closed_reason="")),
                name="loan_closed_reason_iff_completed",
            ),
        ]

    def __str__(self) -> str:
        return f"Loan #{self.pk} {self.amount} x{self.term_months} ({self.status})"

    @property
    def delinquency(self) -> str:
        from loans.delinquency import delinquency_bucket

        return delinquency_bucket(self.days_past_due)

    def total_loan_amount(self) -> Decimal:
        """What the lender pays to fund: the principal plus Lenme's fee."""
        return self.amount + self.lenme_fee

    def rate_is_known(self) -> bool:
        return self.lender_id is not None and self.interest_rate is not None

    def monthly_payment_amount(self) -> Decimal | None:
        """Installment 1's amount (its notes' rows 1 summed); None until the offers are chosen."""
        if self.first_installment is not None:
            return self.first_installment
        if not self.rate_is_known():
            return None
        from loans.schedule import first_payment

        return first_payment(amount=self.amount, annual_rate=self.interest_rate, term_months=self.term_months)


class Offer(models.Model):
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="offers")
    lender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="offers")
    interest_rate = models.DecimalField(**RATE)
    # How much of the loan this lender offers to fund (the whole amount when left out), what accept
    # filled of it and its share of the fee; funded_at once its lender confirmed.
    amount = models.DecimalField(**MONEY)
    filled_amount = models.DecimalField(**MONEY, null=True, blank=True)
    fee = models.DecimalField(**MONEY, null=True, blank=True)
    funded_at = models.DateTimeField(null=True, blank=True)
    # What this offer holds of the lender's balance now: amount + fee hold while PENDING, filled_amount
    # + fee once ACCEPTED on a loan not yet funded, 0 afterwards.
    reserved_amount = models.DecimalField(**MONEY, default=ZERO)
    status = models.CharField(max_length=16, choices=OfferStatus.choices, default=OfferStatus.PENDING, db_index=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["interest_rate", "created_at", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(reserved_amount__gte=0), name="offer_reserved_non_negative"),
            models.CheckConstraint(condition=Q(interest_rate__gte=0, interest_rate__lte=100), name="offer_rate_range"),
            models.UniqueConstraint(
                fields=["loan", "lender"], condition=Q(status="PENDING"), name="offer_one_pending_per_lender"
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="offer_amount_positive"),
            models.CheckConstraint(
                condition=Q(filled_amount__isnull=True) | (Q(filled_amount__gt=0) & Q(filled_amount__lte=F("amount"))),
                name="offer_filled_within_amount",
            ),
            models.CheckConstraint(condition=Q(fee__isnull=True) | Q(fee__gte=0), name="offer_fee_non_negative"),
            models.CheckConstraint(
                condition=Q(status__in=["PENDING", "ACCEPTED"]) | Q(reserved_amount=0),
                name="offer_hold_only_while_live",
            ),
        ]

    def __str__(self) -> str:
        return f"Offer #{self.pk} {self.interest_rate}% on loan #{self.loan_id} ({self.status})"


class Payment(models.Model):
    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="payments")
    number = models.PositiveSmallIntegerField()
    due_date = models.DateField(db_index=True)
    amount = models.DecimalField(**MONEY)
    principal = models.DecimalField(**MONEY)
    interest = models.DecimalField(**MONEY)
    late_fee = models.DecimalField(**MONEY, default=ZERO)
    overdue = models.BooleanField(default=False)
    paid = models.BooleanField(default=False)
    paid_at = models.DateTimeField(null=True, blank=True)
    # (v2) Closed by a payoff (its principal paid in the payoff rows) without being paid as such.
    settled = models.BooleanField(default=False)
    reminder_sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["loan_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["loan", "number"], name="payment_number_unique_per_loan"),
            # (v2) 0.00 is possible after a prepayment (a note's rows can all be 0.00 but one).
            models.CheckConstraint(condition=Q(amount__gte=0), name="payment_amount_non_negative"),
            models.CheckConstraint(condition=~Q(paid=True, settled=True), name="payment_paid_or_settled"),
            models.CheckConstraint(condition=Q(principal__gte=0, interest__gte=0), name="payment_parts_non_negative"),
            models.CheckConstraint(condition=Q(late_fee__gte=0), name="payment_late_fee_non_negative"),
        ]

    def __str__(self) -> str:
        return f"Payment {self.number} of loan #{self.loan_id}"

    def amount_due(self) -> Decimal:
        return self.amount + self.late_fee

    @property
    def status(self) -> str:
        if self.paid:
            return PaymentStatus.PAID
        return PaymentStatus.SETTLED if self.settled else PaymentStatus.SCHEDULED

    def is_open(self) -> bool:
        """Still to pay (see UNPAID)."""
        return not self.paid and not self.settled


class Note(models.Model):
    """A lender's part of a funded loan (one per accepted offer), repaid by its own schedule (NotePayment)."""

    loan = models.ForeignKey(Loan, on_delete=models.PROTECT, related_name="notes")
    lender = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="notes")
    offer = models.OneToOneField(Offer, on_delete=models.PROTECT, related_name="note")
    amount = models.DecimalField(**MONEY)
    interest_rate = models.DecimalField(**RATE)
    fee = models.DecimalField(**MONEY)
    status = models.CharField(max_length=16, choices=NoteStatus.choices, default=NoteStatus.ACTIVE, db_index=True)
    charged_off_principal = models.DecimalField(**MONEY, default=ZERO)
    funded_at = models.DateTimeField()

    class Meta:
        ordering = ["-funded_at", "-id"]
        indexes = [models.Index(fields=["lender", "-id"])]
        constraints = [
            models.UniqueConstraint(fields=["loan", "lender"], name="note_one_per_lender_per_loan"),
            models.CheckConstraint(condition=Q(amount__gt=0), name="note_amount_positive"),
            models.CheckConstraint(condition=Q(fee__gte=0), name="note_fee_non_negative"),
            models.CheckConstraint(condition=Q(interest_rate__gte=0, interest_rate__lte=100), name="note_rate_range"),
        ]

    def __str__(self) -> str:
        return f"Note #{self.pk} {self.amount} at {self.interest_rate}% of loan #{self.loan_id} ({self.status})"


class NotePayment(models.Model):
    """A note's row of one installment: the installment's amount, principal and interest are the sums
    of its rows; late_fee is the note's share of the installment's late fee once it is paid. A row is
    paid exactly when its installment is (one flag, on Payment, so the two cannot disagree)."""

    note = models.ForeignKey(Note, on_delete=models.PROTECT, related_name="rows")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="note_rows")
    number = models.PositiveSmallIntegerField()
    amount = models.DecimalField(**MONEY)
    principal = models.DecimalField(**MONEY)
    interest = models.DecimalField(**MONEY)
    late_fee = models.DecimalField(**MONEY, default=ZERO)

    class Meta:
        ordering = ["note_id", "number"]
        constraints = [
            models.UniqueConstraint(fields=["note", "number"], name="note_payment_number_unique_per_note"),
            models.UniqueConstraint(fields=["payment", "note"], name="note_payment_one_row_per_note"),
            models.CheckConstraint(
                condition=Q(amount__gte=0, principal__gte=0, interest__gte=0, late_fee__gte=0),
                name="note_payment_parts_non_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"Row {self.number} of note #{self.note_id}"


class NotificationKind(models.TextChoices):
    OFFER_RECEIVED = "offer_received"
    OFFER_ACCEPTED = "offer_accepted"
    OFFER_REJECTED = "offer_rejected"
    OFFER_EXPIRED = "offer_expired"
    LOAN_FUNDED = "loan_funded"
    PAYMENT_DUE = "payment_due"
    PAYMENT_OVERDUE = "payment_overdue"
    PAYMENT_RECEIVED = "payment_received"
    LOAN_COMPLETED = "loan_completed"
    LOAN_DEFAULTED = "loan_defaulted"


class Notification(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=NotificationKind.choices)
    message = models.CharField(max_length=500)
    loan = models.ForeignKey(Loan, null=True, blank=True, on_delete=models.CASCADE, related_name="notifications")
    read = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-id"])]

    def __str__(self) -> str:
        return f"{self.kind} for {self.user_id}"


class JobRun(models.Model):
    """One sweep of the scheduled jobs, for operators: when it ran and what each rule did."""

    started_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    today = models.DateField()
    counts = models.JSONField(default=dict)
    error = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"Sweep {self.started_at:%Y-%m-%d %H:%M:%S}"
