"""Every row lock the services take, in one place so the global order is visible.

Order, always: Loan -> Offer(s) -> Payment(s) -> Profile(s) by primary key. A money step locks what it
will change in that order, re-reads state under the lock, checks, then mutates; so two steps can
wait for each other but never deadlock.
"""

from collections.abc import Iterable

from django.db.models import QuerySet

from accounts.models import Profile
from loans.models import Loan, Offer, Payment


def lock_loan(loan_id: int) -> Loan | None:
    return Loan.objects.select_for_update(of=("self",)).filter(pk=loan_id).first()


def lock_offers(queryset: QuerySet[Offer]) -> list[Offer]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def lock_payments(queryset: QuerySet[Payment]) -> list[Payment]:
    return list(queryset.select_for_update(of=("self",)).order_by("number"))


def lock_profiles(user_ids: Iterable[int], *, platform_username: str | None = None) -> dict[int, Profile]:
    """Lock the profiles of these users (and of the platform account, by name), keyed by user id."""
    from django.db.models import Q

    condition = Q(user_id__in=set(user_ids))
    if platform_username:
        condition |= Q(user__username=platform_username)
    rows = Profile.objects.select_for_update(of=("self",)).select_related("user").filter(condition).order_by("pk")
    return {profile.user_id: profile for profile in rows}
