"""Input and output shapes of the accounts endpoints."""

from decimal import Decimal

from django.contrib.auth.validators import UnicodeUsernameValidator
from rest_framework import serializers

from accounts.models import Profile, Transaction
from lenme.api.fields import MoneyField, StrictCharField


class RegisterInputSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150, validators=[UnicodeUsernameValidator()])
    password = StrictCharField(max_length=128, trim_whitespace=False, write_only=True)
    email = serializers.EmailField(required=False, allow_blank=True, default="", max_length=254)  # User.email

    def validate_email(self, value: object) -> str:
        return value or ""


class RegisterOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    username = serializers.CharField()
    email = serializers.CharField()
    token = serializers.CharField()


class TokenInputSerializer(serializers.Serializer):
    username = StrictCharField(max_length=150)
    password = StrictCharField(max_length=128, trim_whitespace=False)


class PasswordChangeInputSerializer(serializers.Serializer):
    old_password = StrictCharField(max_length=128, trim_whitespace=False)
    new_password = StrictCharField(max_length=128, trim_whitespace=False)


class TokenOutputSerializer(serializers.Serializer):
    token = serializers.CharField()


class AmountInputSerializer(serializers.Serializer):
    reusable = True  # no context: lenme.api.represent.valid_data may validate with one shared instance
    amount = MoneyField(min_value=Decimal("0.01"), max_value=Decimal("100000000.00"))


class AccountSerializer(serializers.ModelSerializer):
    id = serializers.IntegerField(source="user_id")
    username = serializers.CharField(source="user.username")
    balance = MoneyField()
    reserved_balance = MoneyField()
    available_balance = MoneyField()

    class Meta:
        model = Profile
        fields = ["id", "username", "balance", "reserved_balance", "available_balance"]


class TransactionSerializer(serializers.ModelSerializer):
    amount = MoneyField()
    note = serializers.CharField(help_text="A text memo.")
    note_id = serializers.IntegerField(
        source="loan_note_id",
        allow_null=True,
        help_text="(v2) The Note this row funds, charges the fee of, or repays; null for deposits and withdrawals.",
    )

    class Meta:
        model = Transaction
        fields = ["id", "kind", "from_user", "to_user", "amount", "loan", "note", "note_id", "payment", "created_at"]
        read_only_fields = fields
