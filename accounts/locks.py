"""Row locks on accounts' tables (idempotency records, profiles); the global order is in lenme.locks."""

from collections.abc import Iterable

from django.db import connection
from django.db.models import Q

from accounts.models import IdempotencyRecord, Profile
from lenme.db import instance_from_row, select_columns


def lock_idempotency_record(record_id: int, *, locked_at) -> bool:
    """Lock our IN_FLIGHT record for the action's transaction; False when it is no longer ours."""
    if connection.vendor == "postgresql":  # the same statement, written once instead of compiled each time
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT id FROM {IdempotencyRecord._meta.db_table} "  # noqa: S608 - the model's table
                "WHERE id = %s AND state = %s AND locked_at = %s FOR UPDATE",
                [record_id, IdempotencyRecord.State.IN_FLIGHT, locked_at],
            )
            return cursor.fetchone() is not None
    return (
        IdempotencyRecord.objects.select_for_update()
        .filter(pk=record_id, state=IdempotencyRecord.State.IN_FLIGHT, locked_at=locked_at)
        .values_list("pk", flat=True)
        .first()
        is not None
    )


def lock_idempotency_record_nowait(record_id: int) -> IdempotencyRecord | None:
    """Lock a record without waiting; raises OperationalError (PostgreSQL) when its request holds it."""
    return IdempotencyRecord.objects.select_for_update(nowait=True).filter(pk=record_id).first()


def lock_profiles(user_ids: Iterable[int], *, platform_username: str | None = None) -> dict[int, Profile]:
    """Lock the profiles of these users (and of the platform account, by name), keyed by user id."""
    if connection.vendor == "postgresql" and not platform_username:
        return _lock_profiles_sql(sorted(set(user_ids)))
    condition = Q(user_id__in=set(user_ids))
    if platform_username:
        condition |= Q(user__username=platform_username)
    rows = Profile.objects.select_for_update(of=("self",)).select_related("user").filter(condition).order_by("pk")
    return {profile.user_id: profile for profile in rows}


def _lock_profiles_sql(user_ids: list[int]) -> dict[int, Profile]:
    """lock_profiles on PostgreSQL without the ORM: the same rows, locked in the same order (by the
    profile's primary key), each with its user."""
    if not user_ids:
        return {}
    user_model = Profile._meta.get_field("user").related_model
    sql = (
        f"SELECT {select_columns(Profile, 'p')}, {select_columns(user_model, 'u')} "  # noqa: S608 - model names
        f"FROM {Profile._meta.db_table} p INNER JOIN {user_model._meta.db_table} u ON u.id = p.user_id "
        "WHERE p.user_id = ANY(%s) ORDER BY p.id FOR UPDATE OF p"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [user_ids])
        rows = cursor.fetchall()
    width = len(Profile._meta.concrete_fields)
    profiles = {}
    for row in rows:
        profile = instance_from_row(Profile, row)
        Profile.user.field.set_cached_value(profile, instance_from_row(user_model, row, width))
        profiles[profile.user_id] = profile
    return profiles
