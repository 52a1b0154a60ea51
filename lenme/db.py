"""Transactions that retry when the database reports a deadlock, serialization failure or lock timeout."""

import contextlib
import contextvars
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import ParamSpec, TypeVar

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, OperationalError, connection, connections, transaction

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
            with transaction.atomic(savepoint=not _joining.get()):
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


# Set by `joined` around a unit of work whose every error rolls back the whole transaction: the
# atomic steps nested in it then join it without a SAVEPOINT (two round trips each, for nothing).
_joining: contextvars.ContextVar[bool] = contextvars.ContextVar("lenme_db_joining", default=False)


@contextlib.contextmanager
def joined():
    """Inside: nested atomic_retry steps join the enclosing transaction without a savepoint. Only for
    a block that lets every exception out of its outermost transaction (nothing catches and carries
    on), so a failed step's partial writes can never be kept."""
    token = _joining.set(True)
    try:
        yield
    finally:
        _joining.reset(token)


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


def _db():
    """This thread's connection to the default database: one lookup, where each attribute read through
    `django.db.connection` (a proxy) is a lookup of its own, a few per field of every row."""
    return connections[DEFAULT_DB_ALIAS]


def insert_sql(objs: list, *, returning: str = "id") -> tuple[str, list]:
    """One `INSERT ... VALUES (...), ... RETURNING <returning>` of unsaved instances of one model, with
    the values bulk_create would write (defaults, auto_now_add, foreign keys); for PostgreSQL
    statements that fold it with others (a data-modifying WITH). The caller sets the returned ids."""
    model = type(objs[0])
    fields = [f for f in model._meta.concrete_fields if not f.primary_key]
    db = _db()
    qn = db.ops.quote_name
    params: list = []
    for obj in objs:
        params += [f.get_db_prep_save(f.pre_save(obj, True), db) for f in fields]
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    sql = (
        f"INSERT INTO {qn(model._meta.db_table)} ({', '.join(qn(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([row] * len(objs))}"
    )
    if returning:
        sql += f" RETURNING {returning}"
    return sql, params


def mark_saved(objs: list, ids) -> None:
    """Set the primary keys an insert_sql statement returned (in VALUES order) on its instances."""
    ids = list(ids)
    if len(ids) != len(objs):  # pragma: no cover - one row per instance, by construction
        raise AssertionError("an insert returned a different number of rows")
    alias = _db().alias
    for obj, pk in zip(objs, sorted(ids), strict=True):
        obj.pk = pk
        obj._state.adding = False
        obj._state.db = alias


@functools.cache
def select_columns(model, alias: str) -> str:
    """`alias.col, ...` for every concrete field of model, in the order instance_from_row reads them."""
    qn = connection.ops.quote_name
    return ", ".join(f"{alias}.{qn(f.column)}" for f in model._meta.concrete_fields)


@functools.cache
def _row_layout(model, vendor: str) -> tuple[int, int, tuple[str, ...], tuple]:
    """What instance_from_row needs of a model, worked out once per model and database vendor: the
    row's width, the primary key's position, the attribute names, and the fields whose values the ORM
    converts (with their converters)."""
    db = _db()
    fields = model._meta.concrete_fields
    converted = []
    for i, f in enumerate(fields):
        column = f.get_col(model._meta.db_table)
        converters = tuple(db.ops.get_db_converters(column) + f.get_db_converters(db))
        if converters:
            converted.append((i, column, converters))
    pk_at = next(i for i, f in enumerate(fields) if f.primary_key)
    return len(fields), pk_at, tuple(f.attname for f in fields), tuple(converted)


def instance_from_row(model, row, start: int = 0):
    """The model instance from row[start:] as select_columns laid it out (the converters the ORM
    would apply included), or None when its primary key is NULL (an outer join found nothing)."""
    db = _db()
    width, pk_at, attnames, converted = _row_layout(model, db.vendor)
    values = list(row[start : start + width])
    if values[pk_at] is None:
        return None
    for i, column, converters in converted:
        for converter in converters:
            values[i] = converter(values[i], column, db)
    return model.from_db(db.alias, attnames, values)


def update_sql(obj, fields: list[str]) -> tuple[str, list]:
    """The `UPDATE <table> SET ... WHERE pk = %s` that obj.save(update_fields=fields) sends (auto_now
    fields stamped by their pre_save), without the ORM's compiler."""
    meta = obj._meta
    db = _db()
    qn = db.ops.quote_name
    targets = [meta.get_field(name) for name in fields]
    params = [f.get_db_prep_save(f.pre_save(obj, False), db) for f in targets]
    sql = (
        f"UPDATE {qn(meta.db_table)} SET {', '.join(f'{qn(f.column)} = %s' for f in targets)} "  # noqa: S608
        f"WHERE {qn(meta.pk.column)} = %s"
    )
    return sql, [*params, obj.pk]


def save_fields(obj, fields: list[str], *, batch: "WriteBatch | None" = None) -> None:
    """`obj.save(update_fields=fields)` as one UPDATE written without the ORM's compiler: the same
    values, and the same error when no row was updated. For models with no save() override and no
    save signals (Loan, Payment). With a batch, the UPDATE joins it (and is checked when it runs)."""
    sql, params = update_sql(obj, fields)
    if batch is not None:
        batch.add(f"{sql} RETURNING {connection.ops.quote_name(obj._meta.pk.column)}", params, then=_one_row_updated)
        return
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        if cursor.rowcount != 1:
            raise DatabaseError("Save with update_fields did not affect any rows.")


def _one_row_updated(ids: list) -> None:
    if len(ids) != 1:
        raise DatabaseError("Save with update_fields did not affect any rows.")


class WriteBatch:
    """PostgreSQL: the writes of a money step sent as one statement (each a part of a data-modifying
    WITH), one round trip instead of one per write.

    Only for writes made while the step holds every lock they need, after its last read: a statement
    reads one snapshot, and its parts do not see each other's changes (a part may read another's
    RETURNING rows by its name). Each part that returns rows gets them (its first column, in order)
    in its `then` callback once the statement ran; a part without `then` returns nothing. Nothing is
    sent before execute(), which the step calls before it reads anything again (or ends).
    """

    def __init__(self) -> None:
        self._parts: list[tuple[str, str, list, Callable | None]] = []

    def add(self, sql: str, params: list, *, then: Callable[[list], None] | None = None, name: str = "") -> str:
        """Add a part (an INSERT/UPDATE/DELETE, RETURNING one column when `then` wants its rows, or a
        SELECT ... FOR UPDATE); returns its name for later parts to read."""
        name = name or f"w{len(self._parts)}"
        self._parts.append((name, sql, list(params), then))
        return name

    def execute(self) -> None:
        parts, self._parts = self._parts, []
        if not parts:
            return
        returning = [(i, name) for i, (name, _, _, then) in enumerate(parts) if then is not None]
        # Names and parts are our callers' SQL, never input (values travel as parameters).
        select = " UNION ALL ".join(f"SELECT {i}, {name}.* FROM {name}" for i, name in returning)  # noqa: S608
        sql = "WITH " + ", ".join(f"{name} AS ({part})" for name, part, _, _ in parts) + f" {select or 'SELECT 0, 0'}"
        params = [p for _, _, part_params, _ in parts for p in part_params]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall() if returning else []
        results: dict[int, list] = {i: [] for i, _ in returning}
        for index, value in rows:
            results[index].append(value)
        for i, _ in returning:
            parts[i][3](results[i])


@contextlib.contextmanager
def write_batch(batch: WriteBatch | None = None):
    """The step's batch to add parts to, or (None) a batch of one's own, executed at the end of the block."""
    if batch is not None:
        yield batch
        return
    own = WriteBatch()
    yield own
    own.execute()
