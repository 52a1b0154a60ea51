"""Check the ledger's invariants and print a one-screen summary; exit 1 listing the first violations."""

from django.core.management.base import BaseCommand, CommandError

from accounts.audit import CHECKS, audit


class Command(BaseCommand):
    help = (
        "Audit the money: (a) balances = ledger rows, (b) reservations = live offers' holds, (c) platform "
        "account = fees of funded loans, (d) balances = deposits - withdrawals, (e) paid installments = "
        "repayment rows, (f) funding and fee rows = each funded loan's amount, fee and parties, (g) installment "
        "principals = loan amount and amount = principal + interest. Exit status 1 when anything is off."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=20, help="How many violations to list (default 20).")

    def handle(self, *args, limit: int = 20, **options):
        report = audit()
        self.stdout.write("Ledger audit")
        for (letter, _), result in zip(CHECKS, report.results, strict=True):
            verdict = self.style.SUCCESS("ok") if result.ok else self.style.ERROR(f"{len(result.violations)} BAD")
            self.stdout.write(f"  ({letter}) {result.title:<42} {result.checked:>8} checked  {verdict}")
        violations = report.violations
        if not violations:
            self.stdout.write(self.style.SUCCESS("Clean: every invariant holds."))
            return
        self.stdout.write(self.style.ERROR(f"{len(violations)} violation(s); the first {min(limit, len(violations))}:"))
        for violation in violations[:limit]:
            self.stdout.write(f"  {violation}")
        raise CommandError(f"the ledger audit found {len(violations)} violation(s)", returncode=1)
