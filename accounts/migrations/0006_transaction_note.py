"""Transaction.note_id (v2): the Note a funding, fee or repayment row belongs to."""

import django.db.models.deletion
from django.db import migrations, models


def v1_rows_belong_to_the_one_note(apps, schema_editor):
    """Each v1 funded loan has exactly one note (loans 0002): its funding, fee and repayment rows are
    that note's. This one-time annotation of existing rows (no amount or party changes) is the only
    write ever made to the ledger; on PostgreSQL the immutability trigger (0005) is set aside for it
    inside this migration's transaction and restored before it commits."""
    Transaction = apps.get_model("accounts", "Transaction")
    Note = apps.get_model("loans", "Note")
    if not Note.objects.exists():
        return
    postgres = schema_editor.connection.vendor == "postgresql"
    if postgres:
        schema_editor.execute("ALTER TABLE accounts_transaction DISABLE TRIGGER accounts_transaction_immutable")
    for note in Note.objects.iterator():
        Transaction.objects.filter(loan_id=note.loan_id, kind__in=["funding", "fee", "repayment"]).update(
            loan_note=note
        )
    if postgres:
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no pending FK checks block the ALTER
        schema_editor.execute("ALTER TABLE accounts_transaction ENABLE TRIGGER accounts_transaction_immutable")


class Migration(migrations.Migration):

    dependencies = [
        ('accounts', '0005_ledger_immutable'),
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
