"""Profiles with their balances, the immutable ledger of money moves, and idempotency records."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from lenme.money import MAX_BALANCE, MONEY, ZERO


class Profile(models.Model):
    """A user's money: balance held, and the part of it reserved for live offers.

    The methods change the in-memory row only; services call them on rows they locked and save them
    together with the matching Transaction rows (see accounts.services).
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="profile")
    balance = models.DecimalField(**MONEY, default=ZERO)
    reserved_balance = models.DecimalField(**MONEY, default=ZERO)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(balance__gte=0), name="profile_balance_non_negative"),
            models.CheckConstraint(condition=Q(balance__lte=MAX_BALANCE), name="profile_balance_max"),
            models.CheckConstraint(condition=Q(reserved_balance__gte=0), name="profile_reserved_non_negative"),
            models.CheckConstraint(
                condition=Q(reserved_balance__lte=F("balance")), name="profile_reserved_within_balance"
            ),
        ]

    def __str__(self) -> str:
        return f"Profile of {self.user}"

    def available_balance(self) -> Decimal:
        return self.balance - self.reserved_balance

    def has_sufficient_funds(self, amount: Decimal) -> bool:
        return self.available_balance() >= amount

    def reserve_funds(self, amount: Decimal) -> None:
        from lenme.errors import InsufficientFunds

        if amount <= 0:
            raise ValueError("reserve a positive amount")
        if not self.has_sufficient_funds(amount):
            raise InsufficientFunds()
        self.reserved_balance += amount

    def release_funds(self, amount: Decimal) -> None:
        if amount < 0 or amount > self.reserved_balance:
            raise ValueError(f"cannot release {amount} of {self.reserved_balance} reserved")
        self.reserved_balance -= amount

    def transfer_funds(self, amount: Decimal, to_profile: "Profile", *, from_reserved: bool = False) -> None:
        """Move amount to to_profile, out of this profile's available balance or out of its hold."""
        from lenme.errors import InsufficientFunds

        if amount <= 0:
            raise ValueError("transfer a positive amount")
        if from_reserved:
            self.release_funds(amount)
        elif not self.has_sufficient_funds(amount):
            raise InsufficientFunds()
        self.balance -= amount
        to_profile.balance += amount


class TransactionKind(models.TextChoices):
    DEPOSIT = "deposit"
    WITHDRAWAL = "withdrawal"
    FUNDING = "funding"
    FEE = "fee"
    REPAYMENT = "repayment"
    PREPAYMENT = "prepayment"  # (v2) extra principal, borrower -> a note's lender
    PAYOFF = "payoff"  # (v2) a note's principal left plus accrued interest when the loan is paid off


class Transaction(models.Model):
    """One movement of money. Rows are written with the balance change and never updated or deleted."""

    kind = models.CharField(max_length=16, choices=TransactionKind.choices)
    from_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    to_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    amount = models.DecimalField(**MONEY)
    loan = models.ForeignKey("loans.Loan", null=True, blank=True, on_delete=models.PROTECT, related_name="transactions")
    payment = models.ForeignKey(
        "loans.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="transactions"
    )
    note = models.CharField(max_length=255, blank=True, default="")
    # The Note this row funds, charges the fee of, or repays (`note_id` in the API; `note` is the memo).
    loan_note = models.ForeignKey(
        "loans.Note", null=True, blank=True, on_delete=models.PROTECT, related_name="transactions", db_column="note_id"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["from_user", "-id"]), models.Index(fields=["to_user", "-id"])]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="transaction_amount_positive"),
            models.CheckConstraint(
                condition=Q(from_user__isnull=False) | Q(to_user__isnull=False), name="transaction_has_a_party"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.amount} #{self.pk}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise ValueError("ledger rows are immutable")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("ledger rows are immutable")


class IdempotencyRecord(models.Model):
    """The first response to a POST carrying an Idempotency-Key, kept 24 h for replays."""

    class State(models.TextChoices):
        IN_FLIGHT = "in_flight"
        DONE = "done"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_FLIGHT)
    locked_at = models.DateTimeField()
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.BinaryField(null=True, blank=True)
    response_content_type = models.CharField(max_length=100, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class AuthToken(models.Model):
    """An API token, kept only as the SHA-256 digest of its key (see accounts.tokens).

    The key is shown once, in the answer that issued it; neither a database read nor the admin can
    recover it. A user may hold several (one per sign-in); logout deletes one, a password change all.
    """

    digest = models.CharField(max_length=64, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="auth_tokens")
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"Token #{self.pk} of {self.user_id}"
