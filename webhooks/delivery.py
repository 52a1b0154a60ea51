"""Sending the outboxes: webhook events per endpoint, in order, at least once; notification emails.

A worker (Celery task or the sweep) claims an endpoint's oldest PENDING event in a short transaction
(the endpoint row locked with SKIP LOCKED, so two workers never claim the same endpoint at once),
setting a lease, then sends it outside any transaction and records the result under the lease token.
A worker that dies mid-delivery leaves the lease to expire: the event is claimed and sent again
(the lost attempt is recorded and counted), and nothing later is sent to that endpoint before it.
Lock order, everywhere: endpoint, then its events.
"""

import contextlib
import http.client
import logging
import socket
import ssl
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.core.mail import send_mail
from django.db import connection, connections, transaction
from django.utils import timezone

from webhooks import crypto, ssrf
from webhooks.models import NotificationEmail, OutboxStatus, WebhookDelivery, WebhookEndpoint, WebhookEvent

log = logging.getLogger(__name__)

MAX_RESPONSE_BYTES = 64 * 1024  # what we read of an answer; the rest is discarded unread
USER_AGENT = "Lenme-Webhooks/1"


def lease_seconds() -> int:
    """Longer than any one attempt can take (connect, send, read, each bounded by the timeout)."""
    return 3 * settings.LENME_WEBHOOK_TIMEOUT + 30


def backoff(attempt: int) -> timedelta:
    return timedelta(seconds=settings.LENME_WEBHOOK_BACKOFF * 2 ** (attempt - 1))


# Sending ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Result:
    ok: bool
    status_code: int | None = None
    error: str = ""
    duration_ms: int = 0


class _PinnedHTTPConnection(http.client.HTTPConnection):
    """Connects to the vetted address; the Host header still names the URL's host."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the vetted address; TLS verifies the certificate for the URL's host name."""

    def __init__(self, host: str, port: int, *, address: str, timeout: float):
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)


def send(*, url: str, secret: str, event_id: str, body: str) -> Result:
    """One POST of the event: vetted again now, signed now, no redirects, the answer's body capped."""
    started = time.monotonic()
    timeout = settings.LENME_WEBHOOK_TIMEOUT
    try:
        target = ssrf.parse(url)
        address = ssrf.resolve(target)
    except ssrf.UnsafeURL as exc:
        return Result(ok=False, error=f"Refused: {exc}")
    raw = body.encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Lenme-Event-Id": event_id,
        "Lenme-Signature": crypto.signature_header(secret, int(time.time()), raw),
    }
    cls = _PinnedHTTPSConnection if target.scheme == "https" else _PinnedHTTPConnection
    conn = cls(target.host, target.port, address=address, timeout=timeout)
    # The socket timeout bounds each read; this bounds the whole attempt, so an endpoint that drips its
    # answer cannot outlive the lease (which would let a second worker send the event alongside).
    cut = threading.Event()

    def cut_off() -> None:
        cut.set()
        if conn.sock is not None:
            with contextlib.suppress(OSError):
                conn.sock.shutdown(socket.SHUT_RDWR)

    watchdog = threading.Timer(timeout, cut_off)
    watchdog.daemon = True
    watchdog.start()
    try:
        conn.request("POST", target.path, body=raw, headers=headers)
        response = conn.getresponse()
        response.read(MAX_RESPONSE_BYTES)  # http.client never follows redirects: a 3xx is a failure
        status = response.status
    except (OSError, http.client.HTTPException, ValueError) as exc:
        error = f"No answer within {timeout} s." if cut.is_set() else _describe(exc)
        return Result(ok=False, error=error[:500], duration_ms=_ms(started))
    finally:
        watchdog.cancel()
        conn.close()
    elapsed = _ms(started)
    if elapsed > timeout * 1000:
        return Result(ok=False, status_code=status, error=f"No answer within {timeout} s.", duration_ms=elapsed)
    if not 200 <= status < 300:
        return Result(ok=False, status_code=status, error=f"HTTP {status}", duration_ms=elapsed)
    return Result(ok=True, status_code=status, duration_ms=elapsed)


def _describe(exc: Exception) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return f"No answer within {settings.LENME_WEBHOOK_TIMEOUT} s."
    return f"{type(exc).__name__}: {exc}"


def _ms(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


# Claiming and recording -------------------------------------------------------------------------


@dataclass(frozen=True)
class Claim:
    endpoint_id: int
    event_pk: int
    event_id: str
    attempt: int
    token: str
    url: str
    sealed_secret: str
    body: str


def _lock_endpoint(endpoint_id: int, *, skip_locked: bool) -> WebhookEndpoint | None:
    return (
        WebhookEndpoint.objects.select_for_update(skip_locked=skip_locked).filter(pk=endpoint_id, enabled=True).first()
    )


def _disable(endpoint: WebhookEndpoint, now) -> None:
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.save(update_fields=["enabled", "disabled_at"])
    log.warning(
        "webhook endpoint %s disabled after %s failed attempts", endpoint.pk, settings.LENME_WEBHOOK_MAX_ATTEMPTS
    )


def claim(endpoint_id: int, *, skip: set[int] = frozenset()) -> Claim | None:
    """Lease the endpoint's oldest PENDING event if it is due and not leased; None otherwise."""
    with transaction.atomic():
        endpoint = _lock_endpoint(endpoint_id, skip_locked=True)
        if endpoint is None:
            return None  # disabled, deleted, or another worker is claiming it right now
        head = endpoint.outbox.filter(status=OutboxStatus.PENDING).order_by("pk").first()
        now = timezone.now()
        if head is None or head.pk in skip or head.next_attempt_at > now:
            return None
        if head.lease_until is not None:
            if head.lease_until > now:
                return None  # being delivered by another worker
            # That worker died mid-delivery: the attempt may or may not have arrived; send it again.
            WebhookDelivery.objects.create(
                endpoint=endpoint,
                event=head,
                attempt=head.attempts,
                ok=False,
                error="No result: the worker was lost mid-delivery; the event is sent again.",
            )
            if head.attempts >= settings.LENME_WEBHOOK_MAX_ATTEMPTS:
                _finish(head, OutboxStatus.FAILED, now)
                _disable(endpoint, now)
                return None
        head.attempts += 1
        head.lease_token = uuid.uuid4().hex
        head.lease_until = now + timedelta(seconds=lease_seconds())
        head.save(update_fields=["attempts", "lease_token", "lease_until"])
        return Claim(
            endpoint_id=endpoint.pk,
            event_pk=head.pk,
            event_id=head.event_id,
            attempt=head.attempts,
            token=head.lease_token,
            url=endpoint.url,
            sealed_secret=endpoint.secret_sealed,
            body=head.body,
        )


def _finish(event: WebhookEvent, status: str, now) -> None:
    event.status = status
    event.finished_at = now
    event.lease_until = None
    event.lease_token = ""
    event.save(update_fields=["status", "finished_at", "lease_until", "lease_token"])


def record(c: Claim, result: Result) -> None:
    """Store the attempt's outcome, unless the event is no longer ours (endpoint deleted or
    re-enabled, lease lost): then the newer state wins."""
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=c.endpoint_id).first()
        event = (
            WebhookEvent.objects.select_for_update()
            .filter(pk=c.event_pk, lease_token=c.token, status=OutboxStatus.PENDING)
            .first()
        )
        if endpoint is None or event is None:
            return
        WebhookDelivery.objects.create(
            endpoint=endpoint,
            event=event,
            attempt=c.attempt,
            status_code=result.status_code,
            ok=result.ok,
            error=result.error,
            duration_ms=result.duration_ms,
        )
        now = timezone.now()
        if result.ok:
            _finish(event, OutboxStatus.DELIVERED, now)
        elif c.attempt >= settings.LENME_WEBHOOK_MAX_ATTEMPTS:
            _finish(event, OutboxStatus.FAILED, now)
            if endpoint.enabled:
                _disable(endpoint, now)
        else:
            event.next_attempt_at = now + backoff(c.attempt)
            event.lease_until = None
            event.lease_token = ""
            event.save(update_fields=["next_attempt_at", "lease_until", "lease_token"])


def attempt(c: Claim) -> Result:
    try:
        secret = crypto.unseal(c.sealed_secret)
    except crypto.SecretUnreadable as exc:
        return Result(ok=False, error=str(exc))
    result = send(url=c.url, secret=secret, event_id=c.event_id, body=c.body)
    log.info(
        "webhook %s to endpoint %s attempt %s: %s",
        c.event_id,
        c.endpoint_id,
        c.attempt,
        "ok" if result.ok else (result.error or result.status_code),
    )
    return result


def deliver_endpoint(endpoint_id: int) -> int:
    """Send what is due to one endpoint, in order, each event at most once; the attempts made."""
    seen: set[int] = set()
    while (c := claim(endpoint_id, skip=seen)) is not None:
        seen.add(c.event_pk)
        record(c, attempt(c))
    return len(seen)


def next_due(endpoint_id: int):
    """When the endpoint's head event is next due (None: nothing pending or endpoint disabled)."""
    head = (
        WebhookEvent.objects.filter(endpoint_id=endpoint_id, endpoint__enabled=True, status=OutboxStatus.PENDING)
        .order_by("pk")
        .values("next_attempt_at", "lease_until")
        .first()
    )
    if head is None:
        return None
    return max(head["next_attempt_at"], head["lease_until"] or head["next_attempt_at"])


def _in_own_thread(endpoint_id: int) -> int:
    try:
        return deliver_endpoint(endpoint_id)
    except Exception:
        log.exception("webhook delivery to endpoint %s failed; the next sweep retries it", endpoint_id)
        return 0
    finally:
        connections.close_all()  # this thread's connections only


def deliver_due() -> int:
    """Sweep rule 7 (webhooks): every endpoint with something due, each in its own worker thread so a
    slow endpoint holds up only itself; each event at most once. The attempts made."""
    now = timezone.now()
    endpoint_ids = list(
        WebhookEvent.objects.filter(status=OutboxStatus.PENDING, endpoint__enabled=True, next_attempt_at__lte=now)
        .values_list("endpoint_id", flat=True)
        .distinct()
        .order_by("endpoint_id")
    )
    workers = max(1, settings.LENME_WEBHOOK_WORKERS)
    if workers == 1 or len(endpoint_ids) <= 1 or connection.in_atomic_block:
        # Inline (also inside a test's transaction, which other threads could not see).
        total = 0
        for endpoint_id in endpoint_ids:
            try:
                total += deliver_endpoint(endpoint_id)
            except Exception:
                log.exception("webhook delivery to endpoint %s failed; the next sweep retries it", endpoint_id)
        return total
    with ThreadPoolExecutor(max_workers=min(workers, len(endpoint_ids)), thread_name_prefix="webhook") as pool:
        return sum(pool.map(_in_own_thread, endpoint_ids))


# Emails -----------------------------------------------------------------------------------------


def emails_send_due(*, batch: int = 100) -> int:
    """Sweep rule 7 (emails): send the notification emails that are due; the number sent."""
    sent = 0
    seen: set[int] = set()
    while True:
        claimed = _claim_emails(batch, seen)
        if not claimed:
            return sent
        for email_pk, token, attempts in claimed:
            seen.add(email_pk)
            sent += _send_email(email_pk, token, attempts)


def _claim_emails(batch: int, seen: set[int]) -> list[tuple[int, str, int]]:
    from django.db.models import Q

    with transaction.atomic():
        now = timezone.now()
        rows = list(
            NotificationEmail.objects.select_for_update(skip_locked=True)
            .filter(status=OutboxStatus.PENDING, next_attempt_at__lte=now)
            .filter(Q(lease_until__isnull=True) | Q(lease_until__lte=now))
            .exclude(pk__in=seen)
            .order_by("pk")[:batch]
        )
        claimed = []
        for row in rows:
            row.attempts += 1
            row.lease_token = uuid.uuid4().hex
            row.lease_until = now + timedelta(seconds=lease_seconds())
            row.save(update_fields=["attempts", "lease_token", "lease_until"])
            claimed.append((row.pk, row.lease_token, row.attempts))
        return claimed


def _send_email(email_pk: int, token: str, attempts: int) -> int:
    email = NotificationEmail.objects.select_related("notification__user").get(pk=email_pk)
    notification = email.notification
    notification_user = notification.user
    ok = True
    if not notification_user.email:  # no address (any more): nothing to send
        NotificationEmail.objects.filter(pk=email_pk, lease_token=token).update(
            status=OutboxStatus.DROPPED, lease_until=None, lease_token=""
        )
        return 0
    if notification_user.email:
        try:
            send_mail(
                f"Lenme: {notification.kind.replace('_', ' ')}",
                notification.message,
                settings.DEFAULT_FROM_EMAIL,
                [notification_user.email],
            )
        except Exception:
            ok = False
            log.exception("could not email notification %s to user %s", notification.kind, notification_user.pk)
    now = timezone.now()
    owned = NotificationEmail.objects.filter(pk=email_pk, lease_token=token, status=OutboxStatus.PENDING)
    if ok:
        owned.update(status=OutboxStatus.DELIVERED, sent_at=now, lease_until=None, lease_token="")
        return 1
    if attempts >= settings.LENME_WEBHOOK_MAX_ATTEMPTS:
        owned.update(status=OutboxStatus.FAILED, lease_until=None, lease_token="")
    else:
        owned.update(next_attempt_at=now + backoff(attempts), lease_until=None, lease_token="")
    return 0
