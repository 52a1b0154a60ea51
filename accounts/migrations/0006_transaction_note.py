"""Transaction.note_id (v2): the Note a funding, fee or repayment row belongs to."""

import django.db.models.deletion
from django.db import migrations, models


def v1_rows_belong_to_the_one_note(apps, schema_editor):
    Transaction = apps.get_model("accounts", "Transaction")
    Note = apps.get_model("loans", "Note")
    for note in Note.objects.iterator():
        Transaction.objects.filter(loan_id=note.loan_id, kind__in=["funding", "fee", "repayment"]).update(
            loan_note=note
        )


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0003_username_case_insensitive_unique'),
        ('loans', '0002_notes'),
    ]

    operations = [
        migrations.AddField(
            model_name='transaction',
            name='loan_note',
            field=models.ForeignKey(blank=True, db_column='note_id', null=True, on_delete=django.db.models.deletion.PROTECT, related_name='transactions', to='loans.note'),
        ),
        migrations.RunPython(v1_rows_belong_to_the_one_note, migrations.RunPython.noop),
    ]
