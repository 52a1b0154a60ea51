"""PostgreSQL claims an Idempotency-Key inside the money step's own transaction (a session advisory
lock on user and key, and the IN_FLIGHT row): what that adds to the contract, and that the lock never
outlives its request, whichever way the request ends."""

from decimal import Decimal

import pytest
from django.db import OperationalError, connection

from accounts import services
from accounts.models import IdempotencyRecord, Transaction
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
