"""Writing the outboxes: called by loans.notifications.notify inside the change's transaction, so an
event or email exists exactly when the change it reports committed; workers send them afterwards."""

import functools
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, transaction

from lenme.db import WriteBatch, insert_sql, mark_saved, write_batch
from webhooks.models import NotificationEmail, WebhookEndpoint, WebhookEvent

log = logging.getLogger(__name__)

PING = "ping"


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def event_body(*, event_id: str, kind: str, created_at: str, notification: dict | None, loan_id: int | None) -> str:
    return json.dumps(
        {
            "id": event_id,
            "type": kind,
            "created_at": created_at,
            "data": {"notification": notification, "loan": loan_id},
        },
        separators=(",", ":"),
    )


def outbox_record_with_notifications(notifications: list, *, batch: WriteBatch | None = None) -> None:
    """PostgreSQL: insert the unsaved notifications, an email for each, and lock their users' enabled
    endpoints, all in one statement (or as parts of the step's batch); then the webhook events (a
    second statement) only when some user has an endpoint. The same rows and locks as bulk_create +
    outbox_record."""
    qn = connection.ops.quote_name
    insert, params = insert_sql(notifications)
    template = NotificationEmail()
    with write_batch(batch) as parts:
        saved = parts.add(insert, params, then=functools.partial(mark_saved, notifications))
        columns, values, email_params = [], [], []
        for f in NotificationEmail._meta.concrete_fields:
            if f.primary_key:
                continue
            columns.append(qn(f.column))
            if f.name == "notification":
                values.append(f"{saved}.id")
            else:
                values.append("%s")
                email_params.append(f.get_db_prep_save(f.pre_save(template, True), connection))
        parts.add(
            f"INSERT INTO {qn(NotificationEmail._meta.db_table)} ({', '.join(columns)}) "  # noqa: S608 - model names
            f"SELECT {', '.join(values)} FROM {saved}",
            email_params,
        )
        parts.add(
            f"SELECT id FROM {qn(WebhookEndpoint._meta.db_table)} WHERE enabled AND user_id = ANY(%s) "  # noqa: S608
            "ORDER BY id FOR UPDATE",
            [sorted({n.user_id for n in notifications})],
            then=functools.partial(_after_endpoints_locked, notifications),
        )


def _after_endpoints_locked(notifications: list, endpoint_ids: list) -> None:
    if endpoint_ids:
        outbox_record(notifications, emails=False)
    else:
        transaction.on_commit(lambda: enqueue(emails=True), robust=True)


def outbox_record(notifications: Iterable, *, emails: bool = True) -> None:
    """An event per notification for each enabled endpoint of its user subscribed to its kind, and an
    email per notification (unless written already: emails=False); queued for the workers once this
    commits.

    The endpoints are locked (by primary key, after every money lock of the step) so that events
    reach each endpoint's outbox in commit order, and a concurrent delete or disable is respected.
    """
    from loans.serializers import NotificationSerializer

    notifications = list(notifications)
    user_ids = {n.user_id for n in notifications}
    endpoints = WebhookEndpoint.objects.filter(user_id__in=user_ids, enabled=True).order_by("pk")
    if connection.in_atomic_block:
        endpoints = endpoints.select_for_update()
    events = []
    for endpoint in endpoints:
        for n in notifications:
            if n.user_id == endpoint.user_id and n.kind in endpoint.events:
                event_id = new_event_id()
                data = NotificationSerializer(n).data
                events.append(
                    WebhookEvent(
                        endpoint=endpoint,
                        event_id=event_id,
                        type=n.kind,
                        body=event_body(
                            event_id=event_id,
                            kind=n.kind,
                            created_at=data["created_at"],
                            notification=data,
                            loan_id=n.loan_id,
                        ),
                    )
                )
    WebhookEvent.objects.bulk_create(events)
    # One email row per notification (the sender skips users without an address): no extra lookup here.
    if emails:
        emails = bool(NotificationEmail.objects.bulk_create(NotificationEmail(notification=n) for n in notifications))
    else:
        emails = bool(notifications)  # written by outbox_record_with_notifications
    endpoint_ids = sorted({e.endpoint_id for e in events})
    if endpoint_ids or emails:
        transaction.on_commit(lambda: enqueue(endpoint_ids=endpoint_ids, emails=emails), robust=True)


_publisher: ThreadPoolExecutor | None = None
_publisher_lock = threading.Lock()
_broker_down_until = 0.0
BROKER_DOWN_SECONDS = 30.0


def enqueue(*, endpoint_ids: Iterable[int] = (), emails: bool = False) -> None:
    """Hand the work to Celery when there is a broker; without one the sweep (rule 7) sends it.

    Never sends anything in the caller's process, and never makes a request wait on the broker: the
    publish runs in a background thread, and after a failure publishing pauses for a while (the
    outbox rows are committed, so the sweep sends them meanwhile)."""
    global _publisher
    if not settings.CELERY_BROKER_URL or time.monotonic() < _broker_down_until:
        return
    endpoint_ids = list(endpoint_ids)
    with _publisher_lock:
        if _publisher is None:
            _publisher = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lenme-publish")
        _publisher.submit(_publish, endpoint_ids, emails)


def _publish(endpoint_ids: list[int], emails: bool) -> None:
    global _broker_down_until
    from webhooks import tasks

    try:
        for endpoint_id in endpoint_ids:
            tasks.deliver_endpoint.apply_async((endpoint_id,), retry=False)
        if emails:
            tasks.send_emails.apply_async(retry=False)
    except Exception:  # the outbox rows are committed: the next sweep sends them
        _broker_down_until = time.monotonic() + BROKER_DOWN_SECONDS
        log.warning("could not queue webhook/email delivery; the sweep will send it", exc_info=True)
