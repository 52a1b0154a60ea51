"""Demo users for trying the API: `eval "$(.venv/bin/python manage.py seed_demo)"` sets their tokens.

Idempotent: users and passwords are created once; balances are topped up (through the deposit
service, so the ledger balances) only to their target, never doubled. Tokens are stored as digests
only, so each run issues (and prints) a new token per user; earlier ones keep working. The only stdout line is the
`export ...` line; everything else goes to stderr.
"""

import shlex
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import Profile
from accounts.services import account_deposit
from accounts.tokens import token_issue

# (environment variable, username, password, target balance)
DEMO_USERS = (
    ("BORROWER_TOKEN", "demo_borrower", "demo-borrower-pass", Decimal("1000.00")),
    ("LENDER_TOKEN", "demo_lender", "demo-lender-pass", Decimal("10000.00")),
    ("LENDER2_TOKEN", "demo_lender2", "demo-lender2-pass", Decimal("10000.00")),
)


class Command(BaseCommand):
    help = (
        "Create the demo borrower and lenders (known passwords, balances topped up to a target) and print "
        "`export BORROWER_TOKEN=... LENDER_TOKEN=... LENDER2_TOKEN=...` for eval."
    )

    def handle(self, *args, **options) -> None:
        self.stderr.style_func = None  # plain text: stderr carries information, not errors
        exports = []
        for variable, username, password, target in DEMO_USERS:
            user, token, deposited = self._seed_user(username=username, password=password, target=target)
            balance = Profile.objects.get(user=user).balance
            action = f"deposited {deposited}" if deposited else "unchanged"
            self.stderr.write(f"{username:<14} password {password:<20} balance {balance:>10} ({action}); ${variable}")
            exports.append(f"{variable}={shlex.quote(token)}")
        self.stdout.write("export " + " ".join(exports))

    def _seed_user(self, *, username: str, password: str, target: Decimal):
        User = get_user_model()
        with transaction.atomic():
            user, created = User.objects.get_or_create(username=username, defaults={"email": f"{username}@example.com"})
            if created or not user.check_password(password):
                user.set_password(password)
                user.save(update_fields=["password"])
            token = token_issue(user=user)
        # Top up only what is missing, so a rerun deposits nothing (or just enough after a demo spent some).
        missing = target - Profile.objects.get(user=user).balance
        if missing > 0:
            account_deposit(user=user, amount=missing)
        return user, token, missing if missing > 0 else None
