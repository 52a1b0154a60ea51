"""Writes for accounts: registration, tokens, deposits, withdrawals, and the ledger helpers every
money step uses to save balances together with their Transaction rows."""

import functools
from collections.abc import Iterable
from decimal import Decimal

from django.conf import settings
from django.contrib.auth import authenticate, get_user_model, password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from accounts.models import AuthToken, Profile, Transaction, TransactionKind
from accounts.tokens import token_issue
from lenme.db import atomic_retry, insert_sql, mark_saved, statement_retry, write_batch
from lenme.errors import InsufficientFunds, InvalidState, ValidationFailed
from lenme.locks import lock_profiles
from lenme.money import MAX_BALANCE

User = get_user_model()


def ledger_entry(
    *,
    kind: str,
    amount: Decimal,
    from_profile: Profile | None = None,
    to_profile: Profile | None = None,
    loan=None,
    payment=None,
    loan_note=None,
    note: str = "",
) -> Transaction:
    """An unsaved ledger row; the caller saves it with profiles_save in the same transaction."""
    return Transaction(
        kind=kind,
        amount=amount,
        from_user_id=from_profile.user_id if from_profile else None,
        to_user_id=to_profile.user_id if to_profile else None,
        loan=loan,
        payment=payment,
        loan_note=loan_note,
        note=note,
    )


def ledger_transfer(
    *,
    kind: str,
    amount: Decimal,
    from_profile: Profile,
    to_profile: Profile,
    loan=None,
    payment=None,
    loan_note=None,
    note: str = "",
) -> Transaction:
    """Move amount between two locked profiles and return its unsaved ledger row (see profiles_save)."""
    from_profile.transfer_funds(amount, to_profile)
    return ledger_entry(
        kind=kind,
        amount=amount,
        from_profile=from_profile,
        to_profile=to_profile,
        loan=loan,
        payment=payment,
        loan_note=loan_note,
        note=note,
    )


def profiles_save(profiles: Iterable[Profile], entries: Iterable[Transaction] = (), *, batch=None) -> None:
    """Write changed balances and their ledger rows: one UPDATE and one INSERT whatever the count (on
    PostgreSQL one statement, or parts of the step's lenme.db.WriteBatch when given one)."""
    profiles = list({p.pk: p for p in profiles}.values())
    for profile in profiles:
        if profile.balance > MAX_BALANCE:
            raise InvalidState(f"This would take a balance above {MAX_BALANCE}.")
        profile.updated_at = timezone.now()
    entries = list(entries)
    if connection.vendor == "postgresql" and profiles:
        _profiles_save_one_statement(profiles, entries, batch)
        return
    if len(profiles) == 1:
        profiles[0].save(update_fields=["balance", "reserved_balance", "updated_at"])
    elif profiles:
        Profile.objects.bulk_update(profiles, ["balance", "reserved_balance", "updated_at"])
    if entries:
        Transaction.objects.bulk_create(entries)


def _profiles_save_one_statement(profiles: list[Profile], entries: list[Transaction], batch) -> None:
    """PostgreSQL: the balances (UPDATE ... FROM VALUES, one row per profile) and the ledger rows in
    one statement, written without the ORM's per-row CASE expressions."""
    table = Profile._meta.db_table
    values = ", ".join(["(%s, %s::numeric, %s::numeric, %s::timestamptz)"] * len(profiles))
    params: list = []
    for p in profiles:
        params += [p.pk, p.balance, p.reserved_balance, p.updated_at]
    update = (
        f"UPDATE {table} AS p SET balance = v.balance, reserved_balance = v.reserved_balance, "  # noqa: S608
        f"updated_at = v.updated_at FROM (VALUES {values}) AS v(id, balance, reserved_balance, updated_at) "
        "WHERE p.id = v.id"
    )
    with write_batch(batch) as parts:
        parts.add(f"{update} RETURNING p.id", params)
        if entries:
            insert, insert_params = insert_sql(entries)
            parts.add(insert, insert_params, then=functools.partial(mark_saved, entries))


def platform_user():
    """The fee account: a user that exists for the ledger only and cannot log in."""
    user, created = User.objects.get_or_create(username=settings.LENME_PLATFORM_USERNAME, defaults={"is_active": False})
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def user_register(*, username: str, password: str, email: str = "") -> tuple[object, str]:
    """The new user and the key of its first token."""
    # NFKC first, as create_user will: "ＬＥＮＭＥ" is stored as "LENME", so it must be checked as such.
    username = User.normalize_username(username)
    errors = []
    if (
        username.lower() == settings.LENME_PLATFORM_USERNAME.lower()
        or User.objects.filter(username__iexact=username).exists()
    ):
        errors.append({"field": "username", "code": "unique", "detail": "A user with that username already exists."})
    try:
        password_validation.validate_password(password, user=User(username=username, email=email))
    except DjangoValidationError as exc:
        errors += [{"field": "password", "code": "invalid", "detail": message} for message in exc.messages]
    if errors:
        raise ValidationFailed(" ".join(e["detail"] for e in errors), errors=errors)
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, email=email, password=password)
            token = token_issue(user=user)
    except IntegrityError as exc:  # lost a race for the same username
        raise ValidationFailed.field("username", "A user with that username already exists.", "unique") from exc
    return user, token


def token_obtain(*, username: str, password: str) -> str:
    """A new token key for these credentials (only digests are stored, so an old key cannot be re-sent)."""
    user = authenticate(username=User.normalize_username(username), password=password)  # as registered
    if user is None or user.username == settings.LENME_PLATFORM_USERNAME:
        raise ValidationFailed.field(None, "Unable to log in with the provided credentials.", "authorization")
    return token_issue(user=user)


def token_revoke(*, token: AuthToken) -> None:
    """Logout: this token stops working at once (the user's other tokens are untouched)."""
    AuthToken.objects.filter(pk=token.pk).delete()


def password_change(*, user, old_password: str, new_password: str) -> str:
    """Change the password, revoke every earlier token of the user, and return a new token key."""
    if not user.check_password(old_password):
        raise ValidationFailed.field("old_password", "The old password is not correct.", "invalid")
    try:
        password_validation.validate_password(new_password, user=user)
    except DjangoValidationError as exc:
        errors = [{"field": "new_password", "code": "invalid", "detail": message} for message in exc.messages]
        raise ValidationFailed(" ".join(e["detail"] for e in errors), errors=errors) from exc
    with transaction.atomic():
        locked = User.objects.select_for_update().get(pk=user.pk)
        locked.set_password(new_password)
        locked.save(update_fields=["password"])
        AuthToken.objects.filter(user_id=user.pk).delete()
        return token_issue(user=locked)


def profile_credit(*, user, amount: Decimal, kind: str) -> Profile | None:
    """Add amount to the user's balance and write its ledger row, or None if that would pass MAX_BALANCE.

    On PostgreSQL one statement, atomic by itself: an UPDATE ... RETURNING that row-locks the profile
    (re-checking the bound on the row it locked) and the ledger INSERT fed by it, so the balance and
    its Transaction row are written together or not at all. Elsewhere the locked ORM steps.
    """
    if connection.vendor != "postgresql":
        with transaction.atomic():
            profile = lock_profiles([user.pk])[user.pk]
            if profile.balance + amount > MAX_BALANCE:
                return None
            profile.balance += amount
            profiles_save([profile], [ledger_entry(kind=kind, amount=amount, to_profile=profile)])
            return profile
    now = timezone.now()
    profile_table, ledger_table = Profile._meta.db_table, Transaction._meta.db_table
    sql = (
        f"WITH credited AS (UPDATE {profile_table} SET balance = balance + %s, updated_at = %s "  # noqa: S608
        "WHERE user_id = %s AND balance + %s <= %s RETURNING id, balance, reserved_balance), "
        f"entry AS (INSERT INTO {ledger_table} "
        "(kind, from_user_id, to_user_id, amount, loan_id, payment_id, note, created_at) "
        "SELECT %s, NULL, %s, %s, NULL, NULL, '', %s FROM credited RETURNING id) "
        "SELECT credited.id, credited.balance, credited.reserved_balance, (SELECT count(*) FROM entry) "
        "FROM credited"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [amount, now, user.pk, amount, MAX_BALANCE, kind, user.pk, amount, now])
        row = cursor.fetchone()
    if row is None:
        return None
    pk, balance, reserved, entries = row
    if entries != 1:  # pragma: no cover - the INSERT runs once per credited row, by construction
        raise AssertionError("a credit without its ledger row")
    return Profile(pk=pk, user=user, balance=balance, reserved_balance=reserved, updated_at=now)


@statement_retry
def account_deposit(*, user, amount: Decimal) -> Profile:
    profile = profile_credit(user=user, amount=amount, kind=TransactionKind.DEPOSIT)
    if profile is None:
        raise ValidationFailed.field(
            "amount", f"This deposit would take your balance above {MAX_BALANCE}.", "max_balance"
        )
    return profile


@atomic_retry
def account_withdraw(*, user, amount: Decimal) -> Profile:
    profile = lock_profiles([user.pk])[user.pk]
    if not profile.has_sufficient_funds(amount):
        raise InsufficientFunds(f"Your available balance is {profile.available_balance():.2f}.")
    profile.balance -= amount
    profiles_save([profile], [ledger_entry(kind=TransactionKind.WITHDRAWAL, amount=amount, from_profile=profile)])
    return profile
