"""Funding: the lender pays out of the hold, the borrower receives the principal, the schedule is made."""

from django.conf import settings
from django.utils import timezone

from accounts.models import TransactionKind
from accounts.services import ledger_transfer, platform_user, profiles_save
from lenme.db import atomic_retry
from lenme.errors import (
    Forbidden,
    InvalidState,
)
from lenme.locks import lock_offers, lock_profiles
from lenme.money import ZERO
from loans import policies
from loans.models import (
    Loan,
    LoanStatus,
    NotificationKind,
    OfferStatus,
    Payment,
)
from loans.notifications import Event, notify
from loans.schedule import build_schedule
from loans.services.common import (
    _locked_visible_loan,
    _save_loan,
    _save_offers,
    transition,
)


@atomic_retry
def loan_fund(*, loan_id: int, lender) -> Loan:
    loan = _locked_visible_loan(loan_id, lender)
    if not policies.is_lender(loan, lender):
        raise Forbidden("Only the loan's lender may fund it.")
    if loan.status != LoanStatus.ACCEPTED:
        raise InvalidState(f"Only an ACCEPTED loan can be funded; this one is {loan.status}.")
    offer = lock_offers(loan.offers.filter(status=OfferStatus.ACCEPTED))[0]
    platform_name = settings.LENME_PLATFORM_USERNAME
    profiles = lock_profiles([loan.lender_id, loan.borrower_id], platform_username=platform_name)
    platform = next((p for p in profiles.values() if p.user.username == platform_name), None)
    if platform is None:  # the fee account is made by a migration; recreate it if someone removed it
        platform_user()
        profiles = lock_profiles([loan.lender_id, loan.borrower_id], platform_username=platform_name)
        platform = next(p for p in profiles.values() if p.user.username == platform_name)
    lender_profile, borrower_profile = profiles[loan.lender_id], profiles[loan.borrower_id]

    lender_profile.release_funds(offer.reserved_amount)
    offer.reserved_amount = ZERO
    entries = [
        ledger_transfer(
            kind=TransactionKind.FUNDING,
            amount=loan.amount,
            from_profile=lender_profile,
            to_profile=borrower_profile,
            loan=loan,
            note=f"Loan #{loan.pk} principal",
        )
    ]
    if loan.lenme_fee > 0:  # no ledger row for a zero fee
        entries.append(
            ledger_transfer(
                kind=TransactionKind.FEE,
                amount=loan.lenme_fee,
                from_profile=lender_profile,
                to_profile=platform,
                loan=loan,
                note=f"Loan #{loan.pk} Lenme fee",
            )
        )
    profiles_save(profiles.values(), entries)
    _save_offers([offer])

    transition(loan, LoanStatus.FUNDED)
    loan.funded_at = timezone.now()
    _save_loan(loan, "status", "funded_at")
    rows = build_schedule(
        amount=loan.amount, annual_rate=loan.interest_rate, term_months=loan.term_months, start=loan.funded_at.date()
    )
    payments = Payment.objects.bulk_create(
        Payment(
            loan=loan, number=r.number, due_date=r.due_date, amount=r.amount, principal=r.principal, interest=r.interest
        )
        for r in rows
    )
    loan.schedule = payments  # serialized with the response without another query
    notify(
        Event(
            loan.borrower_id,
            NotificationKind.LOAN_FUNDED,
            f"Loan #{loan.pk} is funded: {loan.amount} is in your balance.",
            loan.pk,
        )
    )
    return loan
