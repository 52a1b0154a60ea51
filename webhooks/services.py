"""Webhook endpoint operations: create (the only time the secret is shown), delete, enable, ping."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone

from lenme.api.errors import NotFound, ValidationFailed
from lenme.db import atomic_retry
from webhooks import crypto, outbox, ssrf
from webhooks.models import OutboxStatus, WebhookEndpoint, WebhookEvent

MAX_ENDPOINTS_PER_USER = 10


@dataclass(frozen=True)
class CreatedEndpoint:
    endpoint: WebhookEndpoint
    secret: str


def webhook_kinds() -> list[str]:
    from loans.models import NotificationKind

    return list(NotificationKind.values)


def webhook_endpoint_create(*, user, url: str, events: list[str] | None) -> CreatedEndpoint:
    try:
        ssrf.vet(url)  # resolves the host: outside the transaction, so no lock waits on DNS
    except ssrf.UnsafeURL as exc:
        raise ValidationFailed.field("url", str(exc), "invalid") from exc
    secret = crypto.new_secret()
    endpoint = _create(user=user, url=url, events=events or webhook_kinds(), sealed=crypto.seal(secret))
    return CreatedEndpoint(endpoint=endpoint, secret=secret)


@atomic_retry
def _create(*, user, url: str, events: list[str], sealed: str) -> WebhookEndpoint:
    get_user_model().objects.select_for_update().filter(pk=user.pk).first()  # serializes the count check
    if WebhookEndpoint.objects.filter(user=user).count() >= MAX_ENDPOINTS_PER_USER:
        raise ValidationFailed.field(
            None, f"You already have {MAX_ENDPOINTS_PER_USER} webhook endpoints; delete one first.", "max_endpoints"
        )
    return WebhookEndpoint.objects.create(user=user, url=url, events=events, secret_sealed=sealed)


def _lock_own(endpoint_id: int, user) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id, user=user).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


@atomic_retry
def webhook_endpoint_delete(*, endpoint_id: int, user) -> None:
    """Deletes the endpoint with its queued events (so nothing more is sent) and its delivery log."""
    _lock_own(endpoint_id, user).delete()


@atomic_retry
def webhook_endpoint_enable(*, endpoint_id: int, user) -> WebhookEndpoint:
    """Enabled again; what was queued while it was disabled is dropped, not sent."""
    endpoint = _lock_own(endpoint_id, user)
    if not endpoint.enabled:
        now = timezone.now()
        endpoint.outbox.filter(status=OutboxStatus.PENDING).update(
            status=OutboxStatus.DROPPED, finished_at=now, lease_until=None, lease_token=""
        )
        endpoint.enabled = True
        endpoint.disabled_at = None
        endpoint.save(update_fields=["enabled", "disabled_at"])
    return endpoint


def webhook_endpoint_ping(*, endpoint_id: int, user) -> WebhookEvent:
    event = _ping(endpoint_id=endpoint_id, user=user)
    return event


@atomic_retry
def _ping(*, endpoint_id: int, user) -> WebhookEvent:
    endpoint = _lock_own(endpoint_id, user)
    event_id = outbox.new_event_id()
    now = timezone.now()
    event = WebhookEvent.objects.create(
        endpoint=endpoint,
        event_id=event_id,
        type=outbox.PING,
        body=outbox.event_body(
            event_id=event_id,
            kind=outbox.PING,
            created_at=now.isoformat().replace("+00:00", "Z"),
            notification=None,
            loan_id=None,
        ),
    )
    transaction.on_commit(lambda: outbox.enqueue(endpoint_ids=[endpoint.pk]), robust=True)
    return event
