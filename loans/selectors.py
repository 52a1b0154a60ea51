"""Reads for the lending flow: visibility rules and list queries. Nothing here locks."""

import datetime
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db.models import Count, DecimalField, Exists, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from accounts.models import Profile, Transaction
from lenme.errors import Forbidden, InvalidState, NotFound, ValidationFailed
from lenme.money import CENT, MONEY, round_fraction
from loans import policies
from loans.models import (
    LIVE_LOAN_STATUSES,
    REPAYING_LOAN_STATUSES,
    UNPAID,
    Loan,
    Note,
    NotePayment,
    NoteStatus,
    Notification,
    Offer,
    OfferStatus,
    Payment,
)
from loans.payoff import Installment, PayoffQuote, quote_from_parts, quote_position
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
        Payment.objects.filter(UNPAID, loan=OuterRef("pk"))
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


def _ledger_sum(kind: str) -> Subquery:
    """What a note's lender received on it in ledger rows of `kind` (null when none)."""
    total = (
        Transaction.objects.filter(loan_note=OuterRef("pk"), to_user=OuterRef("lender"), kind=kind)
        .order_by()
        .values("loan_note")
        .annotate(total=Sum("amount"))
        .values("total")
    )
    return Subquery(total, output_field=DecimalField(**MONEY))


def _zero(expression) -> Coalesce:
    return Coalesce(expression, Value(Decimal("0")), output_field=DecimalField(**MONEY))


# (v2) A note row whose principal its lender has received: its installment paid, or settled by a payoff
# (whose `payoff` row paid that principal plus the accrued interest).
ROW_PAID = Q(payment__paid=True)
ROW_SETTLED = Q(payment__settled=True)
ROW_OPEN = Q(payment__paid=False, payment__settled=False)


def notes_with_figures(queryset: QuerySet[Note]) -> QuerySet[Note]:
    """Each note's figures from its rows and ledger rows, in the same query: principal outstanding (open
    rows; 0.00 once REPAID); principal repaid: paid and settled rows plus (v2) its `prepayment` rows;
    interest received: paid rows plus what its `payoff` row paid beyond the settled rows' principal;
    late fees received (paid rows); and (v2) recoveries (from the ledger)."""

    def rows_sum(field: str, condition: Q) -> Subquery:
        total = (
            NotePayment.objects.filter(condition, note=OuterRef("pk"))
            .order_by()
            .values("note")
            .annotate(total=Sum(field))
            .values("total")
        )
        return Subquery(total, output_field=DecimalField(**MONEY))

    settled_principal = _zero(rows_sum("principal", ROW_SETTLED))
    return queryset.annotate(
        unpaid_principal=rows_sum("principal", ROW_OPEN),
        paid_principal=_zero(rows_sum("principal", ROW_PAID)) + settled_principal + _zero(_ledger_sum("prepayment")),
        paid_interest=_zero(rows_sum("interest", ROW_PAID)) + _zero(_ledger_sum("payoff")) - settled_principal,
        paid_late_fees=rows_sum("late_fee", ROW_PAID),
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
    received = my_rows.aggregate(
        paid_principal=Sum("principal", filter=ROW_PAID),
        settled_principal=Sum("principal", filter=ROW_SETTLED),
        paid_interest=Sum("interest", filter=ROW_PAID),
        paid_late_fees=Sum("late_fee", filter=ROW_PAID),
    )
    # Principal outstanding of ACTIVE notes, per rate: both the total and the weighted average rate.
    by_rate = list(
        my_rows.filter(ROW_OPEN, note__status=NoteStatus.ACTIVE)
        .values("note__interest_rate")
        .annotate(principal=Sum("principal"))
        .values_list("note__interest_rate", "principal")
    )
    # One query over the ledger rows paid to the caller's notes: recoveries, prepayments and payoffs.
    ledger = Transaction.objects.filter(loan_note__lender=user, to_user=user, kind__in=RECEIPT_KINDS).aggregate(
        recoveries=Sum("amount", filter=Q(created_at__gte=F("loan_note__loan__defaulted_at"))),
        prepaid=Sum("amount", filter=Q(kind="prepayment")),
        payoff=Sum("amount", filter=Q(kind="payoff")),
    )
    settled = _money_sum(received["settled_principal"])
    held = Profile.objects.filter(user=user).values_list("reserved_balance", flat=True).first()

    loans = Loan.objects.filter(borrower=user)
    loan_counts = dict(loans.order_by().values("status").annotate(n=Count("pk")).values_list("status", "n"))
    repaying = Payment.objects.filter(UNPAID, loan__borrower=user, loan__status__in=REPAYING_LOAN_STATUSES)
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
            "principal_repaid": _money_sum(received["paid_principal"]) + settled + _money_sum(ledger["prepaid"]),
            "interest_received": _money_sum(received["paid_interest"]) + _money_sum(ledger["payoff"]) - settled,
            "late_fees_received": _money_sum(received["paid_late_fees"]),
            "fees_paid": _money_sum(fees),
            "charged_off_principal": _money_sum(charged_off),
            "recoveries": _money_sum(ledger["recoveries"]),
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


# Payoff (v2) ----------------------------------------------------------------------------------------


def funding_date(loan: Loan) -> datetime.date:
    """The UTC date of `funded_at`: the schedule's start, and the start of period 1."""
    return loan.funded_at.astimezone(datetime.UTC).date()


def loan_payoff_quote(*, loan: Loan, as_of: datetime.date, payments: list[Payment] | None = None) -> PayoffQuote:
    """What paying `loan` (FUNDED or DEFAULTED) off on `as_of` costs (loans.payoff): from its installments
    (`payments`, when the caller holds them locked; else one query) and, in one more query whatever the
    number of notes, each note's principal of rows j+1..n. Reads only."""
    if payments is None:
        payments = list(loan.payments.order_by("number"))
    installments = [
        Installment(
            number=p.number,
            due_date=p.due_date,
            amount=p.amount,
            late_fee=p.late_fee,
            paid=not p.is_open(),
            fee_added=p.overdue,
        )
        for p in payments
    ]
    position = quote_position(installments=installments, as_of=as_of)
    principal_left = Coalesce(
        Sum("rows__principal", filter=Q(rows__number__gt=position[0])),
        Value(Decimal("0")),
        output_field=DecimalField(**MONEY),
    )
    # Sums of whole cents; quantized because SQLite's SUM returns them with extra zero digits.
    note_principals = [
        (pk, rate, Decimal(left).quantize(CENT))
        for pk, rate, left in Note.objects.filter(loan=loan)
        .order_by("pk")
        .annotate(left=principal_left)
        .values_list("pk", "interest_rate", "left")
    ]
    return quote_from_parts(
        funding_date=funding_date(loan),
        installments=installments,
        note_principals=note_principals,
        as_of=as_of,
        late_fee=settings.LENME_LATE_FEE,
        position=position,
    )


def loan_payoff_quote_get(*, loan_id: int, user, as_of: datetime.date | None, invalid: Exception | None = None):
    """GET .../payoff/: the loan visible to the user (else 404), the user its borrower or one of its
    lenders (else 403), then `invalid` (the query's 400) and an `as_of` before today (400), then the
    loan FUNDED or DEFAULTED (else 409 invalid_state)."""
    loan = loan_get(loan_id=loan_id, user=user)
    if not policies.may_see_schedule(loan, user):
        raise Forbidden("Only the borrower and the loan's lenders see its payoff quote.")
    if invalid is not None:
        raise invalid
    today = timezone.localdate()
    if as_of is None:
        as_of = today
    elif as_of < today:
        raise ValidationFailed.field("as_of", f"Must be today ({today}) or later.", "min_value")
    if loan.status not in REPAYING_LOAN_STATUSES:
        raise InvalidState(f"The loan is {loan.status}; only a FUNDED or DEFAULTED loan has a payoff quote.")
    return loan, loan_payoff_quote(loan=loan, as_of=as_of)
