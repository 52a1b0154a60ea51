"""Row locks on loans' tables (loan, offers, payments); the global order is in lenme.locks."""

from django.db import connection
from django.db.models import QuerySet

from lenme.db import instance_from_row, select_columns
from loans.models import Loan, Offer, Payment


def lock_loan(loan_id: int) -> Loan | None:
    if connection.vendor == "postgresql":  # the same statement, written once instead of compiled each time
        sql = f"SELECT {select_columns(Loan, 'l')} FROM {Loan._meta.db_table} l WHERE l.id = %s FOR UPDATE"  # noqa: S608
        with connection.cursor() as cursor:
            cursor.execute(sql, [loan_id])
            row = cursor.fetchone()
        return None if row is None else instance_from_row(Loan, row)
    return Loan.objects.select_for_update(of=("self",)).filter(pk=loan_id).first()


def lock_offers(queryset: QuerySet[Offer]) -> list[Offer]:
    return list(queryset.select_for_update(of=("self",)).order_by("pk"))


def lock_payments(queryset: QuerySet[Payment]) -> list[Payment]:
    return list(queryset.select_for_update(of=("self",)).order_by("number"))
