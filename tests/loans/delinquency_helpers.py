"""Helpers for the delinquency and portfolio tests: funded loans made through the services, and a
reference schedule written from API.md's words (exact rationals, rounded half-up once)."""

import datetime
from decimal import Decimal
from fractions import Fraction

from loans import services
from loans.models import Loan, Payment


def ref_round(x: Fraction) -> Decimal:
    cents = x * 100
    whole = int(cents)  # non-negative here
    if cents - whole >= Fraction(1, 2):
        whole += 1
    return (Decimal(whole) / 100).quantize(Decimal("0.01"))


def ref_schedule(amount: str, rate: str, n: int) -> list[tuple[Decimal, Decimal, Decimal]]:
    """(amount, principal, interest) of rows 1..n: interest = round(B*r), payment = round(B*r/(1-(1+r)^-m)),
    principal = payment - interest, the last row's principal exactly B."""
    r = Fraction(Decimal(rate)) / 1200
    balance = Fraction(Decimal(amount))
    rows = []
    for k in range(1, n + 1):
        m = n - k + 1
        interest = ref_round(balance * r)
        payment = ref_round(balance / m) if r == 0 else ref_round(balance * r / (1 - (1 + r) ** -m))
        if k == n:
            principal = (Decimal(balance.numerator) / Decimal(balance.denominator)).quantize(Decimal("0.01"))
        else:
            principal = payment - interest
        rows.append((principal + interest, principal, interest))
        balance -= Fraction(principal)
    return rows


def funded_loan(borrower, parts: list[tuple[object, str, str | None]], *, amount: str, term: int) -> Loan:
    """A loan funded by `parts` = [(lender, rate, part amount or None for the whole loan)]."""
    loan = services.loan_create(
        borrower=borrower, amount=Decimal(amount), term_months=term, interest_rate=Decimal("30.00")
    )
    for lender, rate, part in parts:
        services.offer_submit(
            loan_id=loan.pk, lender=lender, interest_rate=Decimal(rate), amount=Decimal(part) if part else None
        )
    services.loan_accept(loan_id=loan.pk, borrower=borrower)
    for lender, _, _ in parts:
        services.loan_fund(loan_id=loan.pk, lender=lender)
    loan.refresh_from_db()
    return loan


def due_date(loan: Loan, number: int) -> datetime.date:
    return Payment.objects.get(loan=loan, number=number).due_date
