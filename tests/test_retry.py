"""Deadlocks, serialization failures and a busy SQLite database are retried as a whole transaction a
bounded number of times, then answered 409 `conflict`: never a 500, and money moves at most once."""

from decimal import Decimal

import psycopg
import pytest
from django.db import OperationalError, transaction

from accounts.models import IdempotencyRecord, Profile, Transaction
from lenme.db import atomic_retry, is_retryable
from tests import factories
from tests.conftest import client_for

# The retry lives in the outermost transaction, so these tests must not run inside the test's own.
outside_the_test_transaction = pytest.mark.django_db(transaction=True)


def db_error(cause: psycopg.Error | None = None, message: str = "") -> OperationalError:
    """An OperationalError as Django raises it: the driver's error is its __cause__."""
    try:
        try:
            if cause is not None:
                raise cause
            raise OperationalError(message)
        except psycopg.Error as exc:
            raise OperationalError(str(exc)) from exc
    except OperationalError as wrapped:
        return wrapped


def deadlock() -> OperationalError:
    return db_error(psycopg.errors.DeadlockDetected("deadlock detected"))


def failing(real, errors: list[OperationalError]):
    """Wrap real so that it raises the given errors first, one per call, then behaves."""
    calls = {"n": 0}

    def wrapper(*args, **kwargs):
        calls["n"] += 1
        if errors:
            raise errors.pop(0)
        return real(*args, **kwargs)

    wrapper.calls = calls
    return wrapper


@pytest.fixture
def user(settings):
    settings.LENME_DB_RETRIES = 4
    return factories.UserFactory(username="retried")


def balance(user) -> Decimal:
    return Profile.objects.get(user=user).balance


@outside_the_test_transaction
@pytest.mark.parametrize("key", [None, "retry-key"], ids=["no key", "with Idempotency-Key"])
def test_deposit_succeeds_after_two_deadlocks(user, monkeypatch, key):
    from accounts import services

    patched = failing(services.profile_credit, [deadlock(), deadlock()])
    monkeypatch.setattr(services, "profile_credit", patched)
    extra = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}

    reply = client_for(user).post("/api/accounts/deposit/", {"amount": "25.00"}, format="json", **extra)

    assert reply.status_code == 200, reply.content
    assert reply.json()["balance"] == "25.00"
    assert patched.calls["n"] == 3
    assert balance(user) == Decimal("25.00")
    assert Transaction.objects.filter(kind="deposit", to_user=user).count() == 1
    if key:
        assert IdempotencyRecord.objects.get(key=key).response_status == 200


@outside_the_test_transaction
def test_fund_succeeds_after_a_deadlock_and_moves_the_money_once(monkeypatch, settings):
    from accounts.services import platform_user
    from loans.services import notes as services

    settings.LENME_DB_RETRIES = 4
    platform_user()  # a transactional test's flush removed the fee account; fund would recreate it
    borrower = factories.UserFactory(username="b")
    lender = factories.UserFactory(username="l", balance=Decimal("500.00"))
    borrower_api, lender_api = client_for(borrower), client_for(lender)
    loan = borrower_api.post("/api/loans/", {"amount": "300.00", "term_months": 3}, format="json").json()
    lender_api.post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": "9.00"}, format="json")
    assert borrower_api.post(f"/api/loans/{loan['id']}/accept/", {}, format="json").status_code == 200
    patched = failing(services.lock_profiles, [deadlock()])
    monkeypatch.setattr(services, "lock_profiles", patched)

    reply = lender_api.post(f"/api/loans/{loan['id']}/fund/", format="json", HTTP_IDEMPOTENCY_KEY="fund")

    assert reply.status_code == 200 and reply.json()["status"] == "FUNDED"
    assert patched.calls["n"] == 2
    assert balance(borrower) == Decimal("300.00") and balance(lender) == Decimal("196.25")
    assert Transaction.objects.filter(kind="funding").count() == 1


@outside_the_test_transaction
def test_after_the_bound_the_answer_is_409_conflict_and_nothing_moved(user, monkeypatch):
    from accounts import services

    patched = failing(services.profile_credit, [deadlock() for _ in range(10)])
    monkeypatch.setattr(services, "profile_credit", patched)

    reply = client_for(user).post("/api/accounts/deposit/", {"amount": "25.00"}, format="json")

    assert reply.status_code == 409
    assert reply["Content-Type"] == "application/problem+json"
    assert reply.json()["code"] == "conflict"
    assert patched.calls["n"] == 4  # LENME_DB_RETRIES attempts, then give up
    assert balance(user) == Decimal("0.00")
    assert not Transaction.objects.exists()


@outside_the_test_transaction
def test_a_lost_race_frees_the_idempotency_key_so_the_retry_executes(user, monkeypatch):
    from accounts import services

    real = services.profile_credit
    monkeypatch.setattr(services, "profile_credit", failing(real, [deadlock() for _ in range(4)]))
    client = client_for(user)

    lost = client.post("/api/accounts/deposit/", {"amount": "25.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k")
    retried = client.post("/api/accounts/deposit/", {"amount": "25.00"}, format="json", HTTP_IDEMPOTENCY_KEY="k")

    assert lost.status_code == 409 and lost.json()["code"] == "conflict"
    assert retried.status_code == 200 and "Idempotent-Replayed" not in retried
    assert balance(user) == Decimal("25.00")


@outside_the_test_transaction
def test_sqlite_database_is_locked_is_retried(user, monkeypatch):
    from accounts import services

    patched = failing(services.lock_profiles, [db_error(message="database is locked")])
    monkeypatch.setattr(services, "lock_profiles", patched)

    reply = client_for(user).post("/api/accounts/withdraw/", {"amount": "1.00"}, format="json")

    # Retried, then refused for the real reason: the user has no money.
    assert reply.status_code == 409 and reply.json()["code"] == "insufficient_funds"
    assert patched.calls["n"] == 2


@outside_the_test_transaction
def test_sqlite_database_is_locked_gives_409_conflict_after_the_bound(user, monkeypatch):
    from accounts import services

    locked = [db_error(message="database is locked") for _ in range(10)]
    monkeypatch.setattr(services, "profile_credit", failing(services.profile_credit, locked))

    reply = client_for(user).post("/api/accounts/deposit/", {"amount": "1.00"}, format="json")

    assert reply.status_code == 409 and reply.json()["code"] == "conflict"
    assert balance(user) == Decimal("0.00")


@outside_the_test_transaction
def test_other_database_errors_are_not_retried(settings):
    settings.LENME_DB_RETRIES = 4
    calls = {"n": 0}

    @atomic_retry
    def broken():
        calls["n"] += 1
        raise db_error(psycopg.errors.UndefinedTable("no such table"))

    with pytest.raises(OperationalError):
        broken()
    assert calls["n"] == 1


@outside_the_test_transaction
def test_a_nested_step_is_retried_by_the_outermost_transaction(settings):
    settings.LENME_DB_RETRIES = 4
    errors = [deadlock()]
    calls = {"outer": 0, "inner": 0}

    @atomic_retry
    def inner():
        calls["inner"] += 1
        assert transaction.get_connection().in_atomic_block
        if errors:
            raise errors.pop()
        return "done"

    @atomic_retry
    def outer():
        calls["outer"] += 1
        return inner()

    assert outer() == "done"
    assert calls == {"outer": 2, "inner": 2}


@pytest.mark.parametrize(
    "error, retryable",
    [
        (psycopg.errors.DeadlockDetected("deadlock"), True),
        (psycopg.errors.SerializationFailure("could not serialize"), True),
        (psycopg.errors.LockNotAvailable("lock timeout"), True),
        (psycopg.errors.UniqueViolation("duplicate key"), False),
        (psycopg.errors.UndefinedTable("no such table"), False),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, Exception) else str(v),
)
def test_which_errors_are_retryable(error, retryable):
    assert is_retryable(db_error(error)) is retryable


@outside_the_test_transaction
def test_an_error_after_the_commit_is_never_retried(settings):
    """A hook that runs after the commit (notifications) fails: the money step must not run twice."""
    settings.LENME_DB_RETRIES = 4
    calls = {"n": 0}

    def hook_failure():
        raise deadlock()

    @atomic_retry
    def step():
        calls["n"] += 1
        transaction.on_commit(hook_failure)

    with pytest.raises(OperationalError):
        step()
    assert calls["n"] == 1
