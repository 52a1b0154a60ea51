"""Input and output shapes of the lending endpoints."""

from decimal import Decimal

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from lenme.api.fields import MoneyField, QueryIntegerField, RateField, StrictBooleanField, StrictIntegerField
from loans.models import Loan, LoanStatus, Notification, Offer, Payment

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


class AcceptSerializer(serializers.Serializer):
    offer_id = StrictIntegerField(
        required=False, min_value=1, help_text="Default: the best PENDING offer (lowest rate, then oldest)."
    )


class AutopaySerializer(serializers.Serializer):
    enabled = StrictBooleanField()


class PaymentSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    principal = MoneyField()
    interest = MoneyField()
    late_fee = MoneyField()
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
            "loan_status",
        ]
        read_only_fields = fields


class LoanSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    interest_rate = RateField(
        allow_null=True, help_text="The requested maximum until an offer is accepted, then the accepted rate."
    )
    lenme_fee = MoneyField(positive=False)
    total_loan_amount = MoneyField(help_text="amount + lenme_fee: what the lender pays.")
    monthly_payment_amount = MoneyField(allow_null=True, help_text="Row 1's payment; null until an offer is accepted.")

    class Meta:
        model = Loan
        fields = [
            "id", "borrower", "lender", "amount", "term_months", "interest_rate", "lenme_fee", "total_loan_amount",
            "monthly_payment_amount", "status", "autopay", "created_at", "accepted_at", "funded_at", "completed_at",
        ]  # fmt: skip
        read_only_fields = fields


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
    reserved_amount = MoneyField(positive=False, help_text="What the offer holds of the lender's balance now.")

    class Meta:
        model = Offer
        fields = ["id", "loan", "lender", "interest_rate", "reserved_amount", "status", "created_at"]
        read_only_fields = fields


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
