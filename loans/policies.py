"""Who may do what to a loan: the one place services, selectors and views ask. Nothing here locks."""

from lenme.errors import Forbidden
from loans.models import Loan


def is_borrower(loan: Loan, user) -> bool:
    return loan.borrower_id == user.pk


def is_lender(loan: Loan, user) -> bool:
    """A lender of the loan: of an accepted offer (before funding) or of a note (after)."""
    return user.pk is not None and (loan.lender_id == user.pk or user.pk in (loan.lender_ids or ()))


def may_see_schedule(loan: Loan, user) -> bool:
    """The schedule is the parties' business: the borrower and every lender."""
    return is_borrower(loan, user) or is_lender(loan, user)


def may_see_note(note, user) -> bool:
    """A note is its lender's and its loan's borrower's business."""
    return note.lender_id == user.pk or note.loan.borrower_id == user.pk


def require_borrower(loan: Loan, user) -> None:
    if not is_borrower(loan, user):
        raise Forbidden("Only the loan's borrower may do this.")


def role_allows(role: str, *, loan: Loan, user, offer_lender_id: int | None = None) -> bool:
    """What the views' `role` means: borrower, lender, not_borrower, or offer_lender (the offer's)."""
    return {
        "borrower": lambda: is_borrower(loan, user),
        "lender": lambda: is_lender(loan, user),
        "not_borrower": lambda: not is_borrower(loan, user),
        "offer_lender": lambda: offer_lender_id is not None and offer_lender_id == user.pk,
    }[role]()
