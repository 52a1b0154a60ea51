"""Transactions that retry when the database reports a deadlock, serialization failure or lock timeout."""

import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import OperationalError, connection, transaction

from lenme.errors import Conflict

log = logging.getLogger(__name__)
P = ParamSpec("P")
R = TypeVar("R")

# PostgreSQL SQLSTATEs worth retrying: serialization_failure, deadlock_detected, lock_not_available.
_RETRYABLE_SQLSTATES = {"40001", "40P01", "55P03"}


def _chain(exc: BaseException):
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        yield exc
        exc = exc.__cause__


def is_retryable(exc: BaseException) -> bool:
    """A deadlock, serialization failure or lock timeout (PostgreSQL), or a busy SQLite database."""
    for link in _chain(exc):
        if getattr(link, "sqlstate", None) in _RETRYABLE_SQLSTATES:
            return True
        message = str(link).lower()
        if "database is locked" in message or "database table is locked" in message:
            return True
    return False


def _retrying(func: Callable[P, R], *, atomic: bool) -> Callable[P, R]:
    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if connection.in_atomic_block:
            if not atomic:
                return func(*args, **kwargs)
            with transaction.atomic():
                return func(*args, **kwargs)
        attempts = max(1, settings.LENME_DB_RETRIES)
        for attempt in range(1, attempts + 1):
            committed = []
            try:
                if not atomic:
                    return func(*args, **kwargs)
                with transaction.atomic():
                    # Runs first among the on_commit hooks: an error raised by a later hook (after the
                    # commit) must never re-run a step whose money already moved.
                    transaction.on_commit(functools.partial(committed.append, True))
                    return func(*args, **kwargs)
            except OperationalError as exc:
                if committed or not is_retryable(exc):
                    raise
                log.warning("retrying %s after %s (attempt %d/%d)", func.__qualname__, exc, attempt, attempts)
                if attempt == attempts:
                    raise Conflict() from exc
                # Jittered backoff, so the racers that deadlocked do not collide again in step.
                time.sleep(random.uniform(0, 0.02 * attempt))
        raise AssertionError("unreachable")  # pragma: no cover

    return wrapper


def atomic_retry(func: Callable[P, R]) -> Callable[P, R]:
    """Run func in transaction.atomic(); when it is the outermost transaction, retry retryable failures.

    Nested inside another atomic block the error propagates, so the outermost caller retries the whole
    unit of work (a retry can only restart a whole transaction). After LENME_DB_RETRIES attempts the
    caller gets 409 `conflict`, never a 500.
    """
    return _retrying(func, atomic=True)


def statement_retry(func: Callable[P, R]) -> Callable[P, R]:
    """atomic_retry for a func that is atomic by itself (one SQL statement, or its own atomic block).

    Outside a transaction it runs in autocommit, which spares the BEGIN and COMMIT round trips; inside
    one it joins it without a savepoint (a failed statement fails the enclosing transaction, which its
    owner retries). Retryable failures are retried the same way, then answered 409 `conflict`.
    """
    return _retrying(func, atomic=False)


def use_sqlite_parameter_limit(sender, connection, **kwargs) -> None:
    """Django assumes SQLite's old 999-parameter limit and splits bulk inserts to fit it; modern SQLite
    allows far more, so a 360-row schedule is one INSERT there too (as on PostgreSQL)."""
    if connection.vendor == "sqlite":
        import sqlite3

        limit = connection.connection.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        connection.features.__dict__["max_query_params"] = limit
