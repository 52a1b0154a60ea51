"""(v2) Payoff and prepayment: settled installments, a COMPLETED loan's closed_reason, 0.00 installments."""

from django.conf import settings
from django.db import migrations, models


def completed_loans_were_repaid(apps, schema_editor):
    """Every loan COMPLETED before v2 was repaid installment by installment."""
    apps.get_model("loans", "Loan").objects.filter(status="COMPLETED").update(closed_reason="repaid")


class Migration(migrations.Migration):
    dependencies = [
        ("loans", "0003_delinquency"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="payment",
            name="payment_amount_positive",
        ),
        migrations.AddField(
            model_name="loan",
            name="closed_reason",
            field=models.CharField(
                blank=True, choices=[("repaid", "Repaid"), ("prepaid", "Prepaid")], default="", max_length=16
            ),
        ),
        migrations.AddField(
            model_name="payment",
            name="settled",
            field=models.BooleanField(default=False),
        ),
        migrations.RunPython(completed_loans_were_repaid, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="loan",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("closed_reason__in", ["repaid", "prepaid"]), ("status", "COMPLETED")),
                    models.Q(models.Q(("status", "COMPLETED"), _negated=True), ("closed_reason", "")),
                    _connector="OR",
                ),
                name="loan_closed_reason_iff_completed",
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(("amount__gte", 0)), name="payment_amount_non_negative"
            ),
        ),
        migrations.AddConstraint(
            model_name="payment",
            constraint=models.CheckConstraint(
                condition=models.Q(("paid", True), ("settled", True), _negated=True), name="payment_paid_or_settled"
            ),
        ),
    ]
