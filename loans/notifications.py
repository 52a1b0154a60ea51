"""Notifications: a row per event for the user concerned, written with the event's transaction, with
its webhook events and email in the outbox (webhooks.outbox), sent by workers once it commits."""

from dataclasses import dataclass

from django.db import connection

from loans.models import Notification
from webhooks.outbox import outbox_record, outbox_record_with_notifications


@dataclass(frozen=True)
class Event:
    user_id: int
    kind: str
    message: str
    loan_id: int | None = None


def notify(*events: Event, batch=None) -> None:
    """Record the events, their webhook events and their emails with the current transaction.

    The rows are written inside the money step's transaction: they become visible exactly when it
    commits, vanish with a rollback, and cannot be lost to a crash in between. Sending waits for the
    commit and happens in a Celery worker or the sweep, never in the request (a mail outage or a dead
    webhook endpoint never fails or slows a committed step). On PostgreSQL they may join the step's
    lenme.db.WriteBatch (`batch`).
    """
    events = tuple(e for e in events if e.user_id is not None)
    if not events:
        return
    notifications = [Notification(user_id=e.user_id, kind=e.kind, message=e.message, loan_id=e.loan_id) for e in events]
    if connection.vendor == "postgresql":
        outbox_record_with_notifications(notifications, batch=batch)  # one statement unless an endpoint
        return
    outbox_record(Notification.objects.bulk_create(notifications))
