"""API tokens are kept as digests only. Existing DRF authtoken keys (table authtoken_token, from when
rest_framework.authtoken was installed) become digests of the same keys, so no client is logged out,
and the clear keys are deleted."""

import datetime
import hashlib

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

LEGACY_TABLE = "authtoken_token"


def legacy_tokens_to_digests(apps, schema_editor) -> int:
    """Copy every legacy key as its digest (as accounts.tokens.key_digest, frozen here), then delete the
    clear keys; returns how many moved."""
    from django.utils import timezone
    from django.utils.dateparse import parse_datetime

    connection = schema_editor.connection
    if LEGACY_TABLE not in connection.introspection.table_names():
        return 0
    AuthToken = apps.get_model("accounts", "AuthToken")
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT key, user_id, created FROM {LEGACY_TABLE}")  # noqa: S608 - a constant
        rows = cursor.fetchall()
    tokens = [AuthToken(digest=hashlib.sha256(key.encode("ascii")).hexdigest(), user_id=user_id) for key, user_id, _created in rows]
    AuthToken.objects.bulk_create(tokens)
    for token, (_key, _user_id, created) in zip(tokens, rows, strict=True):
        if isinstance(created, str):  # SQLite answers text
            created = parse_datetime(created)
        if created is not None:  # keep the issue time (auto_now_add set "now" on create)
            if timezone.is_naive(created):
                created = timezone.make_aware(created, datetime.UTC)
            AuthToken.objects.filter(digest=token.digest).update(created=created)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {LEGACY_TABLE}")  # noqa: S608 - a constant
    return len(tokens)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_username_case_insensitive_unique"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="AuthToken",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("digest", models.CharField(editable=False, max_length=64, unique=True)),
                ("created", models.DateTimeField(auto_now_add=True)),
                (
                    "user",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="auth_tokens",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
        ),
        migrations.RunPython(legacy_tokens_to_digests, migrations.RunPython.noop, elidable=False),
    ]
