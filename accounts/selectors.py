"""Reads for accounts: never lock."""

from django.db.models import Q, QuerySet

from accounts.models import Profile, Transaction


def profile_get(*, user) -> Profile:
    return Profile.objects.select_related("user").get(user=user)


def transaction_list(*, user) -> QuerySet[Transaction]:
    return Transaction.objects.filter(Q(from_user=user) | Q(to_user=user)).order_by("-created_at", "-id")
