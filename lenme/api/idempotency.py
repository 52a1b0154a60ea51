"""Idempotency-Key handling: store the first response of a POST per (user, key) and replay it.

The record is created (committed) before the operation runs, so a duplicate that arrives meanwhile
sees it in flight and gets 409 at once. On success the final response is stored in the same database
transaction as the money step, so a crash can never leave money moved without its stored response.
A 4xx other than 400 is stored after the (rolled back) operation; 400s and 5xx are not stored.
"""

import hashlib
import json
import re
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponse
from django.utils import timezone

from accounts.models import IdempotencyRecord
from lenme.api.errors import IdempotencyInFlight, IdempotencyKeyReused, ValidationFailed

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_VALID_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")


def _canonical(value: object) -> object:
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def request_fingerprint(*, method: str, full_path: str, data: object) -> str:
    body = json.dumps(_canonical(data), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(f"{method}\n{full_path}\n{body}".encode()).hexdigest()


def validate_key(raw: str) -> str:
    if not _VALID_KEY.match(raw):
        raise ValidationFailed.field(HEADER, "Idempotency-Key must be 1 to 255 visible ASCII characters.", "invalid")
    return raw


def replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""), status=record.response_status, content_type=record.response_content_type
    )
    response[REPLAYED_HEADER] = "true"
    return response


def idempotency_begin(*, user, key: str, fingerprint: str) -> IdempotencyRecord | HttpResponse:
    """Claim the key for this request, or answer with the stored response, or refuse."""
    now = timezone.now()
    for _ in range(3):
        try:
            with transaction.atomic():
                return IdempotencyRecord.objects.create(user=user, key=key, fingerprint=fingerprint, locked_at=now)
        except IntegrityError:
            pass
        record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is None:
            continue  # purged or freed between our insert and read: claim it again
        if record.created_at < now - timedelta(seconds=settings.LENME_IDEMPOTENCY_TTL):
            IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
            continue
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if record.state == IdempotencyRecord.State.DONE:
            return replay(record)
        stale_before = now - timedelta(seconds=settings.LENME_IDEMPOTENCY_LOCK_SECONDS)
        if record.locked_at > stale_before:
            raise IdempotencyInFlight()
        # The first request died mid-flight (its transaction rolled back): take the key over.
        claimed = IdempotencyRecord.objects.filter(
            pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT, locked_at=record.locked_at
        ).update(locked_at=now)
        if claimed:
            record.locked_at = now
            return record
        raise IdempotencyInFlight()
    raise IdempotencyInFlight()


def idempotency_finish(record: IdempotencyRecord, *, status: int, body: bytes, content_type: str) -> None:
    """Store the final response, or free the key when the response is one a retry must re-execute."""
    if status == 400 or status >= 500:
        IdempotencyRecord.objects.filter(pk=record.pk, locked_at=record.locked_at).delete()
        return
    IdempotencyRecord.objects.filter(pk=record.pk).update(
        state=IdempotencyRecord.State.DONE,
        response_status=status,
        response_body=body,
        response_content_type=content_type,
    )


def idempotency_purge(*, older_than: timedelta | None = None) -> int:
    cutoff = timezone.now() - (older_than or timedelta(seconds=settings.LENME_IDEMPOTENCY_TTL))
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
