"""Every row lock the services take, in one place so the global order is visible.

Order, always: IdempotencyRecord -> Loan -> Offer(s) -> Payment(s) -> Profile(s) by primary key. A
money step locks what it will change in that order, re-reads state under the lock, checks, then
mutates; so two steps can wait for each other but never deadlock. An idempotency record is locked only
by the one request that owns it (others try NOWAIT and answer 409 at once), so it never makes anyone
wait behind a money lock. Reads (selectors, GET endpoints) never lock.
"""

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from accounts.models import IdempotencyRecord, Profile
from loans.models import Loan, Offer, Payment


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


def lock_loan(loan_id: int) -> Loan | None:
    return Loan.objects.select_for_update(of=("self",)).filter(pk=loan_id).first()


def lock_offers(queryset: QuerySet[Offer]) -> list[Offer]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def lock_payments(queryset: QuerySet[Payment]) -> list[Payment]:
    return list(queryset.select_for_update(of=("self",)).order_by("number"))


def lock_profiles(user_ids: Iterable[int], *, platform_username: str | None = None) -> dict[int, Profile]:
    """Lock the profiles of these users (and of the platform account, by name), keyed by user id."""
    condition = Q(user_id__in=set(user_ids))
    if platform_username:
        condition |= Q(user__username=platform_username)
    rows = Profile.objects.select_for_update(of=("self",)).select_related("user").filter(condition).order_by("pk")
    return {profile.user_id: profile for profile in rows}
