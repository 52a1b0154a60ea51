"""Row locks on accounts' tables (idempotency records, profiles); the global order is in lenme.locks."""

from collections.abc import Iterable

from django.db.models import Q

from accounts.models import IdempotencyRecord, Profile


def lock_idempotency_record(record_id: int, *, locked_at) -> bool:
    """Lock our IN_FLIGHT record for the action's transaction; False when it is no longer ours."""
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
    condition = Q(user_id__in=set(user_ids))
    if platform_username:
        condition |= Q(user__username=platform_username)
    rows = Profile.objects.select_for_update(of=("self",)).select_related("user").filter(condition).order_by("pk")
    return {profile.user_id: profile for profile in rows}
