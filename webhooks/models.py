"""Webhook endpoints, the outbox of events to send them, one row per delivery attempt, and the outbox
of notification emails. Rows of both outboxes are written in the transaction of the change they report."""

from django.conf import settings
from django.db import models
from django.utils import timezone


class WebhookEndpoint(models.Model):
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="webhook_endpoints")
    url = models.CharField(max_length=2000)
    events = models.JSONField(default=list)
    # The signing secret sealed with a key derived from SECRET_KEY (webhooks.crypto): a database read
    # alone does not reveal it, and the service can still sign with it.
    secret_sealed = models.TextField(editable=False)
    enabled = models.BooleanField(default=True)
    disabled_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "-id"])]

    def __str__(self) -> str:
        return f"Webhook #{self.pk} of {self.user_id}"


class OutboxStatus(models.TextChoices):
    PENDING = "PENDING"
    DELIVERED = "DELIVERED"  # for emails: sent
    FAILED = "FAILED"  # every attempt failed
    DROPPED = "DROPPED"  # queued while its endpoint was disabled, dropped when it was enabled again


class WebhookEvent(models.Model):
    """One event for one endpoint. Its body is fixed here; every attempt sends it again, re-signed."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="outbox")
    event_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=32)
    body = models.TextField()
    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    # A worker claims the endpoint's oldest PENDING event by setting a lease; if it dies mid-delivery,
    # the lease expires and the event is claimed (and sent) again.
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["endpoint", "status", "id"]),
            models.Index(fields=["status", "next_attempt_at"]),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.event_id}"


class WebhookDelivery(models.Model):
    """One attempt to deliver an event: what the endpoint answered, or why it could not be reached."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="deliveries")
    event = models.ForeignKey(WebhookEvent, on_delete=models.CASCADE, related_name="deliveries")
    attempt = models.PositiveIntegerField()
    status_code = models.PositiveIntegerField(null=True, blank=True)
    ok = models.BooleanField(default=False)
    error = models.CharField(max_length=500, blank=True, default="")
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["endpoint", "-id"])]
        verbose_name_plural = "webhook deliveries"

    def __str__(self) -> str:
        return f"Delivery #{self.pk} (attempt {self.attempt})"


class NotificationEmail(models.Model):
    """The email of one notification, sent by a worker or the sweep after the change committed."""

    notification = models.OneToOneField("loans.Notification", on_delete=models.CASCADE, related_name="email")
    status = models.CharField(max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]

    def __str__(self) -> str:
        return f"Email of notification {self.notification_id}"
