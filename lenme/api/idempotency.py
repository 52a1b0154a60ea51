"""Idempotency-Key handling: store the first response of a POST per (user, key) and replay it.

Lifecycle of a record (accounts.models.IdempotencyRecord):
1. idempotency_begin claims the key with a committed IN_FLIGHT row before the action runs (one
   INSERT ... ON CONFLICT DO NOTHING), so a duplicate that arrives meanwhile finds it and gets 409
   `idempotency_in_flight` at once.
2. The action runs in one transaction that first locks that row (idempotency_hold), then does the money
   step, then stores the final response (idempotency_finish): the money moves if and only if the
   response is stored, so a crash can never leave money moved without its replayable response.
3. A 4xx other than 400 (the action rolled back) is stored afterwards; a 400, a 5xx or a lost race
   (409 `conflict`) frees the key, so a retry executes afresh.
A first request that died leaves an IN_FLIGHT row that nobody holds a lock on: after
LENME_IDEMPOTENCY_LOCK_SECONDS a repeat takes it over. A slow first request still holds its row lock,
so it is never taken over (PostgreSQL; SQLite serializes write transactions anyway).
"""

import hashlib
import json
import re
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import OperationalError, connection, transaction
from django.http import HttpResponse
from django.utils import timezone

from accounts.models import IdempotencyRecord
from lenme.api.errors import IdempotencyInFlight, IdempotencyKeyReused, ValidationFailed
from lenme.locks import lock_idempotency_record, lock_idempotency_record_nowait

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
# 1 to 255 visible ASCII characters: no space, no control character, nothing outside ASCII.
_VALID_KEY = re.compile(r"[\x21-\x7e]{1,255}")


def _number_key(number: Decimal) -> list:
    """A number by value (5000.0 == 5000.00, -0 == 0), exactly and with no arithmetic that could
    overflow or round: sign, significant digits, and the exponent of the last one."""
    if not number.is_finite():  # pragma: no cover - the parser refuses NaN and infinities
        return ["n", str(number)]
    sign, digits, exponent = number.as_tuple()
    digits = list(digits)
    while len(digits) > 1 and digits[-1] == 0:
        digits.pop()
        exponent += 1
    if digits == [0]:
        return ["n", 0, "0", 0]
    return ["n", sign, "".join(map(str, digits)), exponent]


def _canonical(value: object) -> object:
    """The body as parsed data, every node tagged so that no two different bodies share a form.

    Numbers compare by value; strings stay strings. The parser caps nesting, so recursion is bounded.
    """
    if value is None or isinstance(value, bool):
        return ["v", value]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, int | Decimal):
        return _number_key(Decimal(value))
    if isinstance(value, dict):
        return ["o", sorted([str(k), _canonical(v)] for k, v in value.items())]
    if isinstance(value, list | tuple):
        return ["a", [_canonical(v) for v in value]]
    return ["x", repr(value)]  # pragma: no cover - a JSON body holds nothing else


def request_fingerprint(*, method: str, full_path: str, data: object) -> str:
    body = json.dumps(_canonical(data), separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(f"{method}\n{full_path}\n{body}".encode()).hexdigest()


def validate_key(raw: str) -> str:
    if not _VALID_KEY.fullmatch(raw):
        raise ValidationFailed.field(HEADER, "Idempotency-Key must be 1 to 255 visible ASCII characters.", "invalid")
    return raw


def replay(record: IdempotencyRecord) -> HttpResponse:
    response = HttpResponse(
        bytes(record.response_body or b""), status=record.response_status, content_type=record.response_content_type
    )
    response[REPLAYED_HEADER] = "true"
    return response


def _take_over(record: IdempotencyRecord, now) -> IdempotencyRecord | None:
    """Claim a stale IN_FLIGHT record whose request died; None when it is still held or has changed."""
    try:
        with transaction.atomic():
            current = lock_idempotency_record_nowait(record.pk)
            if current is None or current.state != IdempotencyRecord.State.IN_FLIGHT:
                return None
            if current.locked_at != record.locked_at:
                return None
            current.locked_at = now
            current.save(update_fields=["locked_at"])
            return current
    except OperationalError as exc:  # the row is locked: its request is alive and executing
        raise IdempotencyInFlight() from exc


def _claim(*, user, key: str, fingerprint: str, now) -> IdempotencyRecord | None:
    """Insert our IN_FLIGHT record in one autocommitted statement; None when the key already has one.

    INSERT ... ON CONFLICT DO NOTHING never waits behind a request holding its record's row lock.
    """
    table = IdempotencyRecord._meta.db_table
    at = connection.ops.adapt_datetimefield_value(now)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {table} (user_id, key, fingerprint, state, locked_at, response_content_type, created_at) "  # noqa: S608
            "VALUES (%s, %s, %s, %s, %s, '', %s) ON CONFLICT (user_id, key) DO NOTHING RETURNING id",
            [user.pk, key, fingerprint, IdempotencyRecord.State.IN_FLIGHT, at, at],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    return IdempotencyRecord(
        pk=row[0], user=user, key=key, fingerprint=fingerprint, locked_at=now, created_at=now, response_content_type=""
    )


def idempotency_begin(*, user, key: str, fingerprint: str) -> IdempotencyRecord | HttpResponse:
    """Claim the key for this request, or answer with the stored response, or refuse (409 / 422).

    A new key costs one statement; a known one is read without waiting for its request's transaction.
    """
    now = timezone.now()
    for _ in range(4):
        claimed = _claim(user=user, key=key, fingerprint=fingerprint, now=now)
        if claimed is not None:
            return claimed
        record = IdempotencyRecord.objects.filter(user=user, key=key).first()
        if record is None:
            continue  # deleted (expired) meanwhile: claim it again
        if record.created_at < now - timedelta(seconds=settings.LENME_IDEMPOTENCY_TTL):
            IdempotencyRecord.objects.filter(pk=record.pk, created_at=record.created_at).delete()
            continue  # expired: the key is free again
        if record.fingerprint != fingerprint:
            raise IdempotencyKeyReused()
        if record.state == IdempotencyRecord.State.DONE:
            return replay(record)
        if record.locked_at > now - timedelta(seconds=settings.LENME_IDEMPOTENCY_LOCK_SECONDS):
            raise IdempotencyInFlight()
        claimed = _take_over(record, now)
        if claimed is not None:
            return claimed
    raise IdempotencyInFlight()


def idempotency_hold(record: IdempotencyRecord) -> None:
    """Inside the action's transaction: lock our IN_FLIGHT record, or refuse if it is no longer ours."""
    if not lock_idempotency_record(record.pk, locked_at=record.locked_at):
        raise IdempotencyInFlight("Another request with this Idempotency-Key took it over.")


def idempotency_store(record: IdempotencyRecord, *, status: int, body: bytes, content_type: str) -> bool:
    """Store the final response on our IN_FLIGHT record; False when the record is no longer ours.

    One UPDATE written once (what the ORM's filter().update() sends, without compiling it each time)."""
    State = IdempotencyRecord.State
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {IdempotencyRecord._meta.db_table} SET state = %s, response_status = %s, "  # noqa: S608
            "response_body = %s, response_content_type = %s WHERE id = %s AND state = %s AND locked_at = %s",
            [
                State.DONE,
                status,
                bytes(body),
                content_type,
                record.pk,
                State.IN_FLIGHT,
                connection.ops.adapt_datetimefield_value(record.locked_at),
            ],
        )
        return cursor.rowcount == 1


def idempotency_free(record: IdempotencyRecord) -> None:
    """Forget an IN_FLIGHT claim (400, 5xx, lost race), so a retry with the key executes afresh.

    Never touches a DONE record: a response that was stored (money moved) stays replayable.
    """
    IdempotencyRecord.objects.filter(
        pk=record.pk, state=IdempotencyRecord.State.IN_FLIGHT, locked_at=record.locked_at
    ).delete()


def is_stored(status: int) -> bool:
    """Which final responses are kept for replay: everything but 400s and 5xx."""
    return status != 400 and status < 500


def idempotency_purge(*, older_than: timedelta | None = None) -> int:
    """Delete records older than LENME_IDEMPOTENCY_TTL (24 h); returns how many."""
    cutoff = timezone.now() - (
        older_than if older_than is not None else timedelta(seconds=settings.LENME_IDEMPOTENCY_TTL)
    )
    deleted, _ = IdempotencyRecord.objects.filter(created_at__lt=cutoff).delete()
    return deleted
