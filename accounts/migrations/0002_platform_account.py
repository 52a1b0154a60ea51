"""The platform's fee account (LENME_PLATFORM_USERNAME), which cannot log in, and a Profile for every
user that existed before accounts did."""

from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import migrations


def forwards(apps, schema_editor):
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    Profile = apps.get_model("accounts", "Profile")
    User.objects.get_or_create(
        username=settings.LENME_PLATFORM_USERNAME, defaults={"is_active": False, "password": make_password(None)}
    )
    for user_id in User.objects.filter(profile__isnull=True).values_list("pk", flat=True):
        Profile.objects.create(user_id=user_id)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [migrations.RunPython(forwards, migrations.RunPython.noop)]
