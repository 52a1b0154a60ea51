"""The ledger audit: invariants that must hold between balances, holds, ledger rows and loans.

Each check returns the violations it finds (and how many things it looked at); `audit_ledger` runs them
all in one consistent snapshot and prints a summary. Nothing here locks or writes.
"""

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

from django.conf import settings
from django.db import connection, transaction
from django.db.models import DecimalField, F, Q, Sum

from accounts.models import Profile, Transaction, TransactionKind
from lenme.money import MONEY, ZERO, ceil_cents
from loans.models import Loan, LoanStatus, Note, NotePayment, NoteStatus, Offer, OfferStatus, Payment

FUNDED_STATUSES = (LoanStatus.FUNDED, LoanStatus.DEFAULTED, LoanStatus.COMPLETED)


@dataclass(frozen=True)
class Violation:
    check: str
    subject: str
    detail: str

    def __str__(self) -> str:
        return f"[{self.check}] {self.subject}: {self.detail}"


@dataclass
class CheckResult:
    name: str
    title: str
    checked: int
    violations: list[Violation] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.violations


@dataclass
class AuditReport:
    results: list[CheckResult]

    @property
    def violations(self) -> list[Violation]:
        return [v for r in self.results for v in r.violations]

    @property
    def ok(self) -> bool:
        return not self.violations


def _money(value) -> Decimal:
    return (value if value is not None else ZERO).quantize(Decimal("0.01"))


def _sums_by(queryset, key: str, expression=None) -> dict[int, Decimal]:
    expression = expression if expression is not None else F("amount")
    rows = (
        queryset.order_by()
        .values(key)
        .annotate(total=Sum(expression, output_field=DecimalField(**MONEY)))
        .values_list(key, "total")
    )
    return {k: _money(total) for k, total in rows if k is not None}


def check_balances() -> CheckResult:
    """(a) Every profile's balance equals what its Transaction rows bring in minus what they take out."""
    result = CheckResult("balances", "balance = sum of its ledger rows", 0)
    incoming = _sums_by(Transaction.objects.all(), "to_user")
    outgoing = _sums_by(Transaction.objects.all(), "from_user")
    for user_id, username, balance in Profile.objects.values_list("user_id", "user__username", "balance").order_by(
        "user_id"
    ):
        result.checked += 1
        expected = incoming.get(user_id, ZERO) - outgoing.get(user_id, ZERO)
        if _money(balance) != expected:
            result.violations.append(
                Violation(result.name, f"user {user_id} ({username})", f"balance {balance} but ledger says {expected}")
            )
    return result


def _live_offers():
    """Offers that hold money: PENDING, or ACCEPTED on a loan not yet funded."""
    return Offer.objects.filter(
        Q(status=OfferStatus.PENDING) | (Q(status=OfferStatus.ACCEPTED) & ~Q(loan__status__in=FUNDED_STATUSES))
    )


def _expected_hold(status, amount, filled_amount, offer_fee, loan_amount, lenme_fee) -> Decimal:
    """PENDING: amount + lenme_fee * amount / loan amount rounded up; ACCEPTED: filled_amount + fee."""
    if status == OfferStatus.ACCEPTED and filled_amount is not None:
        return _money(filled_amount) + _money(offer_fee)
    return _money(amount) + ceil_cents(Fraction(lenme_fee) * Fraction(amount) / Fraction(loan_amount))


def check_reservations() -> CheckResult:
    """(b) Every reserved_balance equals the holds of its lender's live offers (amount + fee hold while
    PENDING, filled_amount + fee once ACCEPTED)."""
    result = CheckResult("reservations", "reserved = holds of live offers", 0)
    holds: dict[int, Decimal] = defaultdict(lambda: ZERO)
    live = _live_offers().values_list(
        "pk", "lender_id", "reserved_amount", "status", "amount", "filled_amount", "fee", "loan__amount",
        "loan__lenme_fee",
    )  # fmt: skip
    for offer_id, lender_id, reserved_amount, status, amount, filled, offer_fee, loan_amount, fee in live.order_by(
        "pk"
    ):
        hold = _expected_hold(status, amount, filled, offer_fee, loan_amount, fee)
        holds[lender_id] += hold
        if _money(reserved_amount) != hold:
            result.violations.append(
                Violation(
                    result.name, f"offer {offer_id}", f"live offer shows reserved {reserved_amount}, holds {hold}"
                )
            )
    dead = Offer.objects.exclude(pk__in=_live_offers().values("pk")).exclude(reserved_amount=0)
    for offer_id, status, reserved_amount in dead.values_list("pk", "status", "reserved_amount").order_by("pk"):
        result.violations.append(
            Violation(result.name, f"offer {offer_id}", f"{status} offer still shows reserved {reserved_amount}")
        )
    for user_id, username, reserved in Profile.objects.values_list(
        "user_id", "user__username", "reserved_balance"
    ).order_by("user_id"):
        result.checked += 1
        expected = holds.get(user_id, ZERO)
        if _money(reserved) != expected:
            result.violations.append(
                Violation(
                    result.name,
                    f"user {user_id} ({username})",
                    f"reserved_balance {reserved} but live offers hold {expected}",
                )
            )
    return result


def check_platform() -> CheckResult:
    """(c) The platform's fee account holds exactly lenme_fee of every funded loan."""
    result = CheckResult("platform", "platform = fees of funded loans", 0)
    funded = Loan.objects.filter(status__in=FUNDED_STATUSES)
    result.checked = funded.count()
    expected = _money(funded.aggregate(total=Sum("lenme_fee"))["total"])
    platform = Profile.objects.filter(user__username=settings.LENME_PLATFORM_USERNAME).values_list("balance", flat=True)
    balance = _money(platform.first())
    if balance != expected:
        result.violations.append(
            Violation(
                result.name,
                f"platform account {settings.LENME_PLATFORM_USERNAME!r}",
                f"balance {balance} but {result.checked} funded loans paid fees of {expected}",
            )
        )
    return result


def check_conservation() -> CheckResult:
    """(d) Money is neither made nor lost inside Lenme: all balances = deposits - withdrawals."""
    result = CheckResult("conservation", "sum of balances = deposits - withdrawals", 1)
    total = _money(Profile.objects.aggregate(total=Sum("balance"))["total"])
    by_kind = _sums_by(
        Transaction.objects.filter(kind__in=[TransactionKind.DEPOSIT, TransactionKind.WITHDRAWAL]), "kind"
    )
    deposits = by_kind.get(TransactionKind.DEPOSIT, ZERO)
    withdrawals = by_kind.get(TransactionKind.WITHDRAWAL, ZERO)
    if total != deposits - withdrawals:
        result.violations.append(
            Violation(
                result.name,
                "all profiles",
                f"balances sum to {total} but deposits {deposits} - withdrawals {withdrawals} = {deposits - withdrawals}",
            )
        )
    return result


def check_repayments() -> CheckResult:
    """(e) On each FUNDED/COMPLETED loan, the paid installments are exactly those with repayment rows:
    borrower -> a note's lender, one per note owed more than 0.00, adding up to amount + late fee; the
    notes' late fee shares add up to the late fee (each row's own amount is tied in (g)); COMPLETED
    means every installment is paid (v2: or settled by a payoff). (v2) And check_early_repayments."""
    result = CheckResult("repayments", "paid installments = repayment rows", 0)
    loans = {
        pk: (status, borrower_id, term)
        for pk, status, borrower_id, term in Loan.objects.filter(status__in=FUNDED_STATUSES).values_list(
            "pk", "status", "borrower_id", "term_months"
        )
    }
    payments: dict[int, list[tuple]] = defaultdict(list)
    settled_rows: dict[int, int] = defaultdict(int)
    for *row, settled in Payment.objects.filter(loan_id__in=loans.keys()).values_list(
        "loan_id", "pk", "number", "amount", "late_fee", "paid", "settled"
    ):
        payments[row[0]].append(tuple(row[1:]))
        settled_rows[row[0]] += settled
    note_lenders = dict(Note.objects.values_list("pk", "lender_id"))
    note_rows: dict[int, dict[int, tuple]] = defaultdict(dict)  # payment -> note -> (its row, late fee share)
    for payment_id, note_id, amount, late_fee in NotePayment.objects.filter(
        payment__loan_id__in=loans.keys()
    ).values_list("payment_id", "note_id", "amount", "late_fee"):
        note_rows[payment_id][note_id] = (_money(amount), _money(late_fee))
    repayments: dict[int, list[tuple]] = defaultdict(list)
    for loan_id, payment_id, amount, from_id, to_id, note_id in Transaction.objects.filter(
        kind=TransactionKind.REPAYMENT
    ).values_list("loan_id", "payment_id", "amount", "from_user_id", "to_user_id", "loan_note_id"):
        repayments[loan_id].append((payment_id, amount, from_id, to_id, note_id))

    for loan_id in sorted(set(repayments) - set(loans)):
        result.violations.append(
            Violation(result.name, f"loan {loan_id}", "repayment rows on a loan that is not FUNDED or COMPLETED")
        )
    for loan_id, (status, borrower_id, term) in sorted(loans.items()):
        result.checked += 1

        def bad(detail: str, loan_id: int = loan_id) -> None:
            result.violations.append(Violation(result.name, f"loan {loan_id}", detail))

        rows = payments.get(loan_id, [])
        if len(rows) != term:
            bad(f"{len(rows)} installments for a {term}-month loan")
        rows_by_pk = {pk: (number, amount, late_fee, paid) for pk, number, amount, late_fee, paid in rows}
        paid_by_pk: dict[int, list[tuple]] = defaultdict(list)
        for payment_id, amount, from_id, to_id, note_id in repayments.get(loan_id, []):
            paid_by_pk[payment_id].append((amount, from_id, to_id, note_id))
        for payment_id in sorted(set(paid_by_pk) - set(rows_by_pk), key=lambda p: (p is None, p or 0)):
            bad(f"repayment row for payment {payment_id}, which is not an installment of this loan")
        for pk, (number, amount, late_fee, paid) in sorted(rows_by_pk.items(), key=lambda item: item[1][0]):
            ledger = paid_by_pk.get(pk, [])
            due = _money(amount) + _money(late_fee)
            if paid and not ledger and due > 0:
                bad(f"installment {number} is paid but has {len(ledger)} repayment rows")
            elif not paid and ledger:
                bad(f"installment {number} is unpaid but has {len(ledger)} repayment rows")
            if ledger:
                moved = sum((_money(m) for m, _, _, _ in ledger), ZERO)
                if moved != due:
                    bad(f"installment {number} repaid {moved}, due {due}")
                if len({n for _, _, _, n in ledger}) != len(ledger):
                    bad(f"installment {number} pays one note twice")
            for _, from_id, to_id, note_id in ledger:
                if from_id != borrower_id or note_id not in note_lenders or to_id != note_lenders[note_id]:
                    bad(f"installment {number} repaid from user {from_id} to {to_id}, not borrower -> note's lender")
            if paid:
                parts = note_rows.get(pk, {})
                shares = sum((share for _, share in parts.values()), ZERO)
                if shares != _money(late_fee):
                    bad(f"installment {number}'s late fee {_money(late_fee)} is not its notes' shares, {shares}")
                owed = sum(1 for part in parts.values() if part[0] + part[1] > 0)
                if ledger and len(ledger) != owed:
                    bad(f"installment {number} has {len(ledger)} repayment rows for {owed} notes owed something")
        # (v2) A payoff settles the installments after the ones it paid: they count as closed, not paid.
        closed = sum(1 for *_, paid in rows if paid) + settled_rows.get(loan_id, 0)
        all_paid = bool(rows) and closed == len(rows)
        if status == LoanStatus.COMPLETED and not all_paid:
            bad("COMPLETED with an unpaid installment")
        if settled_rows.get(loan_id) and status != LoanStatus.COMPLETED:
            bad(f"{settled_rows[loan_id]} settled installments on a loan that is {status}")
        if status in (LoanStatus.FUNDED, LoanStatus.DEFAULTED) and all_paid:
            bad(f"every installment is paid but the loan is still {status}")
    # (v2) Prepayments and payoffs belong to the repayments' check (one summary line): see
    # check_early_repayments.
    result.violations += [Violation(result.name, v.subject, v.detail) for v in check_early_repayments().violations]
    return result


# Ties of a funded loan to its ledger rows and its schedule. Each is a small function over one loan's
# figures, so they can be applied per note once a loan has several (the note is then the unit).


def funding_ties(
    *, amount: Decimal, fee: Decimal, borrower_id: int, lender_id: int, platform_id: int | None, rows: list[tuple]
) -> list[str]:
    """Problems with one funded loan's funding and fee rows ((kind, amount, from, to) each): exactly one
    funding row of `amount` lender -> borrower, and one fee row of `fee` lender -> platform (none at 0)."""
    problems = []
    funding = [r for r in rows if r[0] == TransactionKind.FUNDING]
    fees = [r for r in rows if r[0] == TransactionKind.FEE]
    if len(funding) != 1:
        problems.append(f"{len(funding)} funding rows, expected 1")
    for _, moved, from_id, to_id in funding:
        if _money(moved) != _money(amount):
            problems.append(f"funding row of {_money(moved)}, the loan's amount is {_money(amount)}")
        if (from_id, to_id) != (lender_id, borrower_id):
            problems.append(f"funding row from user {from_id} to {to_id}, not lender -> borrower")
    expected_fees = 1 if _money(fee) > 0 else 0
    if len(fees) != expected_fees:
        problems.append(f"{len(fees)} fee rows, expected {expected_fees}")
    for _, moved, from_id, to_id in fees:
        if _money(moved) != _money(fee):
            problems.append(f"fee row of {_money(moved)}, the loan's lenme_fee is {_money(fee)}")
        if (from_id, to_id) != (lender_id, platform_id):
            problems.append(f"fee row from user {from_id} to {to_id}, not lender -> platform")
    return problems


def schedule_ties(*, amount: Decimal, rows: list[tuple]) -> list[str]:
    """Problems with one funded loan's installments ((number, amount, principal, interest) each): every
    row's amount = principal + interest, and the principals sum to the loan's amount."""
    problems = []
    for number, row_amount, principal, interest in sorted(rows):
        if _money(row_amount) != _money(principal) + _money(interest):
            problems.append(
                f"installment {number} amount {_money(row_amount)} is not principal {_money(principal)} "
                f"+ interest {_money(interest)}"
            )
    principal_total = sum((_money(r[2]) for r in rows), ZERO)
    if principal_total != _money(amount):
        problems.append(f"installment principals sum to {principal_total}, the loan's amount is {_money(amount)}")
    return problems


def _funded_loans() -> dict[int, tuple]:
    return {
        pk: rest
        for pk, *rest in Loan.objects.filter(status__in=FUNDED_STATUSES).values_list(
            "pk", "amount", "lenme_fee", "borrower_id", "lender_id"
        )
    }


def check_funding() -> CheckResult:
    """(f) Per note: each note of a funded loan has one funding row of its amount and one fee row of its
    fee (none at 0), from its lender to the borrower and the platform; the notes' fees add up to the
    loan's lenme_fee; no other loan, and no row without a note, has any."""
    result = CheckResult("funding", "funding and fee rows = loan amount and fee", 0)
    loans = _funded_loans()
    platform_id = (
        Profile.objects.filter(user__username=settings.LENME_PLATFORM_USERNAME)
        .values_list("user_id", flat=True)
        .first()
    )
    rows: dict[int | None, list[tuple]] = defaultdict(list)
    for loan_id, *row in Transaction.objects.filter(
        kind__in=[TransactionKind.FUNDING, TransactionKind.FEE]
    ).values_list("loan_id", "loan_note_id", "kind", "amount", "from_user_id", "to_user_id"):
        rows[loan_id].append(tuple(row))
    for loan_id in sorted(set(rows) - set(loans), key=lambda k: (k is None, k or 0)):
        result.violations.append(
            Violation(result.name, f"loan {loan_id}", "funding or fee rows on a loan that is not FUNDED or COMPLETED")
        )
    notes: dict[int, list[tuple]] = defaultdict(list)
    for note_id, loan_id, lender_id, note_amount, note_fee in Note.objects.filter(loan_id__in=loans.keys()).values_list(
        "pk", "loan_id", "lender_id", "amount", "fee"
    ):
        notes[loan_id].append((note_id, lender_id, note_amount, note_fee))
    for loan_id, (amount, fee, borrower_id, lender_id) in sorted(loans.items()):
        result.checked += 1
        loan_notes = notes.get(loan_id, [])
        by_note: dict[int | None, list[tuple]] = defaultdict(list)
        for note_id, *row in rows.get(loan_id, []):
            by_note[note_id].append(tuple(row))
        if by_note.get(None) and notes.get(loan_id):
            result.violations.append(
                Violation(result.name, f"loan {loan_id}", f"{len(by_note[None])} funding or fee rows of no note")
            )
        fees = sum((_money(f) for *_, f in loan_notes), ZERO)
        if loan_notes and fees != _money(fee):
            result.violations.append(
                Violation(
                    result.name, f"loan {loan_id}", f"its notes' fees add up to {fees}, lenme_fee is {_money(fee)}"
                )
            )
        if not loan_notes:  # a funded loan without notes is broken; tie its rows to the loan as v1 did
            loan_notes = [(None, lender_id, amount, fee)]
            result.violations.append(Violation(result.name, f"loan {loan_id}", "a funded loan without notes"))
        for note_id, note_lender_id, note_amount, note_fee in loan_notes:
            subject = f"loan {loan_id}" if len(loan_notes) == 1 else f"loan {loan_id} note {note_id}"
            for problem in funding_ties(
                amount=note_amount,
                fee=note_fee,
                borrower_id=borrower_id,
                lender_id=note_lender_id,
                platform_id=platform_id,
                rows=by_note.get(note_id, []),
            ):
                result.violations.append(Violation(result.name, subject, problem))
    return result


def _prepaid_by_note() -> dict[tuple[int, int], Decimal]:
    """(v2) (loan, note) -> the extra principal its lender received in `prepayment` rows."""
    return {
        (loan_id, note_id): _money(total)
        for loan_id, note_id, total in Transaction.objects.filter(kind=TransactionKind.PREPAYMENT)
        .order_by()
        .values("loan_id", "loan_note_id")
        .annotate(total=Sum("amount"))
        .values_list("loan_id", "loan_note_id", "total")
    }


def check_schedule() -> CheckResult:
    """(g) Each funded loan's installments (amount = principal + interest, principals sum to its amount
    less its prepayments) and, per note, its rows the same way over the note's amount less its own; each installment's amount, principal
    and interest are the sums of its note rows; and each repayment row pays its note exactly its row
    plus its late fee share, so what every lender received is their paid rows plus late fee shares."""
    result = CheckResult("schedule", "installment principals = loan amount; installments = note rows", 0)
    loans = _funded_loans()
    prepaid_by_note = _prepaid_by_note()
    prepaid_by_loan: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for (loan_id, _note_id), moved in prepaid_by_note.items():
        prepaid_by_loan[loan_id] += moved
    rows: dict[int, list[tuple]] = defaultdict(list)
    for loan_id, *row in Payment.objects.filter(loan_id__in=loans.keys()).values_list(
        "loan_id", "number", "amount", "principal", "interest"
    ):
        rows[loan_id].append(tuple(row))
    note_rows: dict[int, list[tuple]] = defaultdict(list)
    parts: dict[tuple[int, int], Decimal] = {}  # (payment, note) -> its row + late fee share
    for note_id, loan_id, payment_id, number, amount, principal, interest, late_fee in NotePayment.objects.filter(
        note__loan_id__in=loans.keys()
    ).values_list("note_id", "note__loan_id", "payment_id", "number", "amount", "principal", "interest", "late_fee"):
        note_rows[note_id].append((loan_id, number, amount, principal, interest))
        parts[(payment_id, note_id)] = _money(amount) + _money(late_fee)
    note_amounts = dict(Note.objects.filter(loan_id__in=loans.keys()).values_list("pk", "amount"))
    for loan_id, (amount, *_) in sorted(loans.items()):
        result.checked += 1
        # (v2) Prepayments paid part of the principal outside the rows: the rows carry the rest.
        for problem in schedule_ties(amount=amount - prepaid_by_loan[loan_id], rows=rows.get(loan_id, [])):
            result.violations.append(Violation(result.name, f"loan {loan_id}", problem))
    sums: dict[tuple[int, int], list[Decimal]] = defaultdict(lambda: [ZERO, ZERO, ZERO])
    for note_id, mine in sorted(note_rows.items()):
        result.checked += 1
        loan_id = mine[0][0]
        left = note_amounts[note_id] - prepaid_by_note.get((loan_id, note_id), ZERO)
        for problem in schedule_ties(amount=left, rows=[r[1:] for r in mine]):
            result.violations.append(Violation(result.name, f"loan {loan_id} note {note_id}", problem))
        for _, number, amount, principal, interest in mine:
            total = sums[(loan_id, number)]
            total[0] += _money(amount)
            total[1] += _money(principal)
            total[2] += _money(interest)
    for loan_id, loan_rows in sorted(rows.items()):
        for number, amount, principal, interest in sorted(loan_rows):
            got = tuple(sums.get((loan_id, number), (ZERO, ZERO, ZERO)))
            if got != (_money(amount), _money(principal), _money(interest)):
                result.violations.append(
                    Violation(
                        result.name,
                        f"loan {loan_id}",
                        f"installment {number} is {_money(amount)}/{_money(principal)}/{_money(interest)}, "
                        f"its note rows sum to {got[0]}/{got[1]}/{got[2]}",
                    )
                )
    for payment_id, note_id, moved, loan_id in Transaction.objects.filter(
        kind=TransactionKind.REPAYMENT, loan_id__in=loans.keys()
    ).values_list("payment_id", "loan_note_id", "amount", "loan_id"):
        expected = parts.get((payment_id, note_id))
        if expected is not None and _money(moved) != expected:
            result.violations.append(
                Violation(
                    result.name,
                    f"loan {loan_id} note {note_id}",
                    f"repaid {_money(moved)} for payment {payment_id}, its row and late fee share are {expected}",
                )
            )
    return result


def check_notes() -> CheckResult:
    """(h) The notes: each note's principal repaid (paid and settled rows, prepayments) + outstanding = its amount; the notes of a funded loan
    add up to its amount; a note is REPAID exactly when its loan is COMPLETED. (Each note's funding and
    fee rows are tied in (f); its rows, the installments and what its lender received in (g).) (v2) And
    check_charge_offs: each note's status follows its loan's, charged-off principal only after a charge-off."""
    result = CheckResult("notes", "notes repay their amounts and add up to the loan", 0)
    loans = dict(Loan.objects.filter(status__in=FUNDED_STATUSES).values_list("pk", "amount"))
    completed = set(Loan.objects.filter(status=LoanStatus.COMPLETED).values_list("pk", flat=True))
    notes = {
        pk: (loan_id, lender_id, _money(amount), _money(fee), status)
        for pk, loan_id, lender_id, amount, fee, status in Note.objects.values_list(
            "pk", "loan_id", "lender_id", "amount", "fee", "status"
        )
    }
    rows: dict[int, list[tuple]] = defaultdict(list)
    for note_id, principal, paid, settled in NotePayment.objects.values_list(
        "note_id", "principal", "payment__paid", "payment__settled"
    ):
        rows[note_id].append((_money(principal), paid or settled))  # a settled row's principal went in the payoff
    prepaid = {note_id: moved for (_, note_id), moved in _prepaid_by_note().items()}

    def bad(subject: str, detail: str) -> None:
        result.violations.append(Violation(result.name, subject, detail))

    per_loan: dict[int, list[int]] = defaultdict(list)
    for note_id, (loan_id, _lender_id, amount, _fee, status) in sorted(notes.items()):
        result.checked += 1
        per_loan[loan_id].append(note_id)
        subject = f"note {note_id}"
        if (loan_id in completed) != (status == NoteStatus.REPAID):
            bad(subject, f"{status} note on a loan that is {'' if loan_id in completed else 'not '}COMPLETED")
        mine = rows.get(note_id, [])
        repaid = sum((p for p, paid in mine if paid), ZERO) + prepaid.get(note_id, ZERO)
        outstanding = sum((p for p, paid in mine if not paid), ZERO)
        if repaid + outstanding != amount:
            bad(subject, f"principal repaid {repaid} + outstanding {outstanding} != amount {amount}")
    for loan_id, amount in sorted(loans.items()):
        ids = per_loan.get(loan_id, [])
        total = sum((notes[n][2] for n in ids), ZERO)
        if total != _money(amount):
            bad(f"loan {loan_id}", f"its {len(ids)} notes add up to {total}, the loan is for {amount}")
    # (v2) Charge-offs belong to the notes' check (one summary line): see check_charge_offs.
    result.violations += [Violation(result.name, v.subject, v.detail) for v in check_charge_offs().violations]
    return result


# (v2) The note status each loan status implies: the loan's lifecycle drives its notes'.
NOTE_STATUS_OF_LOAN = {
    LoanStatus.FUNDED: NoteStatus.ACTIVE,
    LoanStatus.DEFAULTED: NoteStatus.CHARGED_OFF,
    LoanStatus.COMPLETED: NoteStatus.REPAID,
}


def check_charge_offs() -> CheckResult:
    """(part of (h)) Charge-offs: every note's status follows its loan's (FUNDED: ACTIVE, DEFAULTED: CHARGED_OFF,
    COMPLETED: REPAID); a DEFAULTED loan has `defaulted_at`; a note has charged-off principal only if its
    loan was charged off, and never more than its amount."""
    result = CheckResult("charge_offs", "notes follow their loan; charge-offs add up", 0)
    loans = {
        pk: (status, defaulted_at)
        for pk, status, defaulted_at in Loan.objects.filter(status__in=FUNDED_STATUSES).values_list(
            "pk", "status", "defaulted_at"
        )
    }
    for loan_id, (status, defaulted_at) in sorted(loans.items()):
        if status == LoanStatus.DEFAULTED and defaulted_at is None:
            result.violations.append(Violation(result.name, f"loan {loan_id}", "DEFAULTED without defaulted_at"))
    for pk, loan_id, status, amount, charged_off in Note.objects.values_list(
        "pk", "loan_id", "status", "amount", "charged_off_principal"
    ):
        result.checked += 1
        loan_status, defaulted_at = loans.get(loan_id, (None, None))
        expected = NOTE_STATUS_OF_LOAN.get(loan_status)
        if status != expected:
            result.violations.append(
                Violation(result.name, f"note {pk}", f"{status} on a loan that is {loan_status} (expected {expected})")
            )
        if charged_off and defaulted_at is None:
            result.violations.append(
                Violation(result.name, f"note {pk}", f"charged-off principal {charged_off} on a loan never charged off")
            )
        if not ZERO <= _money(charged_off) <= _money(amount):
            result.violations.append(
                Violation(result.name, f"note {pk}", f"charged-off principal {charged_off} outside 0..{amount}")
            )
    return result


def check_early_repayments() -> CheckResult:
    """(part of (e)) (v2) Prepayments and payoffs: every such row is borrower -> a note's lender on that note's loan;
    prepayments only on a loan still repaying or completed; a loan paid off early (closed_reason
    prepaid) has settled installments after its paid ones and one payoff row per note owed something,
    of at least the note's settled principal (the rest is accrued interest); no other loan has any."""
    result = CheckResult("early_repayments", "prepayments and payoffs = settled rows + interest", 0)
    loans = {
        pk: (status, reason, borrower_id)
        for pk, status, reason, borrower_id in Loan.objects.filter(status__in=FUNDED_STATUSES).values_list(
            "pk", "status", "closed_reason", "borrower_id"
        )
    }
    notes = {
        pk: (loan_id, lender_id) for pk, loan_id, lender_id in Note.objects.values_list("pk", "loan_id", "lender_id")
    }
    settled: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for note_id, principal in NotePayment.objects.filter(payment__settled=True).values_list("note_id", "principal"):
        settled[note_id] += _money(principal)
    last_paid: dict[int, int] = {}
    first_settled: dict[int, int] = {}
    for loan_id, number, paid, is_settled in Payment.objects.filter(Q(paid=True) | Q(settled=True)).values_list(
        "loan_id", "number", "paid", "settled"
    ):
        if paid:
            last_paid[loan_id] = max(last_paid.get(loan_id, 0), number)
        if is_settled:
            first_settled[loan_id] = min(first_settled.get(loan_id, number), number)
    payoffs: dict[int, list[Decimal]] = defaultdict(list)

    def bad(subject: str, detail: str) -> None:
        result.violations.append(Violation(result.name, subject, detail))

    for pk, kind, loan_id, note_id, from_id, to_id, moved in Transaction.objects.filter(
        kind__in=[TransactionKind.PREPAYMENT, TransactionKind.PAYOFF]
    ).values_list("pk", "kind", "loan_id", "loan_note_id", "from_user_id", "to_user_id", "amount"):
        result.checked += 1
        status, reason, borrower_id = loans.get(loan_id, (None, None, None))
        note_loan, lender_id = notes.get(note_id, (None, None))
        if status is None or note_loan != loan_id or (from_id, to_id) != (borrower_id, lender_id):
            bad(
                f"transaction {pk}",
                f"{kind} row on loan {loan_id} note {note_id} is not borrower -> that note's lender",
            )
            continue
        if kind == TransactionKind.PAYOFF:
            payoffs[note_id].append(_money(moved))
            if reason != "prepaid":
                bad(f"transaction {pk}", f"payoff row on loan {loan_id}, which is {status} {reason or ''}".rstrip())
    for loan_id, (status, reason, _) in sorted(loans.items()):
        if reason == "prepaid":
            if loan_id not in first_settled:
                bad(f"loan {loan_id}", "paid off early (prepaid) without a settled installment")
            elif first_settled[loan_id] <= last_paid.get(loan_id, 0):
                bad(f"loan {loan_id}", "a settled installment before a paid one")
        elif loan_id in first_settled:
            bad(f"loan {loan_id}", f"settled installments on a loan closed as {reason or status}")
    for note_id in sorted(notes):
        rows = payoffs.get(note_id, [])
        if len(rows) > 1:
            bad(f"note {note_id}", f"{len(rows)} payoff rows")
        principal = settled.get(note_id, ZERO)
        if principal > 0 and not rows:
            bad(f"note {note_id}", f"settled principal {principal} but no payoff row")
        if rows and rows[0] < principal:
            bad(f"note {note_id}", f"payoff row of {rows[0]} below its settled principal {principal}")
    return result


CHECKS: tuple[tuple[str, Callable[[], CheckResult]], ...] = (
    ("a", check_balances),
    ("b", check_reservations),
    ("c", check_platform),
    ("d", check_conservation),
    ("e", check_repayments),
    ("f", check_funding),
    ("g", check_schedule),
    ("h", check_notes),
)


def audit() -> AuditReport:
    """Run every check in one read-only snapshot, so a live system cannot show a half-done step."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            # Must be the transaction's first statement; inside a test's transaction we just read.
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        return AuditReport([check() for _, check in CHECKS])
