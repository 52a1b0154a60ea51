"""Celery tasks: deliver an endpoint's due events (queued after the commit that made them, and again
for each retry) and send the due notification emails."""

import logging

from celery import shared_task
from django.utils import timezone

log = logging.getLogger(__name__)


@shared_task(name="webhooks.tasks.deliver_endpoint", ignore_result=True)
def deliver_endpoint(endpoint_id: int) -> int:
    from webhooks import delivery

    attempts = delivery.deliver_endpoint(endpoint_id)
    due = delivery.next_due(endpoint_id)
    if due is not None:  # a retry (or a lease to wait out): come back then; the sweep is the safety net
        countdown = max(0.0, (due - timezone.now()).total_seconds())
        try:
            deliver_endpoint.apply_async((endpoint_id,), countdown=countdown, retry=False)
        except Exception:
            log.warning("could not schedule the retry of endpoint %s; the sweep will", endpoint_id, exc_info=True)
    return attempts


@shared_task(name="webhooks.tasks.send_emails", ignore_result=True)
def send_emails() -> int:
    from webhooks import delivery

    return delivery.emails_send_due()
