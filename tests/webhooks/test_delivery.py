"""Delivery to a real receiver on 127.0.0.1: one event per notification in the change's transaction,
signed by the documented rule, retried with the same id, disabled after the last attempt, in order
per endpoint, at least once across a worker crash, and never in the request."""

import hashlib
import hmac
import json
import logging
import time
from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from loans import jobs, services
from loans.models import Notification
from tests.conftest import client_for
from tests.factories import UserFactory
from tests.webhooks.conftest import create_endpoint
from webhooks import delivery
from webhooks.models import OutboxStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db


def offer_on_new_loan(borrower, lender, rate="12.00"):
    response = client_for(borrower).post("/api/loans/", {"amount": "1000.00", "term_months": 6}, format="json")
    loan = response.json()
    offer = client_for(lender).post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": rate}, format="json")
    assert offer.status_code == 201, offer.content
    return loan


def verify(secret: str, header: str, body: bytes) -> bool:
    """The documented rule, and nothing else: v1 = hex HMAC-SHA256(secret UTF-8, "<t>.<raw body>")."""
    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret.encode("utf-8"), f"{fields['t']}.".encode() + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) <= 300


def test_a_notification_is_delivered_signed_after_commit_by_the_sweep(borrower, lender, receiver):
    endpoint = create_endpoint(borrower, receiver.url)
    loan = offer_on_new_loan(borrower, lender)
    assert receiver.requests == []  # the request sent nothing
    event = WebhookEvent.objects.get(endpoint_id=endpoint["id"])
    notification = Notification.objects.get(user=borrower, kind="offer_received")

    run = jobs.sweep()
    assert run.counts["webhooks_attempted"] == 1
    (request,) = receiver.requests
    assert request.path == "/hook"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Lenme-Event-Id"] == event.event_id
    assert verify(endpoint["secret"], request.headers["Lenme-Signature"], request.body)
    assert not verify("whsec_wrong", request.headers["Lenme-Signature"], request.body)
    body = json.loads(request.body)
    assert body == {
        "id": event.event_id,
        "type": "offer_received",
        "created_at": body["data"]["notification"]["created_at"],
        "data": {
            "notification": {
                "id": notification.pk,
                "kind": "offer_received",
                "message": notification.message,
                "loan": loan["id"],
                "read": False,
                "created_at": body["created_at"],
            },
            "loan": loan["id"],
        },
    }
    event.refresh_from_db()
    assert event.status == OutboxStatus.DELIVERED and event.attempts == 1
    assert jobs.sweep().counts["webhooks_attempted"] == 0 and len(receiver.requests) == 1


def test_events_are_written_with_the_change_and_vanish_with_a_rollback(borrower, lender, receiver):
    create_endpoint(borrower, receiver.url)
    create_endpoint(lender, receiver.url)
    loan = client_for(borrower).post("/api/loans/", {"amount": "5000.00", "term_months": 6}, format="json").json()
    poor = UserFactory(username="poor", balance=Decimal("1.00"))
    create_endpoint(poor, receiver.url)
    response = client_for(poor).post(f"/api/loans/{loan['id']}/offers/", {"interest_rate": "10.00"}, format="json")
    assert response.status_code == 409
    assert not WebhookEvent.objects.exists() and not Notification.objects.exists()


def test_only_enabled_endpoints_subscribed_to_the_kind_get_the_event(borrower, lender, receiver):
    wants = create_endpoint(borrower, receiver.url, events=["offer_received"])
    other_kind = create_endpoint(borrower, receiver.url, events=["loan_funded"])
    disabled = create_endpoint(borrower, receiver.url)
    WebhookEndpoint.objects.filter(pk=disabled["id"]).update(enabled=False)
    someone_else = create_endpoint(lender, receiver.url, events=["offer_received"])
    offer_on_new_loan(borrower, lender)
    assert list(WebhookEvent.objects.values_list("endpoint_id", "type")) == [(wants["id"], "offer_received")]
    assert other_kind and someone_else


def test_a_500_is_retried_with_the_same_event_id_after_the_backoff(borrower, receiver, settings):
    settings.LENME_WEBHOOK_BACKOFF = 30
    endpoint = create_endpoint(borrower, receiver.url)
    receiver.answer(500)
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    before = timezone.now()
    delivery.deliver_due()
    event = WebhookEvent.objects.get()
    assert event.status == OutboxStatus.PENDING and event.attempts == 1
    assert before + timedelta(seconds=30) <= event.next_attempt_at <= timezone.now() + timedelta(seconds=30)
    assert delivery.deliver_due() == 0  # not due yet

    WebhookEvent.objects.update(next_attempt_at=timezone.now())
    receiver.answer(500)
    delivery.deliver_due()
    event.refresh_from_db()
    # attempt 2 waits LENME_WEBHOOK_BACKOFF * 2^(2-1) = 60 s
    assert timezone.now() + timedelta(seconds=55) <= event.next_attempt_at <= timezone.now() + timedelta(seconds=60)
    WebhookEvent.objects.update(next_attempt_at=timezone.now())
    delivery.deliver_due()
    first, second, third = receiver.requests
    assert first.headers["Lenme-Event-Id"] == second.headers["Lenme-Event-Id"] == third.headers["Lenme-Event-Id"]
    assert first.body == second.body == third.body  # fixed when the event was made
    assert all(verify(endpoint["secret"], r.headers["Lenme-Signature"], r.body) for r in receiver.requests)
    event.refresh_from_db()
    assert event.status == OutboxStatus.DELIVERED and event.attempts == 3
    assert list(WebhookDelivery.objects.order_by("pk").values_list("attempt", "status_code", "ok")) == [
        (1, 500, False),
        (2, 500, False),
        (3, 200, True),
    ]


def test_the_endpoint_is_disabled_after_the_last_attempt(borrower, receiver, settings):
    settings.LENME_WEBHOOK_BACKOFF = 0
    settings.LENME_WEBHOOK_MAX_ATTEMPTS = 3
    receiver.default = (500, 0.0, {}, b"nope")
    endpoint = create_endpoint(borrower, receiver.url)
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    for sweep in range(1, 4):
        assert jobs.sweep().counts["webhooks_attempted"] == 1  # each event at most once per sweep
        assert len(receiver.requests) == sweep
    assert len(set(receiver.event_ids())) == 1
    state = client_for(borrower).get("/api/webhooks/").json()["results"][0]
    assert state["enabled"] is False
    assert WebhookEvent.objects.get().status == OutboxStatus.FAILED
    assert jobs.sweep().counts["webhooks_attempted"] == 0 and len(receiver.requests) == 3


def test_a_later_event_waits_while_an_earlier_one_is_retried(borrower, receiver, settings):
    settings.LENME_WEBHOOK_BACKOFF = 0
    endpoint = create_endpoint(borrower, receiver.url)
    api = client_for(borrower)
    receiver.answer(500, 500)
    first = api.post(f"/api/webhooks/{endpoint['id']}/test/").json()["id"]
    second = api.post(f"/api/webhooks/{endpoint['id']}/test/").json()["id"]
    jobs.sweep()
    assert receiver.event_ids() == [first]
    jobs.sweep()
    assert receiver.event_ids() == [first, first]
    jobs.sweep()  # the first succeeds; the second follows in the same sweep
    assert receiver.event_ids() == [first, first, first, second]


def test_a_worker_that_dies_mid_delivery_is_covered_the_event_is_sent_again_first(borrower, receiver, settings):
    endpoint = create_endpoint(borrower, receiver.url)
    api = client_for(borrower)
    first = api.post(f"/api/webhooks/{endpoint['id']}/test/").json()["id"]
    second = api.post(f"/api/webhooks/{endpoint['id']}/test/").json()["id"]
    claim = delivery.claim(endpoint["id"])
    assert claim.event_id == first
    delivery.send(url=claim.url, secret=endpoint["secret"], event_id=claim.event_id, body=claim.body)
    # ... and the worker dies here, before recording the result.
    assert receiver.event_ids() == [first]
    assert jobs.sweep().counts["webhooks_attempted"] == 0  # leased: neither it nor the later event is sent
    assert receiver.event_ids() == [first]

    WebhookEvent.objects.filter(event_id=first).update(lease_until=timezone.now() - timedelta(seconds=1))
    jobs.sweep()
    assert receiver.event_ids() == [first, first, second]
    assert WebhookEvent.objects.get(event_id=first).status == OutboxStatus.DELIVERED
    lost = WebhookDelivery.objects.filter(event__event_id=first).order_by("pk").values_list("attempt", "ok", "error")
    assert [(a, ok) for a, ok, _ in lost] == [(1, False), (2, True)] and "lost" in lost[0][2]
    delivery.record(claim, delivery.Result(ok=False, status_code=500))  # the dead worker's late result
    assert WebhookEvent.objects.get(event_id=first).status == OutboxStatus.DELIVERED  # is ignored


def test_redirects_are_not_followed(borrower, receiver):
    endpoint = create_endpoint(borrower, receiver.url)
    receiver.answer((302, 0.0, {"Location": f"http://127.0.0.1:{receiver.port}/elsewhere"}, b""))
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    delivery.deliver_due()
    assert [r.path for r in receiver.requests] == ["/hook"]
    assert WebhookDelivery.objects.get().status_code == 302 and not WebhookDelivery.objects.get().ok


def test_a_slow_endpoint_times_out(borrower, receiver, settings):
    settings.LENME_WEBHOOK_TIMEOUT = 1
    endpoint = create_endpoint(borrower, receiver.url)
    receiver.answer((200, 2.5, {}, b"late"))
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    started = time.monotonic()
    delivery.deliver_due()
    assert time.monotonic() - started < 2.4
    attempt = WebhookDelivery.objects.get()
    assert not attempt.ok and "within 1 s" in attempt.error


def test_a_huge_answer_is_read_only_up_to_the_cap(borrower, receiver):
    endpoint = create_endpoint(borrower, receiver.url)
    receiver.answer((200, 0.0, {}, b"x" * (4 * 1024 * 1024)))
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    delivery.deliver_due()
    assert WebhookDelivery.objects.get().ok


def test_secrets_never_reach_the_logs(borrower, lender, receiver, settings, caplog):
    settings.LENME_WEBHOOK_BACKOFF = 0
    caplog.set_level(logging.DEBUG)
    endpoint = create_endpoint(borrower, receiver.url)
    receiver.answer(500)
    offer_on_new_loan(borrower, lender)
    jobs.sweep()
    jobs.sweep()
    assert len(receiver.requests) == 2
    signatures = [r.headers["Lenme-Signature"].split("v1=")[1] for r in receiver.requests]
    sealed = WebhookEndpoint.objects.get().secret_sealed
    logged = "\n".join(f"{r.getMessage()} {r.args} {r.exc_text or ''}" for r in caplog.records)
    assert "webhook" in logged  # the deliveries were logged...
    for secret in (endpoint["secret"], endpoint["secret"][6:], sealed, *signatures):
        assert secret not in logged  # ...without any secret


def test_no_request_sends_mail_the_sweep_does(borrower, lender, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        offer_on_new_loan(borrower, lender)
    assert mailoutbox == []
    assert jobs.sweep().counts["emails_sent"] == 1
    assert [m.to for m in mailoutbox] == [[borrower.email]] and "offer received" in mailoutbox[0].subject
    assert jobs.sweep().counts["emails_sent"] == 0 and len(mailoutbox) == 1


def test_a_failing_mail_backend_is_retried_later(borrower, lender, mailoutbox, settings, monkeypatch):
    settings.LENME_WEBHOOK_BACKOFF = 0
    offer_on_new_loan(borrower, lender)

    def down(*args, **kwargs):
        raise ConnectionRefusedError("smtp down")

    monkeypatch.setattr(delivery, "send_mail", down)
    assert delivery.emails_send_due() == 0
    monkeypatch.undo()
    assert delivery.emails_send_due() == 1 and len(mailoutbox) == 1


def test_services_outside_the_api_notify_the_outbox_too(borrower, lender, receiver):
    create_endpoint(lender, receiver.url, events=["offer_accepted"])
    loan = services.loan_create(borrower=borrower, amount=Decimal("1000.00"), term_months=6)
    services.offer_submit(loan_id=loan.pk, lender=lender, interest_rate=Decimal("9.00"))
    services.loan_accept(loan_id=loan.pk, borrower=borrower)
    jobs.sweep()
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["offer_accepted"]


def test_a_broker_that_is_down_never_makes_a_request_wait(
    borrower, receiver, settings, monkeypatch, use_broker, django_capture_on_commit_callbacks
):
    from webhooks import outbox

    use_broker("redis://127.0.0.1:1/0")  # nothing listens there
    monkeypatch.setattr(outbox, "_broker_down_until", 0.0)
    endpoint = create_endpoint(borrower, receiver.url)
    started = time.monotonic()
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    assert response.status_code == 202 and time.monotonic() - started < 1.0
    outbox._publisher.submit(lambda: None).result(timeout=30)  # the failed publish has run by now
    assert outbox._broker_down_until > time.monotonic()  # publishing pauses; the sweep sends meanwhile
    settings.CELERY_BROKER_URL = ""
    assert delivery.deliver_due() == 1 and len(receiver.requests) == 1


def test_an_endpoint_that_drips_its_answer_is_cut_off_at_the_timeout(borrower, settings):
    """Each byte arrives within the socket timeout, but the whole answer would take 4 s."""
    import socket as socketlib
    import threading

    settings.LENME_WEBHOOK_ALLOW_PRIVATE = True
    settings.LENME_WEBHOOK_TIMEOUT = 1
    listener = socketlib.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def drip():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            try:
                for byte in b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok":
                    conn.sendall(bytes([byte]))
                    time.sleep(0.1)
            except OSError:
                pass

    threading.Thread(target=drip, daemon=True).start()
    endpoint = create_endpoint(borrower, f"http://127.0.0.1:{port}/drip")
    client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    started = time.monotonic()
    delivery.deliver_due()
    assert time.monotonic() - started < 2.0
    attempt = WebhookDelivery.objects.get()
    assert not attempt.ok and "within 1 s" in attempt.error
    listener.close()
