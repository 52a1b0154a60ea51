"""Funding: every accepted lender confirms; the last confirmation pays out every hold, makes the notes
and the schedule (each note amortized on its own, the loan's installments their sums)."""

from collections import defaultdict
from decimal import Decimal

from django.conf import settings
from django.utils import timezone

from accounts.models import TransactionKind
from accounts.services import ledger_transfer, platform_user, profiles_save
from lenme.db import atomic_retry
from lenme.errors import Forbidden, InvalidState
from lenme.locks import lock_offers, lock_profiles
from lenme.money import ZERO
from loans import policies
from loans.models import Loan, LoanStatus, Note, NotePayment, NotificationKind, Offer, OfferStatus, Payment
from loans.notifications import Event, notify
from loans.schedule import build_schedule
from loans.services.common import _locked_visible_loan, _save_loan, _save_offers, transition


@atomic_retry
def loan_fund(*, loan_id: int, lender) -> Loan:
    loan = _locked_visible_loan(loan_id, lender)
    if not policies.is_lender(loan, lender):
        raise Forbidden("Only the loan's lenders may fund it.")
    if loan.status != LoanStatus.ACCEPTED:
        raise InvalidState(f"Only an ACCEPTED loan can be funded; this one is {loan.status}.")
    offers = lock_offers(loan.offers.filter(status=OfferStatus.ACCEPTED))
    mine = next(o for o in offers if o.lender_id == lender.pk)
    if mine.funded_at is not None:
        raise InvalidState("You have already funded your part of this loan.")
    mine.funded_at = timezone.now()
    if any(o.funded_at is None for o in offers):
        _save_offers([mine])  # the hold stays until the last lender confirms
        loan.schedule = []
        return loan
    _disburse(loan, offers, now=mine.funded_at)
    return loan


def _disburse(loan: Loan, offers: list[Offer], *, now) -> None:
    """The last confirmation: every hold pays its note's funding and fee, the notes and the schedule
    are written (one INSERT each for notes, installments and note rows), in this one transaction."""
    offers = sorted(offers, key=lambda o: (o.interest_rate, o.created_at, o.pk))  # fill order
    platform_name = settings.LENME_PLATFORM_USERNAME
    lender_ids = [o.lender_id for o in offers]
    profiles = lock_profiles([*lender_ids, loan.borrower_id], platform_username=platform_name)
    platform = next((p for p in profiles.values() if p.user.username == platform_name), None)
    if platform is None:  # the fee account is made by a migration; recreate it if someone removed it
        platform_user()
        profiles = lock_profiles([*lender_ids, loan.borrower_id], platform_username=platform_name)
        platform = next(p for p in profiles.values() if p.user.username == platform_name)
    borrower_profile = profiles[loan.borrower_id]

    transition(loan, LoanStatus.FUNDED)
    loan.funded_at = now
    notes = Note.objects.bulk_create(
        Note(
            loan=loan,
            lender_id=o.lender_id,
            offer=o,
            amount=o.filled_amount,
            interest_rate=o.interest_rate,
            fee=o.fee,
            funded_at=now,
        )
        for o in offers
    )
    several = len(notes) > 1
    entries = []
    for offer, note in zip(offers, notes, strict=True):
        lender_profile = profiles[offer.lender_id]
        lender_profile.release_funds(offer.reserved_amount)  # filled_amount + fee, spent just below
        offer.reserved_amount = ZERO
        part = f" (note #{note.pk})" if several else ""
        entries.append(
            ledger_transfer(
                kind=TransactionKind.FUNDING,
                amount=offer.filled_amount,
                from_profile=lender_profile,
                to_profile=borrower_profile,
                loan=loan,
                loan_note=note,
                note=f"Loan #{loan.pk} principal{part}",
            )
        )
        if offer.fee > 0:  # no ledger row for a zero fee
            entries.append(
                ledger_transfer(
                    kind=TransactionKind.FEE,
                    amount=offer.fee,
                    from_profile=lender_profile,
                    to_profile=platform,
                    loan=loan,
                    loan_note=note,
                    note=f"Loan #{loan.pk} Lenme fee{part}",
                )
            )
    profiles_save(profiles.values(), entries)
    _save_offers(offers)
    _save_loan(loan, "status", "funded_at")

    start = now.date()
    per_note = [
        build_schedule(amount=n.amount, annual_rate=n.interest_rate, term_months=loan.term_months, start=start)
        for n in notes
    ]
    totals: dict[int, list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    for rows in per_note:
        for r in rows:
            total = totals[r.number]
            total[0] += r.amount
            total[1] += r.principal
            total[2] += r.interest
    due_dates = {r.number: r.due_date for r in per_note[0]}
    payments = Payment.objects.bulk_create(
        Payment(loan=loan, number=k, due_date=due_dates[k], amount=a, principal=p, interest=i)
        for k, (a, p, i) in sorted(totals.items())
    )
    by_number = {p.number: p for p in payments}
    NotePayment.objects.bulk_create(
        NotePayment(
            note=note,
            payment=by_number[r.number],
            number=r.number,
            amount=r.amount,
            principal=r.principal,
            interest=r.interest,
        )
        for note, rows in zip(notes, per_note, strict=True)
        for r in rows
    )
    loan.schedule = payments  # serialized with the response without another query
    notify(
        Event(
            loan.borrower_id,
            NotificationKind.LOAN_FUNDED,
            f"Loan #{loan.pk} is funded: {loan.amount} is in your balance.",
            loan.pk,
        ),
        *(
            Event(
                n.lender_id,
                NotificationKind.LOAN_FUNDED,
                f"Loan #{loan.pk} is funded; your note #{n.pk} of {n.amount} starts today.",
                loan.pk,
            )
            for n in notes
            if several
        ),
    )
