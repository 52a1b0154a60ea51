"""Usernames are unique regardless of case, in the database too: two concurrent registrations of
'alice' and 'ALICE' cannot both succeed (the application check alone cannot see a race)."""

from django.conf import settings
from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0002_platform_account"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RunSQL(
            "CREATE UNIQUE INDEX accounts_username_ci_unique ON auth_user (lower(username));",
            "DROP INDEX accounts_username_ci_unique;",
        )
    ]
