"""Delinquency (v2): days past due and the charge-off date on loans, the DEFAULTED status and the
loan_defaulted notification. Existing loans start at 0 days past due; the next sweep ages them."""

from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("loans", "0002_notes"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="loan",
            name="days_past_due",
            field=models.PositiveIntegerField(db_index=True, default=0),
        ),
        migrations.AddField(
            model_name="loan",
            name="defaulted_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name="loan",
            name="status",
            field=models.CharField(
                choices=[
                    ("DRAFT", "Draft"),
                    ("OPEN", "Open"),
                    ("OFFERED", "Offered"),
                    ("ACCEPTED", "Accepted"),
                    ("FUNDED", "Funded"),
                    ("DEFAULTED", "Defaulted"),
                    ("COMPLETED", "Completed"),
                    ("CANCELLED", "Cancelled"),
                ],
                db_index=True,
                default="OPEN",
                max_length=16,
            ),
        ),
        migrations.AlterField(
            model_name="notification",
            name="kind",
            field=models.CharField(
                choices=[
                    ("offer_received", "Offer Received"),
                    ("offer_accepted", "Offer Accepted"),
                    ("offer_rejected", "Offer Rejected"),
                    ("offer_expired", "Offer Expired"),
                    ("loan_funded", "Loan Funded"),
                    ("payment_due", "Payment Due"),
                    ("payment_overdue", "Payment Overdue"),
                    ("payment_received", "Payment Received"),
                    ("loan_completed", "Loan Completed"),
                    ("loan_defaulted", "Loan Defaulted"),
                ],
                max_length=32,
            ),
        ),
        migrations.AddConstraint(
            model_name="loan",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("status", "DEFAULTED"), _negated=True), ("defaulted_at__isnull", False), _connector="OR"
                ),
                name="loan_defaulted_has_date",
            ),
        ),
    ]
