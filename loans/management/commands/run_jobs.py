"""Run the job sweep by hand: once, or --loop every LENME_SWEEP_SECONDS; --today for backfills."""

import datetime
import time

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from loans.jobs import sweep


class Command(BaseCommand):
    help = "Run one sweep of the scheduled jobs (offer expiry, funding deadline, autopay, overdue, reminders)."

    def add_arguments(self, parser):
        parser.add_argument("--loop", action="store_true", help="Keep sweeping every LENME_SWEEP_SECONDS.")
        parser.add_argument("--today", help="Apply the date rules as of this day (YYYY-MM-DD); TTLs use the clock.")

    def handle(self, *args, loop: bool = False, today: str | None = None, **options):
        day = None
        if today:
            try:
                day = datetime.date.fromisoformat(today)
            except ValueError as exc:
                raise CommandError(f"--today must be YYYY-MM-DD, not {today!r}") from exc
        while True:
            run = sweep(today=day)
            summary = ", ".join(f"{name}={count}" for name, count in run.counts.items())
            self.stdout.write(f"sweep {run.today}: {summary}")
            if not loop:
                return
            time.sleep(settings.LENME_SWEEP_SECONDS)
