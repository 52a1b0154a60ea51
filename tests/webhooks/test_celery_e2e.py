"""End to end: a real Celery worker on Redis delivers webhooks queued after commit, retries a 500 with
the same event id, and disables an endpoint after its last attempt; the request itself sends nothing."""

import json
import os
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings as django_settings

from tests.conftest import REDIS_TEST_URL, client_for
from tests.factories import UserFactory
from tests.loans.test_celery_e2e import _database_url
from tests.webhooks.conftest import create_endpoint
from tests.webhooks.test_delivery import verify
from webhooks.models import WebhookEndpoint

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def broker(use_broker):
    return use_broker(REDIS_TEST_URL)


@pytest.mark.postgres
@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_worker_delivers_retries_and_disables(tmp_path, receiver, broker):
    import redis

    redis.Redis.from_url(REDIS_TEST_URL).flushdb()
    borrower = UserFactory(username="hook-borrower")
    lender = UserFactory(username="hook-lender", balance=Decimal("2000.00"))
    flaky_user = UserFactory(username="hook-flaky")
    good = create_endpoint(borrower, receiver.url, events=["offer_received"])
    dead = create_endpoint(flaky_user, receiver.url.replace("/hook", "/dead"))
    receiver.answer(500, path="/hook")  # fails once, then succeeds
    receiver.routes["/dead"] = (500, 0.0, {}, b"down")  # fails every time

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "CELERY_BROKER_URL": REDIS_TEST_URL,
        "SECRET_KEY": django_settings.SECRET_KEY,
        "LENME_WEBHOOK_ALLOW_PRIVATE": "1",
        "LENME_WEBHOOK_BACKOFF": "1",
        "LENME_WEBHOOK_MAX_ATTEMPTS": "3",
        "LENME_SWEEP_SECONDS": "3600",  # the after-commit tasks and their retries do the work here
        "DEBUG": "1",
    }
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "lenme", "worker", "--pool=threads", "--concurrency=4",
         "--loglevel=INFO", "--without-gossip", "--without-mingle", "--without-heartbeat"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        loan = client_for(borrower).post("/api/loans/", {"amount": "1000.00", "term_months": 6}, format="json")
        started = time.monotonic()
        offer = client_for(lender).post(
            f"/api/loans/{loan.json()['id']}/offers/", {"interest_rate": "9.00"}, format="json"
        )
        assert offer.status_code == 201 and time.monotonic() - started < 2
        assert client_for(flaky_user).post(f"/api/webhooks/{dead['id']}/test/").status_code == 202

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and worker.poll() is None:
            hook = [r for r in receiver.requests if r.path == "/hook"]
            if len(hook) >= 2 and not WebhookEndpoint.objects.get(pk=dead["id"]).enabled:
                break
            time.sleep(0.2)
    finally:
        worker.terminate()
        try:
            output, _ = worker.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
            output, _ = worker.communicate()
    hook = [r for r in receiver.requests if r.path == "/hook"]
    dead_hits = [r for r in receiver.requests if r.path == "/dead"]
    assert len(hook) == 2, output[-4000:]  # a 500, then the retry that succeeded
    assert hook[0].headers["Lenme-Event-Id"] == hook[1].headers["Lenme-Event-Id"] == json.loads(hook[1].body)["id"]
    assert hook[0].body == hook[1].body and json.loads(hook[1].body)["type"] == "offer_received"
    assert all(verify(good["secret"], r.headers["Lenme-Signature"], r.body) for r in hook)
    assert len(dead_hits) == 3 and len({r.headers["Lenme-Event-Id"] for r in dead_hits}) == 1, output[-4000:]
    assert not WebhookEndpoint.objects.get(pk=dead["id"]).enabled
    assert WebhookEndpoint.objects.get(pk=good["id"]).enabled
