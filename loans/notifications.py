"""Notifications: a row per event for the user concerned, written with the event's transaction, and an
email once it commits."""

import logging
from dataclasses import dataclass

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import send_mail
from django.db import transaction

from loans.models import Notification

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    user_id: int
    kind: str
    message: str
    loan_id: int | None = None


def notify(*events: Event) -> None:
    """Record the events with the current transaction and email them once it commits.

    The Notification rows are written inside the money step's transaction: they become visible
    exactly when it commits, vanish with a rollback, and cannot be lost to a crash in between.
    Only the emails wait for the commit (robust: a mail outage never fails a committed step).
    """
    events = tuple(e for e in events if e.user_id is not None)
    if not events:
        return
    Notification.objects.bulk_create(
        Notification(user_id=e.user_id, kind=e.kind, message=e.message, loan_id=e.loan_id) for e in events
    )
    transaction.on_commit(lambda: send_emails(events), robust=True)


def send_emails(events: tuple[Event, ...]) -> None:
    emails = dict(
        get_user_model().objects.filter(pk__in={e.user_id for e in events}).exclude(email="").values_list("pk", "email")
    )
    for event in events:
        if event.user_id in emails:
            try:
                send_mail(
                    f"Lenme: {event.kind.replace('_', ' ')}",
                    event.message,
                    settings.DEFAULT_FROM_EMAIL,
                    [emails[event.user_id]],
                )
            except Exception:  # an email outage must not fail the money step that already committed
                log.exception("could not email notification %s to user %s", event.kind, event.user_id)
