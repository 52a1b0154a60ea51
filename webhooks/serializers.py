"""Webhook endpoint input and output; the secret appears only in the create answer."""

from rest_framework import serializers

from lenme.api.fields import StrictCharField
from webhooks.models import WebhookDelivery, WebhookEndpoint
from webhooks.ssrf import MAX_URL_LENGTH


class WebhookEndpointCreateSerializer(serializers.Serializer):
    url = StrictCharField(
        max_length=MAX_URL_LENGTH,
        trim_whitespace=False,
        help_text="https URL (plain http only with LENME_WEBHOOK_ALLOW_PRIVATE), at most 2000 characters; "
        "a host that is or resolves to a loopback, private, link-local, multicast, reserved or unspecified "
        "address is 400.",
    )
    events = serializers.ListField(
        child=StrictCharField(),
        required=False,
        allow_empty=False,
        max_length=50,
        help_text="Notification kinds to receive (default: all). An unknown kind is 400.",
    )

    def validate_events(self, value: list[str]) -> list[str]:
        from webhooks.services import webhook_kinds

        known = webhook_kinds()
        unknown = [kind for kind in value if kind not in known]
        if unknown:
            raise serializers.ValidationError(
                f"Unknown event kind {unknown[0]!r}; known: {', '.join(known)}.", code="invalid_choice"
            )
        return list(dict.fromkeys(value))


class WebhookEndpointSerializer(serializers.ModelSerializer):
    events = serializers.ListField(child=serializers.CharField())

    class Meta:
        model = WebhookEndpoint
        fields = ["id", "url", "events", "enabled", "created_at"]
        read_only_fields = fields


class WebhookEndpointCreatedSerializer(WebhookEndpointSerializer):
    secret = serializers.CharField(
        help_text="The signing secret (at least 32 random bytes as text). Shown only in this answer: store it now."
    )

    class Meta(WebhookEndpointSerializer.Meta):
        fields = ["id", "url", "events", "secret", "enabled", "created_at"]
        read_only_fields = fields


class WebhookPingSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="The event id of the queued ping (its `Lenme-Event-Id`).")
    type = serializers.CharField()


class WebhookDeliverySerializer(serializers.ModelSerializer):
    event_id = serializers.CharField(source="event.event_id")
    event_type = serializers.CharField(source="event.type")

    class Meta:
        model = WebhookDelivery
        fields = ["id", "event_id", "event_type", "attempt", "status_code", "ok", "error", "created_at"]
        read_only_fields = fields
