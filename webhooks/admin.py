"""Admin: webhook endpoints and their delivery attempts, read-only, so an operator can see why a
customer's webhooks fail. The sealed secret is never shown."""

from django.contrib import admin

from accounts.admin import ReadOnlyAdmin
from webhooks.models import NotificationEmail, WebhookDelivery, WebhookEndpoint, WebhookEvent


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "url", "enabled", "disabled_at", "created_at")
    list_select_related = ("user",)
    list_filter = ("enabled", "created_at")
    search_fields = ("id__exact", "user__username", "url")
    fields = ("user", "url", "events", "enabled", "disabled_at", "created_at")  # never secret_sealed
    readonly_fields = fields


@admin.register(WebhookEvent)
class WebhookEventAdmin(ReadOnlyAdmin):
    list_display = ("id", "event_id", "type", "endpoint", "status", "attempts", "next_attempt_at", "created_at")
    list_filter = ("status", "type", "created_at")
    search_fields = ("event_id", "endpoint__id__exact", "endpoint__user__username")
    fields = (
        "event_id",
        "endpoint",
        "type",
        "status",
        "attempts",
        "next_attempt_at",
        "lease_until",
        "created_at",
        "finished_at",
        "body",
    )
    readonly_fields = fields


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = ("id", "endpoint", "event", "attempt", "status_code", "ok", "error", "duration_ms", "created_at")
    list_select_related = ("endpoint", "event")
    list_filter = ("ok", "status_code", "created_at")
    search_fields = ("endpoint__id__exact", "endpoint__user__username", "event__event_id")
    fields = ("endpoint", "event", "attempt", "status_code", "ok", "error", "duration_ms", "created_at")
    readonly_fields = fields


@admin.register(NotificationEmail)
class NotificationEmailAdmin(ReadOnlyAdmin):
    list_display = ("id", "notification", "status", "attempts", "next_attempt_at", "sent_at")
    list_filter = ("status",)
    fields = ("notification", "status", "attempts", "next_attempt_at", "sent_at", "created_at")
    readonly_fields = fields
