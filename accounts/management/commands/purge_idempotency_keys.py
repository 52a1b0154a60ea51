"""Delete Idempotency-Key records older than LENME_IDEMPOTENCY_TTL (24 h); the job sweep runs it too."""

from datetime import timedelta

from django.core.management.base import BaseCommand

from lenme.api.idempotency import idempotency_purge


class Command(BaseCommand):
    help = "Purge stored Idempotency-Key responses older than LENME_IDEMPOTENCY_TTL seconds (default 24 h)."

    def add_arguments(self, parser):
        parser.add_argument("--older-than", type=int, help="Age in seconds instead of LENME_IDEMPOTENCY_TTL.")

    def handle(self, *args, older_than: int | None = None, **options):
        deleted = idempotency_purge(older_than=timedelta(seconds=older_than) if older_than is not None else None)
        self.stdout.write(f"purged {deleted} idempotency record(s)")
