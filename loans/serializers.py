"""Input and output shapes of the lending endpoints."""

from decimal import Decimal

from django.db.models import Sum
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lenme.api.fields import (
    MoneyField,
    QueryDateField,
    QueryIntegerField,
    RateField,
    StrictBooleanField,
    StrictIntegerField,
)
from lenme.money import ZERO
from loans import policies
from loans.delinquency import BUCKETS
from loans.models import (
    ClosedReason,
    Loan,
    LoanStatus,
    Note,
    NotePayment,
    NoteStatus,
    Notification,
    Offer,
    Payment,
    PaymentStatus,
)

LOAN_AMOUNT = dict(min_value=Decimal("1.00"), max_value=Decimal("1000000.00"))


class LoanCreateSerializer(serializers.Serializer):
    amount = MoneyField(**LOAN_AMOUNT)
    term_months = StrictIntegerField(min_value=1, max_value=360)
    interest_rate = RateField(required=False, help_text="The highest annual rate the borrower accepts.")
    draft = StrictBooleanField(required=False, default=False)

    def validate(self, attrs: dict) -> dict:
        if attrs["amount"] < attrs["term_months"]:
            raise serializers.ValidationError(
                {"amount": f"A {attrs['term_months']}-month loan needs at least {attrs['term_months']}.00."},
                code="min_value",
            )
        return attrs


class OfferCreateSerializer(serializers.Serializer):
    interest_rate = RateField()
    amount = MoneyField(
        required=False,
        max_value=LOAN_AMOUNT["max_value"],
        help_text="(v2) How much of the loan this offer funds: min(LENME_MIN_NOTE, loan amount) (default 25.00) "
        "to the loan's amount, else 400. Left out: the whole loan (v1).",
    )


class AcceptSerializer(serializers.Serializer):
    offer_id = StrictIntegerField(
        required=False, min_value=1, help_text="Accept this one offer (v1). Not with `offer_ids`."
    )
    offer_ids = serializers.ListField(
        child=StrictIntegerField(min_value=1),
        required=False,
        allow_empty=False,
        max_length=1000,
        help_text="(v2) The offers to fill, in the order lowest rate, oldest, lowest id: a non-empty list of "
        "distinct ids of offers on this loan (else 400). Default (neither field): every PENDING offer.",
    )

    def validate(self, attrs: dict) -> dict:
        if "offer_id" in attrs and "offer_ids" in attrs:
            raise serializers.ValidationError(
                {"non_field_errors": ["Send `offer_id` or `offer_ids`, not both."]}, code="exclusive"
            )
        ids = attrs.get("offer_ids")
        if ids is not None and len(set(ids)) != len(ids):
            raise serializers.ValidationError({"offer_ids": ["Each offer id may appear once."]}, code="unique")
        return attrs


class AutopaySerializer(serializers.Serializer):
    enabled = StrictBooleanField()


class PaymentSerializer(serializers.ModelSerializer):
    amount = MoneyField(positive=False, help_text="(v2) Can be 0.00 after a prepayment; paying it then moves nothing.")
    principal = MoneyField(positive=False)
    interest = MoneyField(positive=False)
    late_fee = MoneyField(positive=False)
    status = serializers.ChoiceField(
        choices=PaymentStatus.choices,
        read_only=True,
        help_text="(v2) scheduled (unpaid), paid, or settled (closed by a payoff without being paid as such: "
        "`paid` stays false).",
    )
    loan_status = serializers.ChoiceField(source="loan.status", choices=LoanStatus.choices, read_only=True)

    class Meta:
        model = Payment
        fields = [
            "id",
            "loan",
            "number",
            "due_date",
            "amount",
            "principal",
            "interest",
            "late_fee",
            "overdue",
            "paid",
            "paid_at",
            "status",
            "loan_status",
        ]
        read_only_fields = fields


class LoanSerializer(serializers.ModelSerializer):
    lender = serializers.IntegerField(
        source="lender_id", allow_null=True, help_text="The lender when exactly one offer was accepted, else null."
    )
    lenders = serializers.ListField(
        source="lender_ids",
        child=serializers.IntegerField(),
        help_text="(v2) The accepted offers' lenders, in fill order (lowest rate, oldest, lowest id); [] before.",
    )
    amount = MoneyField()
    interest_rate = RateField(
        allow_null=True,
        help_text="The requested maximum until offers are accepted, then the accepted rate; with several notes "
        "their average weighted by note amount, rounded half-up to two decimals.",
    )
    lenme_fee = MoneyField(positive=False)
    total_loan_amount = MoneyField(help_text="amount + lenme_fee: what the lenders pay together.")
    monthly_payment_amount = MoneyField(
        allow_null=True, help_text="Installment 1's amount (the notes' rows 1 summed); null until offers are accepted."
    )
    principal_outstanding = serializers.SerializerMethodField(
        help_text="(v2) The principal of the unpaid installments (the sum of its notes'); 0.00 before funding "
        "and once COMPLETED."
    )
    days_past_due = serializers.SerializerMethodField(
        help_text="(v2) Days from the due date of the oldest unpaid installment due before today (0.00 "
        "installments never count) to today; 0 when none. Set by the sweep as of its day and by every payment "
        "as of the payment's day. For the borrower and the loan's lenders; null for anyone else."
    )
    delinquency = serializers.SerializerMethodField(
        help_text="(v2) The bucket of days_past_due: current (0), grace (1-15), late_16_30, late_31_120, default "
        "(121+). For the borrower and the loan's lenders; null for anyone else."
    )
    closed_reason = serializers.SerializerMethodField(
        help_text="(v2) Why a COMPLETED loan closed: `repaid` (its last installment was paid) or `prepaid` (paid off "
        "early); null in every other state."
    )
    defaulted_at = serializers.SerializerMethodField(
        help_text="(v2) When the loan was charged off (FUNDED -> DEFAULTED at LENME_CHARGE_OFF_DAYS days past due, "
        "default 120); null before. For the borrower and the loan's lenders; null for anyone else."
    )

    class Meta:
        model = Loan
        fields = [
            "id", "borrower", "lender", "lenders", "amount", "term_months", "interest_rate", "lenme_fee",
            "total_loan_amount", "monthly_payment_amount", "principal_outstanding", "status", "closed_reason",
            "autopay",
            "days_past_due", "delinquency", "created_at", "accepted_at", "funded_at", "completed_at", "defaulted_at",
        ]  # fmt: skip
        read_only_fields = fields

    def _is_party(self, loan: Loan) -> bool:
        """(v2) Delinquency is the borrower's and the lenders' business; without a request we show nothing."""
        request = self.context.get("request")
        return request is not None and policies.may_see_schedule(loan, request.user)

    @extend_schema_field(serializers.ChoiceField(choices=ClosedReason.choices, allow_null=True))
    def get_closed_reason(self, loan: Loan) -> str | None:
        return loan.closed_reason or None

    @extend_schema_field(serializers.IntegerField(allow_null=True, min_value=0))
    def get_days_past_due(self, loan: Loan) -> int | None:
        return loan.days_past_due if self._is_party(loan) else None

    @extend_schema_field(serializers.ChoiceField(choices=BUCKETS, allow_null=True))
    def get_delinquency(self, loan: Loan) -> str | None:
        return loan.delinquency if self._is_party(loan) else None

    @extend_schema_field(serializers.DateTimeField(allow_null=True))
    def get_defaulted_at(self, loan: Loan) -> str | None:
        if loan.defaulted_at is None or not self._is_party(loan):
            return None
        return serializers.DateTimeField().to_representation(loan.defaulted_at)

    @extend_schema_field(MoneyField(positive=False))
    def get_principal_outstanding(self, loan: Loan) -> str:
        if loan.funded_at is None or loan.status == LoanStatus.COMPLETED:
            return f"{ZERO}"
        value = getattr(loan, "principal_outstanding_sum", None)
        if value is None:
            schedule = getattr(loan, "schedule", None)
            if schedule:
                value = sum((p.principal for p in schedule if not p.paid), ZERO)
            else:
                value = loan.payments.filter(paid=False).aggregate(total=Sum("principal"))["total"]
        return f"{(value or ZERO):.2f}"


class LoanDetailSerializer(LoanSerializer):
    payments = serializers.SerializerMethodField()

    class Meta(LoanSerializer.Meta):
        fields = [*LoanSerializer.Meta.fields, "payments"]
        read_only_fields = fields

    @extend_schema_field(PaymentSerializer(many=True))
    def get_payments(self, loan: Loan) -> list[dict]:
        rows = getattr(loan, "schedule", None)
        if rows is None:
            rows = loan.payments.all()
        for row in rows:
            row.loan = loan
        return PaymentSerializer(rows, many=True).data


class OfferSerializer(serializers.ModelSerializer):
    interest_rate = RateField()
    amount = MoneyField(help_text="(v2) How much of the loan the offer funds, as offered.")
    filled_amount = MoneyField(
        allow_null=True,
        help_text="(v2) What accept filled of `amount` (the last filled offer may be filled in "
        "part); null until accepted.",
    )
    fee = MoneyField(
        positive=False,
        allow_null=True,
        help_text="(v2) This offer's share of `lenme_fee` (largest remainder); null until accepted.",
    )
    reserved_amount = MoneyField(
        positive=False,
        help_text="What the offer holds of the lender's balance now: amount + fee hold (lenme_fee * amount / "
        "loan amount rounded up) while PENDING, filled_amount + fee once ACCEPTED, 0.00 once released or spent.",
    )

    class Meta:
        model = Offer
        fields = [
            "id", "loan", "lender", "interest_rate", "amount", "filled_amount", "fee", "reserved_amount", "status",
            "funded_at", "created_at",
        ]  # fmt: skip
        read_only_fields = fields


class NoteRowSerializer(serializers.ModelSerializer):
    due_date = serializers.DateField()
    amount = MoneyField(positive=False)
    principal = MoneyField(positive=False)
    interest = MoneyField(positive=False)
    late_fee = MoneyField(positive=False, help_text="The note's share of the installment's late fee, once paid.")
    paid = serializers.BooleanField(source="payment.paid")
    status = serializers.SerializerMethodField()

    class Meta:
        model = NotePayment
        fields = ["number", "due_date", "amount", "principal", "interest", "late_fee", "paid", "status"]
        read_only_fields = fields

    @extend_schema_field(serializers.ChoiceField(choices=PaymentStatus.choices))
    def get_status(self, row: NotePayment) -> str:
        return row.payment.status


def _money_or_zero(value) -> str:
    return f"{(value or ZERO):.2f}"


class NoteSerializer(serializers.ModelSerializer):
    amount = MoneyField(help_text="The offer's filled_amount.")
    interest_rate = RateField()
    fee = MoneyField(positive=False)
    principal_outstanding = serializers.SerializerMethodField(help_text="The principal of its unpaid rows.")
    principal_repaid = serializers.SerializerMethodField()
    interest_received = serializers.SerializerMethodField()
    late_fees_received = serializers.SerializerMethodField()
    charged_off_principal = MoneyField(
        positive=False,
        help_text="(v2) Its principal outstanding when its loan was charged off; 0.00 if never; kept once REPAID.",
    )
    recoveries = serializers.SerializerMethodField(
        help_text="(v2) What it received (ledger rows to its lender) after its loan was charged off; those receipts "
        "also count in principal_repaid, interest_received and late_fees_received by their parts."
    )

    class Meta:
        model = Note
        fields = [
            "id", "loan", "lender", "offer", "amount", "interest_rate", "fee", "status", "principal_outstanding",
            "principal_repaid", "interest_received", "late_fees_received", "charged_off_principal", "recoveries",
            "funded_at",
        ]  # fmt: skip
        read_only_fields = fields

    @extend_schema_field(MoneyField(positive=False))
    def get_principal_outstanding(self, note: Note) -> str:
        return _money_or_zero(None if note.status == NoteStatus.REPAID else note.unpaid_principal)

    @extend_schema_field(MoneyField(positive=False))
    def get_principal_repaid(self, note: Note) -> str:
        return _money_or_zero(note.paid_principal)

    @extend_schema_field(MoneyField(positive=False))
    def get_interest_received(self, note: Note) -> str:
        return _money_or_zero(note.paid_interest)

    @extend_schema_field(MoneyField(positive=False))
    def get_late_fees_received(self, note: Note) -> str:
        return _money_or_zero(note.paid_late_fees)

    @extend_schema_field(MoneyField(positive=False))
    def get_recoveries(self, note: Note) -> str:
        return _money_or_zero(getattr(note, "recovered", None))


class NoteDetailSerializer(NoteSerializer):
    payments = serializers.SerializerMethodField()

    class Meta(NoteSerializer.Meta):
        fields = [*NoteSerializer.Meta.fields, "payments"]
        read_only_fields = fields

    @extend_schema_field(NoteRowSerializer(many=True))
    def get_payments(self, note: Note) -> list[dict]:
        return NoteRowSerializer(note.schedule, many=True).data


class NoteListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=NoteStatus.choices, required=False)


class PayoffQuerySerializer(serializers.Serializer):
    as_of = QueryDateField(required=False, help_text="The day to quote for, YYYY-MM-DD; today (UTC) when left out.")


class PayoffQuoteSerializer(serializers.Serializer):
    loan = serializers.IntegerField()
    as_of = serializers.DateField()
    due_installments = serializers.ListField(
        child=serializers.IntegerField(), help_text="The unpaid installments due on or before as_of, in order."
    )
    due_amount = MoneyField(positive=False, help_text="Their amount + late_fee, counting the fees they owe by as_of.")
    principal_outstanding = MoneyField(positive=False, help_text="The principal of rows j+1..n.")
    accrued_interest = MoneyField(
        positive=False,
        help_text="The sum over notes of round(B * rate / 1200 * d / D): the part of the current period that has run.",
    )
    total = MoneyField(positive=False, help_text="due_amount + principal_outstanding + accrued_interest.")


class PayoffSerializer(serializers.Serializer):
    total = MoneyField(
        required=False,
        help_text="The quote's total you expect to pay (from GET .../payoff/); if the payoff due now differs: 409 "
        "quote_changed. Like every input amount it must be above 0 (else 400): when the quote's total is 0.00 "
        "(every unpaid installment is 0.00 after prepayments), leave `total` out.",
    )


class PrepaySerializer(serializers.Serializer):
    amount = MoneyField(
        min_value=Decimal("0.01"), help_text="Extra principal, 0.01 to less than the principal outstanding."
    )


class QuoteQuerySerializer(serializers.Serializer):
    amount = MoneyField(**LOAN_AMOUNT)
    term_months = QueryIntegerField(min_value=1, max_value=360)
    interest_rate = RateField()

    def validate(self, attrs: dict) -> dict:
        return LoanCreateSerializer.validate(self, attrs)


class QuoteRowSerializer(serializers.Serializer):
    number = serializers.IntegerField()
    amount = MoneyField()
    principal = MoneyField(positive=False)
    interest = MoneyField(positive=False)


class QuoteSerializer(serializers.Serializer):
    amount = MoneyField()
    term_months = serializers.IntegerField()
    interest_rate = RateField()
    lenme_fee = MoneyField(positive=False)
    monthly_payment_amount = MoneyField()
    total_repayment = MoneyField()
    total_interest = MoneyField(positive=False)
    payments = QuoteRowSerializer(many=True)


class LoanListQuerySerializer(serializers.Serializer):
    status = serializers.ChoiceField(choices=LoanStatus.choices, required=False)
    role = serializers.ChoiceField(choices=["borrower", "lender"], required=False)


class AvailableQuerySerializer(serializers.Serializer):
    min_amount = MoneyField(required=False, positive=False, min_value=Decimal("0"))
    max_amount = MoneyField(required=False, positive=False, min_value=Decimal("0"))
    term_months = QueryIntegerField(required=False, min_value=1, max_value=360)
    ordering = serializers.ChoiceField(
        choices=["created_at", "-created_at", "amount", "-amount"], required=False, default="-created_at"
    )


class NotificationSerializer(serializers.ModelSerializer):
    class Meta:
        model = Notification
        fields = ["id", "kind", "message", "loan", "read", "created_at"]
        read_only_fields = fields


# Portfolio (v2) -------------------------------------------------------------------------------------


class NoteCountsSerializer(serializers.Serializer):
    ACTIVE = serializers.IntegerField(min_value=0)
    REPAID = serializers.IntegerField(min_value=0)
    CHARGED_OFF = serializers.IntegerField(min_value=0)


class PortfolioLenderSerializer(serializers.Serializer):
    notes = NoteCountsSerializer(help_text="The caller's notes counted by status (every status, 0 when none).")
    principal_invested = MoneyField(positive=False, help_text="The sum of their notes' `amount`.")
    principal_outstanding = MoneyField(positive=False, help_text="The principal of their ACTIVE notes' unpaid rows.")
    principal_repaid = MoneyField(positive=False, help_text="Principal received (paid rows), on every note.")
    interest_received = MoneyField(positive=False, help_text="Interest received (paid rows), on every note.")
    late_fees_received = MoneyField(positive=False, help_text="Their notes' shares of late fees received.")
    fees_paid = MoneyField(positive=False, help_text="The sum of their notes' `fee` (Lenme's fee they paid).")
    charged_off_principal = MoneyField(positive=False, help_text="Summed over their notes.")
    recoveries = MoneyField(
        positive=False, help_text="What their notes received after their loans were charged off (ledger rows)."
    )
    held_in_offers = MoneyField(positive=False, help_text="Their `reserved_balance`: held by live offers.")
    weighted_average_rate = RateField(
        allow_null=True,
        help_text="The average rate of their ACTIVE notes weighted by principal outstanding, computed exactly and "
        "rounded half-up to two decimals; null when they have none (or none with principal outstanding).",
    )


class NextPaymentSerializer(serializers.Serializer):
    loan = serializers.IntegerField()
    number = serializers.IntegerField()
    due_date = serializers.DateField()
    amount = MoneyField(positive=False, help_text="The installment's amount plus its late fee.")


class PortfolioBorrowerSerializer(serializers.Serializer):
    loans = serializers.DictField(
        child=serializers.IntegerField(min_value=1),
        help_text="The caller's loans counted by status; statuses with none are left out.",
    )
    principal_outstanding = MoneyField(
        positive=False, help_text="The principal of the unpaid installments of their FUNDED and DEFAULTED loans."
    )
    total_repaid = MoneyField(
        positive=False, help_text="Every amount they paid on loans (repayment, prepayment and payoff ledger rows)."
    )
    next_payment = NextPaymentSerializer(
        allow_null=True,
        help_text="Their unpaid installment (of a FUNDED or DEFAULTED loan) with the earliest due date (ties: lower "
        "loan id, then number), or null.",
    )


class PortfolioSerializer(serializers.Serializer):
    lender = PortfolioLenderSerializer()
    borrower = PortfolioBorrowerSerializer()
