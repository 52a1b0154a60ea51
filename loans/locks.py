"""Row locks on loans' tables (loan, offers, payments); the global order is in lenme.locks."""

from django.db.models import QuerySet

from loans.models import Loan, Offer, Payment


def lock_loan(loan_id: int) -> Loan | None:
    return Loan.objects.select_for_update(of=("self",)).filter(pk=loan_id).first()


def lock_offers(queryset: QuerySet[Offer]) -> list[Offer]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def lock_payments(queryset: QuerySet[Payment]) -> list[Payment]:
    return list(queryset.select_for_update(of=("self",)).order_by("number"))
