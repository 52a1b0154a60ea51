"""The scheduled sweep: offer expiry, funding deadlines, autopay, overdue marking, reminders, delinquency.

Every rule picks its candidates without locks, then handles one loan per transaction: it locks the
rows (lenme.locks order), re-checks them under the lock and changes only what still qualifies. So a
rule is idempotent, two overlapping sweeps cannot double-apply anything, and a worker that dies
mid-sweep leaves every loan either fully handled or untouched for the next sweep.
The two TTL rules use the clock (now); the date rules use `today` (a backfill may pass another day).
"""

import datetime
import logging
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from lenme.api.idempotency import idempotency_purge
from lenme.db import atomic_retry
from lenme.errors import InsufficientFunds
from lenme.locks import lock_loan, lock_offers, lock_payments
from loans.delinquency import days_past_due_from, oldest_unpaid_due_dates
from loans.models import (
    REPAYING_LOAN_STATUSES,
    UNPAID,
    JobRun,
    Loan,
    LoanStatus,
    NotificationKind,
    Offer,
    OfferStatus,
    Payment,
)
from loans.notifications import Event, notify
from loans.services import loan_drop_lender, loan_reopen_if_no_pending, offers_release, payment_settle
from loans.services.chargeoff import loan_age
from loans.services.payments import payment_charge_late_fee
from webhooks.delivery import deliver_due as webhooks_deliver_due
from webhooks.delivery import emails_send_due

log = logging.getLogger(__name__)


def _each(handle, loan_ids: list[int], *args) -> int:
    """Handle each loan in its own transaction; one loan's failure is logged and skipped, not fatal."""
    done = 0
    for loan_id in loan_ids:
        try:
            done += handle(loan_id, *args)
        except Exception:
            log.exception("%s failed for loan %s; the next sweep retries it", handle.__name__, loan_id)
    return done


# 1. Offer expiry ------------------------------------------------------------------------------------


def offers_expire(*, now: datetime.datetime) -> int:
    cutoff = now - timedelta(seconds=settings.LENME_OFFER_TTL)
    loan_ids = (
        Offer.objects.filter(status=OfferStatus.PENDING, created_at__lt=cutoff)
        .values_list("loan_id", flat=True)
        .distinct()
        .order_by("loan_id")
    )
    return _each(_expire_offers_of_loan, list(loan_ids), cutoff)


@atomic_retry
def _expire_offers_of_loan(loan_id: int, cutoff: datetime.datetime) -> int:
    loan = lock_loan(loan_id)
    offers = lock_offers(loan.offers.filter(status=OfferStatus.PENDING, created_at__lt=cutoff))
    if not offers:
        return 0
    offers_release(offers, OfferStatus.EXPIRED)
    loan_reopen_if_no_pending(loan)
    notify(
        *(
            Event(
                o.lender_id,
                NotificationKind.OFFER_EXPIRED,
                f"Your offer on loan #{loan.pk} expired; its hold was released.",
                loan.pk,
            )
            for o in offers
        )
    )
    return len(offers)


# 2. Funding deadline --------------------------------------------------------------------------------


def fundings_expire(*, now: datetime.datetime) -> int:
    cutoff = now - timedelta(seconds=settings.LENME_FUNDING_TTL)

    loan_ids = Loan.objects.filter(status=LoanStatus.ACCEPTED, accepted_at__lt=cutoff).values_list("pk", flat=True)
    return _each(_lapse_funding, list(loan_ids), cutoff)


@atomic_retry
def _lapse_funding(loan_id: int, cutoff: datetime.datetime) -> int:
    loan = lock_loan(loan_id)
    if loan.status != LoanStatus.ACCEPTED or loan.accepted_at >= cutoff:
        return 0  # funded, cancelled or re-accepted since we looked
    offers = lock_offers(loan.offers.filter(status=OfferStatus.ACCEPTED))  # every one, funded or not
    offers_release(offers, OfferStatus.EXPIRED)
    loan_drop_lender(loan, LoanStatus.OPEN)
    notify(
        *(
            Event(
                o.lender_id,
                NotificationKind.OFFER_EXPIRED,
                f"You did not fund loan #{loan.pk} in time; your accepted offer expired and its hold was released."
                if o.funded_at is None
                else f"Loan #{loan.pk} was not funded by every lender in time; your offer expired and its hold was released.",
                loan.pk,
            )
            for o in offers
        ),
        Event(
            loan.borrower_id,
            NotificationKind.OFFER_EXPIRED,
            f"The accepted offer on loan #{loan.pk} was not funded in time; the loan is open for offers again.",
            loan.pk,
        ),
    )
    return 1


# 3. Autopay -----------------------------------------------------------------------------------------


def autopay_run(*, today: datetime.date) -> int:
    loan_ids = (
        Payment.objects.filter(UNPAID, due_date__lte=today, loan__autopay=True, loan__status__in=REPAYING_LOAN_STATUSES)
        .values_list("loan_id", flat=True)
        .distinct()
        .order_by("loan_id")
    )
    return _each(_autopay_loan, list(loan_ids), today)


@atomic_retry
def _autopay_loan(loan_id: int, today: datetime.date) -> int:
    loan = lock_loan(loan_id)
    if not loan.autopay or loan.status not in REPAYING_LOAN_STATUSES:
        return 0
    paid = 0
    for payment in lock_payments(loan.payments.filter(UNPAID, due_date__lte=today)):
        try:
            payment_settle(loan=loan, payment=payment, today=today)
        except InsufficientFunds:  # raised before anything is written: stop, the next sweep retries
            break
        paid += 1
    return paid


# 4. Overdue -----------------------------------------------------------------------------------------


def payments_mark_overdue(*, today: datetime.date) -> int:
    loan_ids = (
        Payment.objects.filter(
            UNPAID, overdue=False, amount__gt=0, due_date__lt=today, loan__status__in=REPAYING_LOAN_STATUSES
        )
        .values_list("loan_id", flat=True)
        .distinct()
        .order_by("loan_id")
    )
    return _each(_mark_overdue, list(loan_ids), today)


@atomic_retry
def _mark_overdue(loan_id: int, today: datetime.date) -> int:
    loan = lock_loan(loan_id)
    if loan.status not in REPAYING_LOAN_STATUSES:
        return 0  # paid off since we looked
    payments = [
        p
        for p in lock_payments(loan.payments.filter(UNPAID, overdue=False, due_date__lt=today))
        if payment_charge_late_fee(p, on=today)  # once: the overdue flag guards it; never for 0.00
    ]
    Payment.objects.bulk_update(payments, ["overdue", "late_fee"])
    notify(
        *(
            Event(
                loan.borrower_id,
                NotificationKind.PAYMENT_OVERDUE,
                f"Installment {p.number} of loan #{loan.pk} was due {p.due_date} and is overdue; {p.amount_due()} is now due.",
                loan.pk,
            )
            for p in payments
        )
    )
    return len(payments)


# 5. Reminders ---------------------------------------------------------------------------------------


def reminders_send(*, today: datetime.date) -> int:
    horizon = today + timedelta(days=settings.LENME_REMINDER_DAYS)
    by_loan: dict[int, list[int]] = defaultdict(list)
    rows = Payment.objects.filter(
        UNPAID,
        reminder_sent_at__isnull=True,
        due_date__gte=today,
        due_date__lte=horizon,
        loan__status__in=REPAYING_LOAN_STATUSES,  # (v2) a DEFAULTED loan still takes payments
    ).values_list("loan_id", "pk")
    for loan_id, payment_id in rows:
        by_loan[loan_id].append(payment_id)
    return sum(_each(_remind, [loan_id], ids) for loan_id, ids in sorted(by_loan.items()))


@atomic_retry
def _remind(loan_id: int, payment_ids: list[int]) -> int:
    loan = lock_loan(loan_id)
    if loan.status not in REPAYING_LOAN_STATUSES:
        return 0  # paid off since we looked (a charged-off loan still takes payments: still reminded)
    payments = lock_payments(loan.payments.filter(UNPAID, pk__in=payment_ids, reminder_sent_at__isnull=True))
    now = timezone.now()
    for payment in payments:
        payment.reminder_sent_at = now
    Payment.objects.bulk_update(payments, ["reminder_sent_at"])
    notify(
        *(
            Event(
                loan.borrower_id,
                NotificationKind.PAYMENT_DUE,
                f"Installment {p.number} of loan #{loan.pk} ({p.amount_due()}) is due on {p.due_date}.",
                loan.pk,
            )
            for p in payments
        )
    )
    return len(payments)


# 6. Delinquency (v2) ---------------------------------------------------------------------------------


def loans_age(*, today: datetime.date) -> tuple[int, int]:
    """Set every FUNDED or DEFAULTED loan's days past due as of `today`, and charge off each FUNDED loan
    that reaches LENME_CHARGE_OFF_DAYS. Candidates (two queries, no locks): the loans whose stored figure
    differs from today's, or FUNDED ones at the threshold; each is then re-checked under its lock
    in its own transaction. Returns (loans whose days past due changed, loans charged off)."""
    repaying = {
        pk: (stored, status)
        for pk, stored, status in Loan.objects.filter(status__in=REPAYING_LOAN_STATUSES).values_list(
            "pk", "days_past_due", "status"
        )
    }
    # The same set as a subquery, not one bound parameter per loan (the book can be large).
    oldest = oldest_unpaid_due_dates(
        loan_ids=Loan.objects.filter(status__in=REPAYING_LOAN_STATUSES).values("pk"), today=today
    )
    loan_ids = []
    for pk, (stored, status) in sorted(repaying.items()):
        now_due = days_past_due_from(oldest.get(pk), today)
        if now_due != stored or (status == LoanStatus.FUNDED and now_due >= settings.LENME_CHARGE_OFF_DAYS):
            loan_ids.append(pk)
    changed = charged_off = 0
    for loan_id in loan_ids:
        try:
            did_change, did_charge_off = _age_loan(loan_id, today)
        except Exception:
            log.exception("_age_loan failed for loan %s; the next sweep retries it", loan_id)
            continue
        changed += did_change
        charged_off += did_charge_off
    return changed, charged_off


@atomic_retry
def _age_loan(loan_id: int, today: datetime.date) -> tuple[bool, bool]:
    loan = lock_loan(loan_id)
    return loan_age(loan=loan, today=today)  # re-reads the installments under the loan's lock


# The sweep ------------------------------------------------------------------------------------------

JOB_RUN_RETENTION_DAYS = 7
RULES = (
    "offers_expired",
    "fundings_lapsed",
    "autopaid",
    "overdue",
    "reminders",
    "days_past_due_set",
    "charged_off",
    "idempotency_purged",
    "webhooks_attempted",
    "emails_sent",
)


def sweep(*, today: datetime.date | None = None, now: datetime.datetime | None = None) -> JobRun:
    """Run every rule once, in the contract's order, and record what each did."""
    now = now or timezone.now()
    today = today or timezone.localdate(now)
    run = JobRun.objects.create(today=today)
    counts: dict[str, int] = {}
    try:
        counts["offers_expired"] = offers_expire(now=now)
        counts["fundings_lapsed"] = fundings_expire(now=now)
        counts["autopaid"] = autopay_run(today=today)
        counts["overdue"] = payments_mark_overdue(today=today)
        counts["reminders"] = reminders_send(today=today)
        counts["days_past_due_set"], counts["charged_off"] = loans_age(today=today)
        counts["idempotency_purged"] = idempotency_purge()
        JobRun.objects.filter(started_at__lt=now - timedelta(days=JOB_RUN_RETENTION_DAYS)).delete()
        # 7. what is due of the outboxes (webhook events, then emails), each at most once this sweep
        counts["webhooks_attempted"] = webhooks_deliver_due()
        counts["emails_sent"] = emails_send_due()
    except Exception as exc:
        run.error = f"{type(exc).__name__}: {exc}"
        log.exception("sweep failed after %s", counts)
        raise
    finally:
        run.counts = counts
        run.finished_at = timezone.now()
        run.save(update_fields=["counts", "finished_at", "error"])
    return run
