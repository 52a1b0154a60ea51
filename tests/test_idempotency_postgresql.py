"""PostgreSQL claims an Idempotency-Key inside the money step's own transaction (a session advisory
lock on user and key, and the IN_FLIGHT row): what that adds to the contract, and that the lock never
outlives its request, whichever way the request ends."""

import datetime
from decimal import Decimal

import psycopg
import pytest
from django.db import OperationalError, connection

from accounts import services
from accounts.models import IdempotencyRecord, Transaction
from lenme.api.idempotency import _lock_id
from tests import factories
from tests.conftest import client_for
from tests.test_idempotency import DEPOSIT, assert_replay, hold_first_request, money, post

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def advisory_locks_held() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()")
        return cursor.fetchone()[0]


def test_every_way_a_keyed_request_ends_gives_its_lock_back():
    user = factories.UserFactory()
    client = client_for(user)
    assert post(client, DEPOSIT, {"amount": "10.00"}, key="a").status_code == 200  # stored with the commit
    assert post(client, DEPOSIT, {"amount": "10.00"}, key="a").status_code == 200  # a replay
    assert post(client, DEPOSIT, {"amount": "11.00"}, key="a").status_code == 422  # reused
    assert post(client, "/api/accounts/withdraw/", {"amount": "999.00"}, key="b").status_code == 409  # 4xx stored
    assert post(client, DEPOSIT, {"amount": "0"}, key="c").status_code == 400  # not stored

    assert advisory_locks_held() == 0
    assert IdempotencyRecord.objects.filter(user=user, state="in_flight").count() == 0
    assert sorted(IdempotencyRecord.objects.filter(user=user).values_list("key", "response_status")) == [
        ("a", 200),
        ("b", 409),
    ]


def test_a_stored_4xx_replays_after_its_rollback():
    user = factories.UserFactory()
    first = post(client_for(user), "/api/accounts/withdraw/", {"amount": "5.00"}, key="w")
    assert first.status_code == 409 and first.json()["code"] == "insufficient_funds"
    factories.account_deposit(user=user, amount=Decimal("50.00"))

    again = post(client_for(user), "/api/accounts/withdraw/", {"amount": "5.00"}, key="w")

    assert_replay(first, again)  # the first answer, though the money is there now
    assert money(user)[0] == Decimal("50.00")


def test_a_deadlock_retry_claims_the_key_again_under_the_same_lock(monkeypatch):
    user = factories.UserFactory()
    real, calls = services.account_deposit, []

    class Deadlock(OperationalError):
        sqlstate = "40P01"

    def deadlocked_once(**kwargs):
        calls.append(1)
        if len(calls) == 1:
            raise Deadlock("deadlock detected")
        return real(**kwargs)

    monkeypatch.setattr(services, "account_deposit", deadlocked_once)
    reply = post(client_for(user), DEPOSIT, {"amount": "10.00"}, key="d")

    assert reply.status_code == 200 and len(calls) == 2
    assert advisory_locks_held() == 0
    assert Transaction.objects.filter(kind="deposit", to_user=user).count() == 1
    assert_replay(reply, post(client_for(user), DEPOSIT, {"amount": "10.00"}, key="d"))


def test_another_body_while_the_first_runs_is_409_in_flight_then_422(monkeypatch):
    user = factories.UserFactory()
    release, join = hold_first_request(monkeypatch, user, {"amount": "10.00"}, "k")
    try:
        meanwhile = post(client_for(user), DEPOSIT, {"amount": "99.00"}, key="k")
    finally:
        first = join()

    assert meanwhile.status_code == 409 and meanwhile.json()["code"] == "idempotency_in_flight"
    assert first.status_code == 200
    after = post(client_for(user), DEPOSIT, {"amount": "99.00"}, key="k")
    assert after.status_code == 422 and after.json()["code"] == "idempotency_key_reused"
    assert money(user)[0] == Decimal("10.00")


def test_a_first_request_whose_session_died_frees_its_key_at_once(monkeypatch):
    """Its claim was its transaction's: killed mid-step, nothing of it stays, and a retry executes
    without waiting out LENME_IDEMPOTENCY_LOCK_SECONDS."""
    user = factories.UserFactory()
    pid = {}

    def note_backend():
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_backend_pid()")
            pid["first"] = cursor.fetchone()[0]

    _, join = hold_first_request(monkeypatch, user, {"amount": "10.00"}, "dies", on_enter=note_backend)
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s, 5000)", [pid["first"]])
    assert isinstance(join(), Exception)  # its connection is gone: the test client raises what the server logs

    retry = post(client_for(user), DEPOSIT, {"amount": "10.00"}, key="dies")

    assert retry.status_code == 200 and "Idempotent-Replayed" not in retry
    assert money(user)[0] == Decimal("10.00")
    assert Transaction.objects.filter(kind="deposit", to_user=user).count() == 1


# Found by an HTTP review of the claim ------------------------------------------------------------------


def other_session():
    """A second session on the test database: what another worker's connection is."""
    params = connection.get_connection_params()
    return psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        password=params.get("password"),
        dbname=params["dbname"],
        autocommit=True,
    )


def test_a_repeat_of_a_finished_request_replays_while_another_repeat_is_being_answered():
    """Contract: 409 `idempotency_in_flight` is for a repeat "while the first is still executing".
    A repeat of a *finished* request takes the key's advisory lock for its two statements (claim,
    then read + unlock); a second repeat arriving meanwhile is refused 409 in flight, although the
    first finished long ago. Over HTTP, 40 simultaneous repeats of a request finished 0.2 s before
    got 62 of 200 answers 409 in flight (and different bodies 409 instead of 422). Here the other
    repeat's moment is frozen by holding the lock from another session."""
    user = factories.UserFactory()
    client = client_for(user)
    first = post(client, DEPOSIT, {"amount": "10.00"}, key="done")
    assert first.status_code == 200

    with other_session() as other:  # another repeat of "done", between its two statements
        assert other.execute("SELECT pg_try_advisory_lock(%s)", [_lock_id(user.pk, "done")]).fetchone()[0]
        again = post(client, DEPOSIT, {"amount": "10.00"}, key="done")
        reused = post(client, DEPOSIT, {"amount": "11.00"}, key="done")

    assert_replay(first, again)
    assert reused.status_code == 422 and reused.json()["code"] == "idempotency_key_reused"


def test_a_4xx_answered_to_an_expired_key_is_stored_and_replayed():
    """After LENME_IDEMPOTENCY_TTL a key is free again. begin() deletes the expired record inside the
    action's transaction; a 4xx rolls that delete back, and store_after_rollback's INSERT ... ON
    CONFLICT DO NOTHING then meets the old record and stores nothing, silently. The next repeat
    (within the new TTL) executes afresh instead of replaying the 409 (here: money moves)."""
    user = factories.UserFactory()
    client = client_for(user)
    assert post(client, "/api/accounts/withdraw/", {"amount": "5.00"}, key="old").status_code == 409
    IdempotencyRecord.objects.filter(user=user, key="old").update(
        created_at=datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=2)
    )

    refused = post(
        client, "/api/accounts/withdraw/", {"amount": "5.00"}, key="old"
    )  # a new request: the key had expired
    assert refused.status_code == 409 and refused.json()["code"] == "insufficient_funds"
    factories.account_deposit(user=user, amount=Decimal("50.00"))
    again = post(client, "/api/accounts/withdraw/", {"amount": "5.00"}, key="old")

    assert_replay(refused, again)
    assert money(user)[0] == Decimal("50.00")


def test_a_retry_after_the_claim_statement_failed_before_locking_takes_the_lock_again(monkeypatch):
    """begin() marks the lock held before its first statement runs ("if the statement fails, release()
    still unlocks"), and a retry then claims with `SELECT true` instead of pg_try_advisory_lock. When
    the statement failed before taking the lock (a lock_timeout while waiting for the table's lock,
    during a migration, VACUUM FULL or REINDEX; retried as 55P03), the step runs holding no lock: a
    duplicate is not refused at once but waits on the unique index, and may execute while the first
    is still running (seen over HTTP with PGOPTIONS='-c lock_timeout=200' and an ACCESS EXCLUSIVE lock
    on the table held for 300 ms: the later duplicate executed, the first got its replay)."""

    class LockTimeout(OperationalError):
        sqlstate = "55P03"

    user = factories.UserFactory()
    failed, held_during_step = [], []

    def lock_timeout_before_the_lock(execute, sql, params, many, context):
        if "pg_try_advisory_lock" in sql and not failed:
            failed.append(1)
            raise LockTimeout("canceling statement due to lock timeout")  # nothing of it ran
        return execute(sql, params, many, context)

    real = services.account_deposit

    def deposit(**kwargs):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted"
            )
            held_during_step.append(cursor.fetchone()[0])
        return real(**kwargs)

    monkeypatch.setattr(services, "account_deposit", deposit)
    with connection.execute_wrapper(lock_timeout_before_the_lock):
        reply = post(client_for(user), DEPOSIT, {"amount": "10.00"}, key="t")

    assert reply.status_code == 200 and failed == [1]
    assert held_during_step == [1]  # the money step runs under its key's lock


def test_an_error_while_storing_a_4xx_still_gives_the_lock_back(monkeypatch):
    from lenme.api.idempotency import TransactionClaim

    def broken(self, **kwargs):
        raise RuntimeError("the store failed")

    monkeypatch.setattr(TransactionClaim, "store_after_rollback", broken)
    user = factories.UserFactory()
    with pytest.raises(RuntimeError):
        post(client_for(user), "/api/accounts/withdraw/", {"amount": "5.00"}, key="x")

    assert advisory_locks_held() == 0
    monkeypatch.undo()
    retry = post(client_for(user), "/api/accounts/withdraw/", {"amount": "5.00"}, key="x")
    assert retry.status_code == 409 and retry.json()["code"] == "insufficient_funds"
