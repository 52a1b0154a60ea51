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
so it is never taken over (SQLite serializes write transactions anyway).

PostgreSQL claims the key inside the action's transaction instead (TransactionClaim), which spares
the claim's own commit and the lock statement: the first statement of the transaction takes a
session advisory lock on (user, key) without waiting and inserts the IN_FLIGHT row. A duplicate that
finds the lock taken reads the key's committed record: a finished request's (its lock's holder is
then only another repeat reading it) is replayed, or 422 for another body; otherwise the first is
still executing: 409 `idempotency_in_flight` at once, whatever its body (its row is not visible
yet). The lock is held until the response is stored: with the action's commit, or after its
rollback for a stored 4xx. A first request that dies takes its lock and its uncommitted row with
it, so its key is free as soon as the database notices.
"""

import hashlib
import json
import logging
import re
from datetime import timedelta
from decimal import Decimal

from django.conf import settings
from django.db import Error, OperationalError, connection, transaction
from django.http import HttpResponse
from django.utils import timezone

from accounts.models import IdempotencyRecord
from lenme.api.errors import IdempotencyInFlight, IdempotencyKeyReused, ValidationFailed
from lenme.locks import lock_idempotency_record, lock_idempotency_record_nowait

log = logging.getLogger(__name__)

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


def claims_in_transaction() -> bool:
    """Whether a key is claimed by the action's own transaction (PostgreSQL's advisory locks)."""
    return connection.vendor == "postgresql"


def _lock_id(user_id: int, key: str) -> int:
    """The advisory lock's 64-bit id for (user, key); a collision can only answer 409 in flight."""
    digest = hashlib.blake2b(f"lenme-idempotency\n{user_id}\n{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


class TransactionClaim:
    """PostgreSQL: the key claimed by the action's own transaction (see the module's docstring).

    begin() runs first in the transaction (again on each retry of it); then exactly one of store()
    (in the transaction, the action's response), store_after_rollback() (its 4xx once it rolled back)
    or release() (nothing stored) ends the claim and gives the lock back.
    """

    def __init__(self, *, user, key: str, fingerprint: str) -> None:
        self.user, self.key, self.fingerprint = user, key, fingerprint
        self.lock_id = _lock_id(user.pk, key)
        self.held: bool | None = False  # our session holds the advisory lock (None: unknown)
        self.record_id: int | None = None

    def begin(self) -> HttpResponse | None:
        """Claim the key (None: ours, execute), or answer with the stored response, or refuse."""
        table = IdempotencyRecord._meta.db_table
        State = IdempotencyRecord.State
        for _ in range(4):
            now = timezone.now()
            if self.held is None:  # an earlier claim statement failed: whether it took the lock is unknown
                self._unlock_all()
            lock = "SELECT true AS got" if self.held else "SELECT pg_try_advisory_lock(%s) AS got"
            taking, self.held = not self.held, None  # if the statement fails, the lock is unknown
            with connection.cursor() as cursor:
                cursor.execute(
                    f"WITH lock AS ({lock}), ins AS (INSERT INTO {table} (user_id, key, fingerprint, state, "  # noqa: S608
                    "locked_at, response_content_type, created_at) SELECT %s::bigint, %s::varchar, %s::varchar, "
                    "%s::varchar, %s::timestamptz, '', %s::timestamptz FROM lock WHERE got "
                    "ON CONFLICT (user_id, key) DO NOTHING RETURNING id) SELECT got, (SELECT id FROM ins) FROM lock",
                    [
                        *([self.lock_id] if taking else []),
                        self.user.pk,
                        self.key,
                        self.fingerprint,
                        State.IN_FLIGHT,
                        now,
                        now,
                    ],
                )
                got, record_id = cursor.fetchone()
            self.held = bool(got)
            if record_id is not None:
                self.record_id = record_id
                return None
            # Another request holds the key (its lock), or a committed record does: read the record,
            # and give the lock back if we took it, in one statement.
            unlock = "pg_advisory_unlock(%s)" if got else "%s::bigint"
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT {unlock}, r.id, r.fingerprint, r.state, r.locked_at, r.created_at, "  # noqa: S608
                    "r.response_status, r.response_body, r.response_content_type "
                    f"FROM (SELECT 1) one LEFT JOIN {table} r ON r.user_id = %s AND r.key = %s",
                    [self.lock_id, self.user.pk, self.key],
                )
                _, pk, fingerprint, state, locked_at, created_at, status, body, content_type = cursor.fetchone()
            self.held = False
            expired = pk is not None and created_at < now - timedelta(seconds=settings.LENME_IDEMPOTENCY_TTL)
            stored = IdempotencyRecord(
                fingerprint=fingerprint, state=state, response_status=status, response_body=body,
                response_content_type=content_type,
            )  # fmt: skip
            if not got:
                # Locked by another request: one executing it (nothing committed yet, or a record
                # it is replacing), or one merely reading a finished request's record, as we do.
                if pk is None or expired or state != State.DONE:
                    raise IdempotencyInFlight()
                return self._answer(stored)
            if pk is None:
                continue  # deleted (expired) meanwhile: claim it again
            if expired:
                IdempotencyRecord.objects.filter(pk=pk, created_at=created_at).delete()
                continue  # expired: the key is free again
            if fingerprint != self.fingerprint or state == State.DONE:
                return self._answer(stored)
            # IN_FLIGHT and committed: written by the autocommitted claim (SQLite's way, or before this one).
            if locked_at > now - timedelta(seconds=settings.LENME_IDEMPOTENCY_LOCK_SECONDS):
                raise IdempotencyInFlight()
            IdempotencyRecord.objects.filter(pk=pk, state=State.IN_FLIGHT, locked_at=locked_at).delete()
        raise IdempotencyInFlight()

    def _answer(self, record: IdempotencyRecord) -> HttpResponse:
        """A finished request's record: 422 for another request, else its response replayed."""
        if record.fingerprint != self.fingerprint:
            raise IdempotencyKeyReused()
        return replay(record)

    def _unlock_all(self) -> None:
        """Drop whatever advisory lock this session holds (only claims take them, one at a time)."""
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock_all()")
        self.held = False

    def store(self, *, status: int, body: bytes, content_type: str) -> None:
        """In the action's transaction: its final response on our row; the lock is given back with it
        (a duplicate then waits only for this commit, on our row, and replays it)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH s AS (UPDATE {IdempotencyRecord._meta.db_table} SET state = %s, response_status = %s, "  # noqa: S608
                "response_body = %s, response_content_type = %s WHERE id = %s RETURNING id) "
                "SELECT (SELECT count(*) FROM s), pg_advisory_unlock(%s)",
                [IdempotencyRecord.State.DONE, status, bytes(body), content_type, self.record_id, self.lock_id],
            )
            stored, _ = cursor.fetchone()
        self.held = False
        if stored != 1:  # pragma: no cover - our own row, inserted by this transaction
            raise IdempotencyInFlight("Another request with this Idempotency-Key took it over.")

    def forget(self) -> None:
        """In the action's transaction: nothing is to be stored (a 400 or 5xx answered without raising)."""
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH d AS (DELETE FROM {IdempotencyRecord._meta.db_table} WHERE id = %s RETURNING id) "  # noqa: S608
                "SELECT (SELECT count(*) FROM d), pg_advisory_unlock(%s)",
                [self.record_id, self.lock_id],
            )
        self.held = False

    def store_after_rollback(self, *, status: int, body: bytes, content_type: str) -> None:
        """The action raised and rolled back (our row with it); we still hold the lock, so nobody has
        claimed the key meanwhile: store its 4xx as a DONE record and give the lock back."""
        now = timezone.now()
        with connection.cursor() as cursor:
            cursor.execute(
                f"WITH i AS (INSERT INTO {IdempotencyRecord._meta.db_table} (user_id, key, fingerprint, state, "  # noqa: S608
                "locked_at, response_status, response_body, response_content_type, created_at) "
                "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s) ON CONFLICT (user_id, key) DO UPDATE SET "
                # The record our rolled-back transaction had deleted to take the key over (expired, or
                # a dead IN_FLIGHT claim) is back: replace it, as the deletion meant to.
                "fingerprint = EXCLUDED.fingerprint, state = EXCLUDED.state, locked_at = EXCLUDED.locked_at, "
                "response_status = EXCLUDED.response_status, response_body = EXCLUDED.response_body, "
                "response_content_type = EXCLUDED.response_content_type, created_at = EXCLUDED.created_at "
                f"WHERE {IdempotencyRecord._meta.db_table}.created_at < %s "
                f"OR {IdempotencyRecord._meta.db_table}.state = %s RETURNING id) "
                "SELECT (SELECT count(*) FROM i), pg_advisory_unlock(%s)",
                [
                    self.user.pk,
                    self.key,
                    self.fingerprint,
                    IdempotencyRecord.State.DONE,
                    now,
                    status,
                    bytes(body),
                    content_type,
                    now,
                    now - timedelta(seconds=settings.LENME_IDEMPOTENCY_TTL),
                    IdempotencyRecord.State.IN_FLIGHT,
                    self.lock_id,
                ],
            )
        self.held = False

    def release(self) -> None:
        """Give the lock back with nothing stored (400, 5xx, a lost race), so a retry executes afresh."""
        if self.held is False:
            return
        unknown, self.held = self.held is None, False
        try:
            if unknown:  # the claim statement failed: it may or may not have taken the lock
                self._unlock_all()
                return
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s)", [self.lock_id])
        except Error:  # the connection broke: the server dropped its locks with the session
            log.warning("could not release an idempotency lock; its session has ended", exc_info=True)


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
