"""The webhook endpoints' HTTP contract: create (secret once), list, delete, ping, deliveries, enable,
and bad input as 400/404 problem+json."""

import base64
import socket

import pytest

from loans.models import NotificationKind
from tests.accounts.api_helpers import assert_problem
from tests.conftest import client_for
from tests.webhooks.conftest import create_endpoint
from webhooks import delivery
from webhooks.models import OutboxStatus, WebhookEndpoint, WebhookEvent

pytestmark = pytest.mark.django_db

PUBLIC = "https://hooks.example.com/lenme"


@pytest.fixture(autouse=True)
def public_dns(monkeypatch):
    """hooks.example.com resolves to a public address; nothing here leaves the machine."""
    real = socket.getaddrinfo

    def fake(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port or 443))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)


def test_create_shows_the_secret_once_and_subscribes_to_every_kind(borrower):
    api = client_for(borrower)
    response = api.post("/api/webhooks/", {"url": PUBLIC}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "url", "events", "secret", "enabled", "created_at"}
    assert body["url"] == PUBLIC and body["enabled"] is True
    assert body["events"] == list(NotificationKind.values)
    secret = body["secret"]
    assert secret.startswith("whsec_") and len(base64.urlsafe_b64decode(secret[6:] + "=")) >= 32

    listing = api.get("/api/webhooks/").json()
    assert listing["count"] == 1 and set(listing["results"][0]) == {"id", "url", "events", "enabled", "created_at"}
    assert secret not in api.get("/api/webhooks/").content.decode()
    stored = WebhookEndpoint.objects.get(pk=body["id"])
    assert secret not in stored.secret_sealed and secret[6:] not in stored.secret_sealed


def test_two_endpoints_get_different_secrets_and_create_ignores_idempotency_key(borrower):
    api = client_for(borrower)
    first = api.post("/api/webhooks/", {"url": PUBLIC}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    second = api.post("/api/webhooks/", {"url": PUBLIC}, format="json", HTTP_IDEMPOTENCY_KEY="k1")
    assert first.status_code == second.status_code == 201
    assert "Idempotent-Replayed" not in second
    assert first.json()["secret"] != second.json()["secret"] and first.json()["id"] != second.json()["id"]


def test_events_subscribe_to_the_given_kinds_without_duplicates(borrower):
    body = create_endpoint(borrower, PUBLIC, events=["loan_funded", "payment_received", "loan_funded"])
    assert body["events"] == ["loan_funded", "payment_received"]


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({}, "url"),
        ({"url": 7}, "url"),
        ({"url": None}, "url"),
        ({"url": "http://hooks.example.com/x"}, "url"),
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "https:///nohost"}, "url"),
        ({"url": "https://user:pw@hooks.example.com/x"}, "url"),
        ({"url": "https://hooks.example.com/a b"}, "url"),
        ({"url": "https://hooks.example.com:99999/"}, "url"),
        ({"url": "https://hooks.example.com/" + "a" * 1980}, "url"),
        ({"url": PUBLIC, "events": ["loan_exploded"]}, "events"),
        ({"url": PUBLIC, "events": ["ping"]}, "events"),
        ({"url": PUBLIC, "events": []}, "events"),
        ({"url": PUBLIC, "events": "loan_funded"}, "events"),
        ({"url": PUBLIC, "events": [1]}, "events.0"),
    ],
)
def test_bad_input_is_400_problem(borrower, payload, field):
    response = client_for(borrower).post("/api/webhooks/", payload, format="json")
    assert_problem(response, 400, "validation_error", field=field)
    assert not WebhookEndpoint.objects.exists()


def test_a_url_of_exactly_2000_characters_is_accepted(borrower):
    url = "https://hooks.example.com/" + "a" * (2000 - len("https://hooks.example.com/"))
    assert len(url) == 2000
    assert create_endpoint(borrower, url)["url"] == url


def test_plain_http_only_with_allow_private(borrower, settings):
    settings.LENME_WEBHOOK_ALLOW_PRIVATE = True
    assert create_endpoint(borrower, "http://hooks.example.com/x")["url"] == "http://hooks.example.com/x"


def test_body_must_be_an_object_and_json(borrower):
    api = client_for(borrower)
    assert_problem(api.post("/api/webhooks/", [1], format="json"), 400, "validation_error")
    response = api.post("/api/webhooks/", "{bad", content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"


def test_at_most_ten_endpoints_per_user(borrower, lender):
    for _ in range(10):
        create_endpoint(borrower, PUBLIC)
    response = client_for(borrower).post("/api/webhooks/", {"url": PUBLIC}, format="json")
    body = assert_problem(response, 400, "validation_error", field=None)
    assert body["errors"][0]["code"] == "max_endpoints"
    assert WebhookEndpoint.objects.filter(user=borrower).count() == 10
    create_endpoint(lender, PUBLIC)  # the limit is per user


def test_someone_elses_endpoint_is_404_on_every_path(borrower, lender):
    endpoint = create_endpoint(borrower, PUBLIC)
    api = client_for(lender)
    base = f"/api/webhooks/{endpoint['id']}"
    assert_problem(api.delete(f"{base}/"), 404, "not_found")
    assert_problem(api.post(f"{base}/test/"), 404, "not_found")
    assert_problem(api.post(f"{base}/enable/"), 404, "not_found")
    assert_problem(api.get(f"{base}/deliveries/"), 404, "not_found")
    assert_problem(api.post(f"{base}/test/", HTTP_IDEMPOTENCY_KEY=" bad key\u00e9"), 404, "not_found")
    assert_problem(client_for(borrower).delete("/api/webhooks/999999/"), 404, "not_found")
    assert WebhookEndpoint.objects.filter(pk=endpoint["id"]).exists() and not WebhookEvent.objects.exists()


def test_without_a_token_401(api):
    assert api.get("/api/webhooks/").status_code == 401
    assert api.post("/api/webhooks/", {"url": PUBLIC}, format="json").status_code == 401


def test_ping_is_202_and_queued_whatever_the_subscription(borrower):
    endpoint = create_endpoint(borrower, PUBLIC, events=["loan_funded"])
    response = client_for(borrower).post(f"/api/webhooks/{endpoint['id']}/test/")
    assert response.status_code == 202
    assert response.json()["type"] == "ping" and response.json()["id"].startswith("evt_")
    event = WebhookEvent.objects.get(endpoint_id=endpoint["id"])
    assert event.type == "ping" and event.event_id == response.json()["id"] and event.status == OutboxStatus.PENDING


def test_delete_is_204_and_nothing_queued_is_sent(borrower, receiver):
    endpoint = create_endpoint(borrower, receiver.url)
    api = client_for(borrower)
    assert api.post(f"/api/webhooks/{endpoint['id']}/test/").status_code == 202
    response = api.delete(f"/api/webhooks/{endpoint['id']}/")
    assert response.status_code == 204 and response.content == b""
    assert delivery.deliver_due() == 0
    assert receiver.requests == [] and not WebhookEvent.objects.exists()
    assert api.get("/api/webhooks/").json()["count"] == 0


def test_deliveries_are_paginated_newest_first(borrower, receiver, settings):
    settings.LENME_WEBHOOK_BACKOFF = 0
    endpoint = create_endpoint(borrower, receiver.url)
    api = client_for(borrower)
    receiver.answer(500)
    ping = api.post(f"/api/webhooks/{endpoint['id']}/test/").json()
    delivery.deliver_due()
    delivery.deliver_due()
    page = api.get(f"/api/webhooks/{endpoint['id']}/deliveries/", {"page_size": 1}).json()
    assert page["count"] == 2 and page["next"] and page["previous"] is None
    newest = page["results"][0]
    assert set(newest) == {"id", "event_id", "event_type", "attempt", "status_code", "ok", "error", "created_at"}
    assert (newest["event_id"], newest["event_type"], newest["attempt"], newest["status_code"], newest["ok"]) == (
        ping["id"],
        "ping",
        2,
        200,
        True,
    )
    older = api.get(f"/api/webhooks/{endpoint['id']}/deliveries/", {"page": 2, "page_size": 1}).json()["results"][0]
    assert (older["attempt"], older["status_code"], older["ok"], older["error"]) == (1, 500, False, "HTTP 500")
    assert_problem(api.get(f"/api/webhooks/{endpoint['id']}/deliveries/", {"page": 9}), 400, "validation_error")


def test_enable_drops_what_was_queued_while_disabled(borrower, receiver, settings):
    settings.LENME_WEBHOOK_MAX_ATTEMPTS = 1
    endpoint = create_endpoint(borrower, receiver.url)
    api = client_for(borrower)
    receiver.answer(500)
    first = api.post(f"/api/webhooks/{endpoint['id']}/test/").json()
    queued = api.post(f"/api/webhooks/{endpoint['id']}/test/").json()
    delivery.deliver_due()
    assert api.get("/api/webhooks/").json()["results"][0]["enabled"] is False
    assert receiver.event_ids() == [first["id"]]
    also_queued = api.post(f"/api/webhooks/{endpoint['id']}/test/").json()
    delivery.deliver_due()
    assert receiver.event_ids() == [first["id"]]  # nothing goes to a disabled endpoint

    response = api.post(f"/api/webhooks/{endpoint['id']}/enable/")
    assert response.status_code == 200 and response.json()["enabled"] is True and "secret" not in response.json()
    assert set(
        WebhookEvent.objects.filter(event_id__in=[queued["id"], also_queued["id"]]).values_list("status", flat=True)
    ) == {OutboxStatus.DROPPED}
    delivery.deliver_due()
    assert receiver.event_ids() == [first["id"]]
    fresh = api.post(f"/api/webhooks/{endpoint['id']}/test/").json()
    delivery.deliver_due()
    assert receiver.event_ids() == [first["id"], fresh["id"]]
