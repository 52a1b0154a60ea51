"""Reads of webhook endpoints and their delivery log; never lock."""

from django.db.models import QuerySet

from lenme.api.errors import NotFound
from webhooks.models import WebhookDelivery, WebhookEndpoint


def webhook_endpoint_list(*, user) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(user=user).order_by("-created_at", "-id")


def webhook_endpoint_get(*, endpoint_id: int, user) -> WebhookEndpoint:
    endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id, user=user).first()
    if endpoint is None:
        raise NotFound("No such webhook endpoint.")
    return endpoint


def webhook_delivery_list(*, endpoint: WebhookEndpoint) -> QuerySet[WebhookDelivery]:
    return WebhookDelivery.objects.filter(endpoint=endpoint).select_related("event").order_by("-created_at", "-id")
