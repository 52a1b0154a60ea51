"""Figures the admin index shows operators: the platform's fee revenue (total and by month) and the
charged-off principal and recoveries, summed from ledger rows and notes (five queries)."""

from django import template
from django.conf import settings
from django.db.models import Count, F, Sum
from django.db.models.functions import TruncMonth

from accounts.models import Transaction, TransactionKind
from lenme.money import ZERO
from loans.models import Note, NoteStatus
from loans.selectors import RECEIPT_KINDS

register = template.Library()


@register.simple_tag
def lenme_platform_figures() -> dict:
    fees = Transaction.objects.filter(kind=TransactionKind.FEE, to_user__username=settings.LENME_PLATFORM_USERNAME)
    by_month = list(
        fees.order_by()
        .annotate(month=TruncMonth("created_at"))
        .values("month")
        .annotate(total=Sum("amount"), rows=Count("pk"))
        .order_by("-month")[:24]
    )
    charged_off = Note.objects.filter(charged_off_principal__gt=0).aggregate(
        total=Sum("charged_off_principal"), notes=Count("pk")
    )
    # What lenders received on notes after their loans were charged off, as the notes' `recoveries`.
    recoveries = Transaction.objects.filter(
        kind__in=RECEIPT_KINDS, loan_note__isnull=False, created_at__gte=F("loan__defaulted_at")
    ).aggregate(total=Sum("amount"))["total"]
    return {
        "recoveries_total": recoveries or ZERO,
        "fee_total": (fees.aggregate(total=Sum("amount"))["total"] or ZERO),
        "fee_by_month": [
            {"month": row["month"], "total": row["total"] or ZERO, "rows": row["rows"]} for row in by_month
        ],
        "charged_off_total": charged_off["total"] or ZERO,
        "charged_off_notes": charged_off["notes"],
        "charged_off_open": Note.objects.filter(status=NoteStatus.CHARGED_OFF).count(),
    }
