"""Webhook delivery under real concurrency on PostgreSQL: competing workers never send an event twice
or out of order, a slow endpoint does not hold up another user's, and the endpoint limit holds."""

import json
import threading
import time

import pytest
from django.db import connections

from tests.conftest import client_for
from tests.factories import UserFactory
from tests.webhooks.conftest import create_endpoint
from webhooks import delivery, services
from webhooks.models import OutboxStatus, WebhookEndpoint, WebhookEvent

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def run_together(count: int, target) -> list:
    barrier = threading.Barrier(count)
    results: list = [None] * count

    def worker(i: int) -> None:
        try:
            barrier.wait()
            results[i] = target(i)
        except Exception as exc:  # recorded, the test asserts on it
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


def test_competing_workers_send_each_event_once_in_order(receiver):
    user = UserFactory(username="hooked")
    endpoint = create_endpoint(user, receiver.url)
    api = client_for(user)
    ids = [api.post(f"/api/webhooks/{endpoint['id']}/test/").json()["id"] for _ in range(12)]
    receiver.default = (200, 0.02, {}, b"ok")

    results = run_together(6, lambda i: delivery.deliver_endpoint(endpoint["id"]))
    assert all(isinstance(r, int) for r in results), results
    assert receiver.event_ids() == ids  # each once, in the order they happened
    assert set(WebhookEvent.objects.values_list("status", flat=True)) == {OutboxStatus.DELIVERED}
    assert sum(results) == 12


def test_a_slow_endpoint_does_not_hold_up_another_users(receiver, settings):
    settings.LENME_WEBHOOK_TIMEOUT = 5
    slow_user, fast_user = UserFactory(username="slow"), UserFactory(username="fast")
    slow = create_endpoint(slow_user, receiver.url.replace("/hook", "/slow"))
    fast = create_endpoint(fast_user, receiver.url)
    receiver.answer((200, 3.0, {}, b"slow"))  # the first request to arrive is held for 3 s
    client_for(slow_user).post(f"/api/webhooks/{slow['id']}/test/")
    time.sleep(0.05)
    client_for(fast_user).post(f"/api/webhooks/{fast['id']}/test/")
    started = time.monotonic()
    attempts = delivery.deliver_due()  # several endpoints: each in its own thread
    assert attempts == 2
    by_path = {r.path: r.at - started for r in receiver.requests}
    assert by_path["/hook"] < 1.5, by_path  # served while the slow one still hangs


def test_concurrent_creates_stop_at_ten_endpoints(monkeypatch, settings):
    settings.LENME_WEBHOOK_ALLOW_PRIVATE = True
    user = UserFactory(username="greedy")
    results = run_together(
        14, lambda i: services.webhook_endpoint_create(user=user, url="http://127.0.0.1:9/x", events=None)
    )
    created = [r for r in results if isinstance(r, services.CreatedEndpoint)]
    refused = [r for r in results if not isinstance(r, services.CreatedEndpoint)]
    assert len(created) == 10 and WebhookEndpoint.objects.filter(user=user).count() == 10
    assert all(getattr(r, "status_code", None) == 400 for r in refused), refused


def test_events_enter_an_endpoints_outbox_in_commit_order(receiver):
    """A later transaction's event for the same endpoint waits for the earlier one to commit, so an
    event can never become visible behind one that was already sent."""
    from django.db import transaction

    from loans.models import NotificationKind
    from loans.notifications import Event, notify

    user = UserFactory(username="ordered")
    create_endpoint(user, receiver.url)
    first_inserted = threading.Event()
    marks: dict[str, float] = {}

    def first(_):
        with transaction.atomic():
            notify(Event(user.pk, NotificationKind.OFFER_RECEIVED, "first"))
            first_inserted.set()
            time.sleep(0.5)
            # Taken as the commit starts: the server releases the endpoint's lock at its commit, which
            # can let the second go on before this thread is back from commit() to read the clock.
            marks["first_committed"] = time.monotonic()

    def second(_):
        first_inserted.wait(10)
        with transaction.atomic():
            notify(Event(user.pk, NotificationKind.OFFER_RECEIVED, "second"))
            marks["second_inserted"] = time.monotonic()

    results = run_together(2, lambda i: (first, second)[i](i))
    assert results == [None, None], results
    assert marks["second_inserted"] >= marks["first_committed"]
    messages = [
        json.loads(b)["data"]["notification"]["message"] for b in WebhookEvent.objects.values_list("body", flat=True)
    ]
    assert messages == ["first", "second"]
