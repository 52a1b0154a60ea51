"""End to end: a real Celery worker with beat, on the Redis of this machine, expires an offer."""

import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.db import connection

from tests.conftest import REDIS_TEST_URL, client_for
from tests.factories import UserFactory

ROOT = Path(__file__).resolve().parents[2]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_worker_with_beat_expires_an_offer_and_releases_its_hold(tmp_path):
    import redis

    redis.Redis.from_url(REDIS_TEST_URL).flushdb()  # a private database: no stale tasks from earlier runs
    borrower = UserFactory(username="e2e-borrower")
    lender = UserFactory(username="e2e-lender", balance=Decimal("6000.00"))
    loan = client_for(borrower).post("/api/loans/", {"amount": "5000.00", "term_months": 6}, format="json").json()
    lender_api = client_for(lender)
    offer = lender_api.post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00"}, format="json")
    assert offer.status_code == 201
    assert lender_api.get("/api/accounts/me/").json()["reserved_balance"] == "5003.75"

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": REDIS_TEST_URL,
        "LENME_OFFER_TTL": "2",
        "LENME_SWEEP_SECONDS": "1",
        "DEBUG": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "lenme", "worker", "--beat", "--pool=solo", "--loglevel=INFO",
         f"--schedule={tmp_path / 'beat-schedule'}", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and worker.poll() is None:
            status = lender_api.get(f"/api/loans/{loan['id']}/offers/").json()["results"][0]["status"]
            if status == "EXPIRED":
                break
            time.sleep(0.5)
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    assert status == "EXPIRED", f"offer still {status}; worker output:\n{output[-4000:]}"
    me = lender_api.get("/api/accounts/me/").json()
    assert (me["balance"], me["reserved_balance"], me["available_balance"]) == ("6000.00", "0.00", "6000.00")
    assert client_for(borrower).get(f"/api/loans/{loan['id']}/").json()["status"] == "OPEN"
