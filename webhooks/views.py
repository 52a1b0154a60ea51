"""Webhook endpoints of the caller: create (secret shown once), list, delete, ping, deliveries, enable."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from lenme.api.schema import IDEMPOTENCY_KEY, errors
from lenme.api.views import ActionView, validated
from webhooks import selectors, services
from webhooks.serializers import (
    WebhookDeliverySerializer,
    WebhookEndpointCreatedSerializer,
    WebhookEndpointCreateSerializer,
    WebhookEndpointSerializer,
    WebhookPingSerializer,
)

TAG = ["webhooks"]
SIGNING = (
    "Each event is `POST`ed to the URL with `Content-Type: application/json`, `Lenme-Event-Id` and "
    '`Lenme-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret as UTF-8, "<t>.<raw body>")>`; the body '
    '`{"id", "type", "created_at", "data": {"notification", "loan"}}` is fixed when the event is made. Any 2xx '
    "within LENME_WEBHOOK_TIMEOUT seconds is success; redirects are not followed; anything else is retried "
    "with the same id and body after LENME_WEBHOOK_BACKOFF * 2^(attempt-1) seconds, up to "
    "LENME_WEBHOOK_MAX_ATTEMPTS attempts, then the endpoint is disabled. Events reach an endpoint in order "
    "and at least once (a receiver should de-duplicate on the event id and refuse a `t` older than 300 s)."
)


class WebhookListCreateView(APIView):
    pagination_class = generics.ListAPIView.pagination_class

    @extend_schema(
        tags=TAG,
        summary="The caller's webhook endpoints, newest first (never the secret)",
        responses={200: WebhookEndpointSerializer(many=True), **errors(400)},
    )
    def get(self, request: Request) -> Response:
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.webhook_endpoint_list(user=request.user), request, view=self)
        return paginator.get_paginated_response(WebhookEndpointSerializer(page, many=True).data)

    @extend_schema(
        tags=TAG,
        summary="Create a webhook endpoint (the secret is shown only in this answer)",
        description=SIGNING + "\n\n`events` left out subscribes to every notification kind known when the endpoint is "
        "created; `[]` and `ping` (sent only by the test action) are 400, a repeated kind is kept once. The "
        "URL's host is resolved now and again at every delivery; a name that does not resolve is 400, and so "
        "are URLs with credentials or a fragment. "
        "At most 10 endpoints per user (400, field code `max_endpoints`, beyond). This POST ignores "
        "`Idempotency-Key`, so no replay can show the secret again. The secret is stored encrypted under a "
        "key derived from the server's SECRET_KEY, so neither a database read nor the admin reveals it.",
        request=WebhookEndpointCreateSerializer,
        responses={201: WebhookEndpointCreatedSerializer, **errors(400)},
        examples=[
            OpenApiExample(
                "An endpoint for loan and payment events",
                request_only=True,
                value={"url": "https://hooks.example.com/lenme", "events": ["loan_funded", "payment_received"]},
            )
        ],
    )
    def post(self, request: Request) -> Response:
        data = validated(WebhookEndpointCreateSerializer, request)
        created = services.webhook_endpoint_create(user=request.user, url=data["url"], events=data.get("events"))
        endpoint = created.endpoint
        endpoint.secret = created.secret
        return Response(WebhookEndpointCreatedSerializer(endpoint).data, status=status.HTTP_201_CREATED)


class WebhookDetailView(APIView):
    @extend_schema(
        tags=TAG,
        summary="Delete a webhook endpoint; nothing more is sent to it, not even queued events",
        description="Its queued events and its delivery log are deleted with it. An attempt already in flight "
        "when the endpoint is deleted completes, but is not retried or recorded.",
        responses={204: None, **errors(404)},
    )
    def delete(self, request: Request, endpoint_id: int) -> Response:
        services.webhook_endpoint_delete(endpoint_id=endpoint_id, user=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)


class WebhookTestView(ActionView):
    @extend_schema(
        tags=TAG,
        summary="Queue a ping event to the endpoint, whatever it subscribes to",
        description='Answers 202 with the queued event\'s `{id, type: "ping"}`; the ping is signed and sent like '
        'any event (`data` is `{"notification": null, "loan": null}`). To a disabled endpoint it waits in the '
        "queue, and enabling the endpoint drops it.",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={202: WebhookPingSerializer, **errors(404, idempotent=True)},
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def precheck(self, request: Request, endpoint_id: int) -> None:
        selectors.webhook_endpoint_get(endpoint_id=endpoint_id, user=request.user)

    def act(self, request: Request, endpoint_id: int) -> Response:
        event = services.webhook_endpoint_ping(endpoint_id=endpoint_id, user=request.user)
        return Response({"id": event.event_id, "type": event.type}, status=status.HTTP_202_ACCEPTED)


class WebhookEnableView(ActionView):
    @extend_schema(
        tags=TAG,
        summary="Enable an endpoint again; what was queued for it while disabled is dropped",
        request=None,
        parameters=[IDEMPOTENCY_KEY],
        responses={200: WebhookEndpointSerializer, **errors(404, idempotent=True)},
    )
    def post(self, request: Request, *args, **kwargs):
        return super().post(request, *args, **kwargs)

    def precheck(self, request: Request, endpoint_id: int) -> None:
        selectors.webhook_endpoint_get(endpoint_id=endpoint_id, user=request.user)

    def act(self, request: Request, endpoint_id: int) -> Response:
        endpoint = services.webhook_endpoint_enable(endpoint_id=endpoint_id, user=request.user)
        return Response(WebhookEndpointSerializer(endpoint).data)


class WebhookDeliveryListView(APIView):
    pagination_class = generics.ListAPIView.pagination_class

    @extend_schema(
        tags=TAG,
        summary="The endpoint's delivery attempts, newest first (one row per attempt)",
        description="`error` says why an attempt failed (HTTP status, timeout, refused address, lost worker). "
        "`status_code` is null when no HTTP answer was received. An attempt whose worker died mid-delivery "
        "is listed as failed (`No result: ...`) and counts towards LENME_WEBHOOK_MAX_ATTEMPTS; the event "
        "is then sent again (at least once: a receiver de-duplicates on the event id).",
        responses={200: WebhookDeliverySerializer(many=True), **errors(404, 400)},
    )
    def get(self, request: Request, endpoint_id: int) -> Response:
        endpoint = selectors.webhook_endpoint_get(endpoint_id=endpoint_id, user=request.user)
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(selectors.webhook_delivery_list(endpoint=endpoint), request, view=self)
        return paginator.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)
