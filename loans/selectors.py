"""Reads for the lending flow: visibility rules and list queries. Nothing here locks."""

from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum

from accounts.models import Profile, Transaction
from lenme.errors import Forbidden, NotFound
from lenme.money import MONEY, round_fraction
from loans import policies
from loans.models import (
    LIVE_LOAN_STATUSES,
    REPAYING_LOAN_STATUSES,
    Loan,
    Note,
    NotePayment,
    NoteStatus,
    Notification,
    Offer,
    OfferStatus,
    Payment,
)
from loans.schedule import build_schedule


def _offered_by(user) -> Exists:
    return Exists(Offer.objects.filter(loan=OuterRef("pk"), lender=user))


def loan_is_visible(loan: Loan, user) -> bool:
    """Borrower, lender, anyone who made an offer on it, and everyone while it is OPEN or OFFERED."""
    if not user.is_authenticated:
        return False
    if policies.is_borrower(loan, user) or policies.is_lender(loan, user) or loan.status in LIVE_LOAN_STATUSES:
        return True
    return Offer.objects.filter(loan=loan, lender=user).exists()


def _lends_on(user) -> Exists:
    """A lender of an accepted offer (funded or not) or of a note: every lender in `lenders`."""
    return Exists(Offer.objects.filter(loan=OuterRef("pk"), lender=user, status=OfferStatus.ACCEPTED))


def with_principal_outstanding(queryset: QuerySet[Loan]) -> QuerySet[Loan]:
    """Annotate each loan with the principal of its unpaid installments, in the same query."""
    unpaid = (
        Payment.objects.filter(loan=OuterRef("pk"), paid=False)
        .order_by()
        .values("loan")
        .annotate(total=Sum("principal"))
        .values("total")
    )
    return queryset.annotate(principal_outstanding_sum=Subquery(unpaid, output_field=DecimalField(**MONEY)))


def loans_visible(*, user) -> QuerySet[Loan]:
    return Loan.objects.filter(Q(borrower=user) | Q(lender=user) | Q(status__in=LIVE_LOAN_STATUSES) | _offered_by(user))


def loan_get(*, loan_id: int, user, with_payments: bool = False) -> Loan:
    """A loan the user can see (else 404); role checks are loan_action_check's."""
    loan = loans_visible(user=user).filter(pk=loan_id).first()
    if loan is None:
        raise NotFound("No such loan.")
    if with_payments:
        # The schedule is the parties' business, as GET .../payments/ says: others see an empty list.
        loan.schedule = list(loan.payments.order_by("number")) if policies.may_see_schedule(loan, user) else []
    return loan


def loan_list(*, user, status: str | None = None, role: str | None = None) -> QuerySet[Loan]:
    if role == "borrower":
        queryset = Loan.objects.filter(borrower=user)
    elif role == "lender":
        queryset = Loan.objects.filter(Q(lender=user) | _lends_on(user))
    else:
        queryset = Loan.objects.filter(Q(borrower=user) | Q(lender=user) | _lends_on(user))
    if status:
        queryset = queryset.filter(status=status)
    return with_principal_outstanding(queryset).order_by("-created_at", "-id")


def loan_available_list(
    *, user, min_amount=None, max_amount=None, term_months: int | None = None, ordering: str = "-created_at"
) -> QuerySet[Loan]:
    queryset = Loan.objects.filter(status__in=LIVE_LOAN_STATUSES, lender__isnull=True).exclude(borrower=user)
    if min_amount is not None:
        queryset = queryset.filter(amount__gte=min_amount)
    if max_amount is not None:
        queryset = queryset.filter(amount__lte=max_amount)
    if term_months is not None:
        queryset = queryset.filter(term_months=term_months)
    return queryset.order_by(ordering, "-id" if ordering.startswith("-") else "id")


def loan_quote(*, amount: Decimal, term_months: int, interest_rate: Decimal) -> dict:
    """The schedule funding would create for these terms, with its totals (GET /api/loans/quote/)."""
    rows = build_schedule(amount=amount, annual_rate=interest_rate, term_months=term_months)
    total = sum((r.amount for r in rows), Decimal("0"))
    return {
        "amount": amount,
        "term_months": term_months,
        "interest_rate": interest_rate,
        "lenme_fee": settings.LENME_FEE,
        "monthly_payment_amount": rows[0].amount,
        "total_repayment": total,
        "total_interest": total - amount,
        "payments": [
            {"number": r.number, "amount": r.amount, "principal": r.principal, "interest": r.interest} for r in rows
        ],
    }


def offer_list(*, loan: Loan, user) -> QuerySet[Offer]:
    """The borrower sees every offer but REJECTED ones; anyone else only their own."""
    queryset = Offer.objects.filter(loan=loan)
    if loan.borrower_id == user.pk:
        queryset = queryset.exclude(status=OfferStatus.REJECTED)
    else:
        queryset = queryset.filter(lender=user)
    return queryset.order_by("interest_rate", "created_at", "id")


def payment_list(*, loan: Loan, user) -> QuerySet[Payment]:
    if not policies.may_see_schedule(loan, user):
        raise Forbidden("Only the borrower and the lender see the schedule.")
    return loan.payments.order_by("number")


# (v2) The ledger kinds by which a note's lender is paid back (installments, extra principal, payoff).
RECEIPT_KINDS = ("repayment", "prepayment", "payoff")


def recoveries_subquery() -> Subquery:
    """What a note received after its loan was charged off: its lender's receipts on it (ledger rows)
    written at or after the loan's `defaulted_at` (a charge-off moves no money, so no row of the
    note can share that instant from before). Null when none."""
    total = (
        Transaction.objects.filter(
            loan_note=OuterRef("pk"),
            to_user=OuterRef("lender"),
            kind__in=RECEIPT_KINDS,
            created_at__gte=OuterRef("loan__defaulted_at"),
        )
        .order_by()
        .values("loan_note")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Subquery(total, output_field=DecimalField(**MONEY))


def notes_with_figures(queryset: QuerySet[Note]) -> QuerySet[Note]:
    """Each note's figures from its rows, in the same query: principal outstanding (unpaid rows; 0.00
    once REPAID), principal repaid, interest and late fees received (paid rows), and (v2) recoveries
    (from the ledger)."""

    def rows_sum(field: str, paid: bool) -> Subquery:
        total = (
            NotePayment.objects.filter(note=OuterRef("pk"), payment__paid=paid)
            .order_by()
            .values("note")
            .annotate(total=Sum(field))
            .values("total")
        )
        return Subquery(total, output_field=DecimalField(**MONEY))

    return queryset.annotate(
        unpaid_principal=rows_sum("principal", False),
        paid_principal=rows_sum("principal", True),
        paid_interest=rows_sum("interest", True),
        paid_late_fees=rows_sum("late_fee", True),
        recovered=recoveries_subquery(),
    )


def note_list(*, user, status: str | None = None) -> QuerySet[Note]:
    """The caller's notes (as lender), newest first."""
    queryset = Note.objects.filter(lender=user)
    if status:
        queryset = queryset.filter(status=status)
    return notes_with_figures(queryset).order_by("-funded_at", "-id")


def note_get(*, note_id: int, user) -> Note:
    """A note with its rows, for its lender or its loan's borrower (anyone else: 404)."""
    note = notes_with_figures(Note.objects.select_related("loan").filter(pk=note_id)).first()
    if note is None or not policies.may_see_note(note, user):
        raise NotFound("No such note.")
    note.schedule = list(
        note.rows.select_related("payment").order_by("number").annotate(due_date=F("payment__due_date"))
    )
    return note


def loan_note_list(*, loan: Loan, user) -> QuerySet[Note]:
    """The borrower sees every note of the loan, a lender its own; anyone else who can see it: 403."""
    if policies.is_borrower(loan, user):
        queryset = Note.objects.filter(loan=loan)
    elif policies.is_lender(loan, user) or Note.objects.filter(loan=loan, lender=user).exists():
        queryset = Note.objects.filter(loan=loan, lender=user)
    else:
        raise Forbidden("Only the borrower and the loan's lenders see its notes.")
    return notes_with_figures(queryset).order_by("id")


def notification_list(*, user) -> QuerySet[Notification]:
    return Notification.objects.filter(user=user).order_by("-created_at", "-id")


def loan_action_check(
    *, user, loan_id: int, role: str, offer_id: int | None = None, payment_id: int | None = None
) -> None:
    """Raise what an action on this loan would answer first: 404 (loan, or the offer or payment in the
    path, not visible) or 403 (visible, but `role` is not the caller's). Changes and locks nothing."""
    loan = loan_get(loan_id=loan_id, user=user)
    offer = None
    if offer_id is not None:
        offer = Offer.objects.filter(loan=loan, pk=offer_id).only("lender_id").first()
        if offer is None:
            raise NotFound("No such offer on this loan.")
    if payment_id is not None and not Payment.objects.filter(loan=loan, pk=payment_id).exists():
        raise NotFound("No such payment on this loan.")
    if not policies.role_allows(role, loan=loan, user=user, offer_lender_id=offer.lender_id if offer else None):
        raise Forbidden("Your role on this loan does not allow this.")


def notification_get(*, notification_id: int, user) -> Notification:
    notification = Notification.objects.filter(pk=notification_id, user=user).first()
    if notification is None:
        raise NotFound("No such notification.")
    return notification


# Portfolio (v2) -------------------------------------------------------------------------------------


def _money_sum(value) -> Decimal:
    return (value if value is not None else Decimal("0")).quantize(Decimal("0.01"))


def _weighted_rate(rate_weights) -> Decimal | None:
    """Average of rates weighted by principal, exactly (Fraction), rounded half-up to two decimals once."""
    weight = sum((Fraction(w) for _, w in rate_weights if w), Fraction(0))
    if weight == 0:
        return None
    return round_fraction(sum((Fraction(r) * Fraction(w) for r, w in rate_weights if w), Fraction(0)) / weight)


def portfolio_get(*, user) -> dict:
    """The caller's standing as lender and as borrower, every figure from notes, note rows, installments
    and ledger rows (no stored counters), in a fixed number of queries whatever the number of notes."""
    notes = Note.objects.filter(lender=user)
    counts = {status: 0 for status in NoteStatus.values}
    invested = fees = charged_off = Decimal("0")
    for row in (
        notes.order_by()
        .values("status")
        .annotate(n=Count("pk"), amount=Sum("amount"), fee=Sum("fee"), charged_off=Sum("charged_off_principal"))
    ):
        counts[row["status"]] = row["n"]
        invested += row["amount"] or 0
        fees += row["fee"] or 0
        charged_off += row["charged_off"] or 0

    my_rows = NotePayment.objects.filter(note__lender=user).order_by()
    paid = Q(payment__paid=True)
    received = my_rows.aggregate(
        principal=Sum("principal", filter=paid),
        interest=Sum("interest", filter=paid),
        late_fees=Sum("late_fee", filter=paid),
    )
    # Principal outstanding of ACTIVE notes, per rate: both the total and the weighted average rate.
    by_rate = list(
        my_rows.filter(payment__paid=False, note__status=NoteStatus.ACTIVE)
        .values("note__interest_rate")
        .annotate(principal=Sum("principal"))
        .values_list("note__interest_rate", "principal")
    )
    recoveries = Transaction.objects.filter(
        loan_note__lender=user,
        to_user=user,
        kind__in=RECEIPT_KINDS,
        created_at__gte=F("loan_note__loan__defaulted_at"),
    ).aggregate(total=Sum("amount"))["total"]
    held = Profile.objects.filter(user=user).values_list("reserved_balance", flat=True).first()

    loans = Loan.objects.filter(borrower=user)
    loan_counts = dict(loans.order_by().values("status").annotate(n=Count("pk")).values_list("status", "n"))
    repaying = Payment.objects.filter(loan__borrower=user, loan__status__in=REPAYING_LOAN_STATUSES, paid=False)
    borrower_outstanding = repaying.aggregate(total=Sum("principal"))["total"]
    paid_out = Transaction.objects.filter(from_user=user, kind__in=RECEIPT_KINDS, loan__borrower=user).aggregate(
        total=Sum("amount")
    )["total"]
    next_row = (
        repaying.order_by("due_date", "loan_id", "number")
        .values("loan_id", "number", "due_date", "amount", "late_fee")
        .first()
    )

    return {
        "lender": {
            "notes": counts,
            "principal_invested": _money_sum(invested),
            "principal_outstanding": _money_sum(sum((w for _, w in by_rate if w), Decimal("0"))),
            "principal_repaid": _money_sum(received["principal"]),
            "interest_received": _money_sum(received["interest"]),
            "late_fees_received": _money_sum(received["late_fees"]),
            "fees_paid": _money_sum(fees),
            "charged_off_principal": _money_sum(charged_off),
            "recoveries": _money_sum(recoveries),
            "held_in_offers": _money_sum(held),
            "weighted_average_rate": _weighted_rate(by_rate),
        },
        "borrower": {
            "loans": {status: n for status, n in loan_counts.items() if n},
            "principal_outstanding": _money_sum(borrower_outstanding),
            "total_repaid": _money_sum(paid_out),
            "next_payment": None
            if next_row is None
            else {
                "loan": next_row["loan_id"],
                "number": next_row["number"],
                "due_date": next_row["due_date"],
                "amount": _money_sum(next_row["amount"]) + _money_sum(next_row["late_fee"]),
            },
        },
    }
