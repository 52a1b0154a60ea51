"""Notes (v2): part offers, notes and their rows; v1 data becomes one whole-loan note per funded loan."""

import django.db.models.deletion
import django.db.models.expressions
from decimal import Decimal
from django.conf import settings
from django.db import migrations, models


def offers_as_whole_loan(apps, schema_editor):
    """A v1 offer was for the whole loan; an accepted one was filled whole and carried the whole fee."""
    Offer = apps.get_model("loans", "Offer")
    Loan = apps.get_model("loans", "Loan")
    for offer in Offer.objects.select_related("loan").iterator():
        offer.amount = offer.loan.amount
        if offer.status == "ACCEPTED":
            offer.filled_amount = offer.loan.amount
            offer.fee = offer.loan.lenme_fee
            if offer.loan.status in ("FUNDED", "COMPLETED"):
                offer.funded_at = offer.loan.funded_at
        offer.save(update_fields=["amount", "filled_amount", "fee", "funded_at"])
    for loan in Loan.objects.exclude(lender=None).iterator():
        loan.lender_ids = [loan.lender_id]
        loan.save(update_fields=["lender_ids"])


def funded_loans_get_one_note(apps, schema_editor):
    """Every v1 funded loan has one note, whose rows are the loan's installments."""
    Loan = apps.get_model("loans", "Loan")
    Note = apps.get_model("loans", "Note")
    NotePayment = apps.get_model("loans", "NotePayment")
    for loan in Loan.objects.filter(status__in=["FUNDED", "COMPLETED"]).iterator():
        offer = loan.offers.filter(status="ACCEPTED").first()
        note = Note.objects.create(
            loan=loan,
            lender_id=loan.lender_id,
            offer=offer,
            amount=loan.amount,
            interest_rate=loan.interest_rate,
            fee=loan.lenme_fee,
            status="REPAID" if loan.status == "COMPLETED" else "ACTIVE",
            funded_at=loan.funded_at,
        )
        NotePayment.objects.bulk_create(
            NotePayment(
                note=note,
                payment=p,
                number=p.number,
                amount=p.amount,
                principal=p.principal,
                interest=p.interest,
                late_fee=p.late_fee if p.paid else 0,
            )
            for p in loan.payments.all()
        )


class Migration(migrations.Migration):

    dependencies = [
        ('loans', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='Note',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('amount', models.DecimalField(decimal_places=2, max_digits=14)),
                ('interest_rate', models.DecimalField(decimal_places=2, max_digits=5)),
                ('fee', models.DecimalField(decimal_places=2, max_digits=14)),
                ('status', models.CharField(choices=[('ACTIVE', 'Active'), ('REPAID', 'Repaid'), ('CHARGED_OFF', 'Charged Off')], db_index=True, default='ACTIVE', max_length=16)),
                ('charged_off_principal', models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=14)),
                ('funded_at', models.DateTimeField()),
            ],
            options={
                'ordering': ['-funded_at', '-id'],
            },
        ),
        migrations.CreateModel(
            name='NotePayment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('number', models.PositiveSmallIntegerField()),
                ('amount', models.DecimalField(decimal_places=2, max_digits=14)),
                ('principal', models.DecimalField(decimal_places=2, max_digits=14)),
                ('interest', models.DecimalField(decimal_places=2, max_digits=14)),
                ('late_fee', models.DecimalField(decimal_places=2, default=Decimal('0.00'), max_digits=14)),
            ],
            options={
                'ordering': ['note_id', 'number'],
            },
        ),
        migrations.RemoveConstraint(
            model_name='offer',
            name='offer_one_accepted_per_loan',
        ),
        migrations.AddField(
            model_name='loan',
            name='first_installment',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name='loan',
            name='lender_ids',
            field=models.JSONField(blank=True, default=list),
        ),
        migrations.AddField(
            model_name='offer',
            name='amount',
            field=models.DecimalField(decimal_places=2, default=0, max_digits=14),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name='offer',
            name='fee',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name='offer',
            name='filled_amount',
            field=models.DecimalField(blank=True, decimal_places=2, max_digits=14, null=True),
        ),
        migrations.AddField(
            model_name='offer',
            name='funded_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(offers_as_whole_loan, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name='offer',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='offer_amount_positive'),
        ),
        migrations.AddConstraint(
            model_name='offer',
            constraint=models.CheckConstraint(condition=models.Q(('filled_amount__isnull', True), models.Q(('filled_amount__gt', 0), ('filled_amount__lte', models.F('amount'))), _connector='OR'), name='offer_filled_within_amount'),
        ),
        migrations.AddConstraint(
            model_name='offer',
            constraint=models.CheckConstraint(condition=models.Q(('fee__isnull', True), ('fee__gte', 0), _connector='OR'), name='offer_fee_non_negative'),
        ),
        migrations.AddField(
            model_name='note',
            name='lender',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='notes', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddField(
            model_name='note',
            name='loan',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='notes', to='loans.loan'),
        ),
        migrations.AddField(
            model_name='note',
            name='offer',
            field=models.OneToOneField(on_delete=django.db.models.deletion.PROTECT, related_name='note', to='loans.offer'),
        ),
        migrations.AddField(
            model_name='notepayment',
            name='note',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='rows', to='loans.note'),
        ),
        migrations.AddField(
            model_name='notepayment',
            name='payment',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='note_rows', to='loans.payment'),
        ),
        migrations.AddIndex(
            model_name='note',
            index=models.Index(fields=['lender', '-id'], name='loans_note_lender__79c82a_idx'),
        ),
        migrations.AddConstraint(
            model_name='note',
            constraint=models.UniqueConstraint(fields=('loan', 'lender'), name='note_one_per_lender_per_loan'),
        ),
        migrations.AddConstraint(
            model_name='note',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gt', 0)), name='note_amount_positive'),
        ),
        migrations.AddConstraint(
            model_name='note',
            constraint=models.CheckConstraint(condition=models.Q(('fee__gte', 0)), name='note_fee_non_negative'),
        ),
        migrations.AddConstraint(
            model_name='note',
            constraint=models.CheckConstraint(condition=models.Q(('interest_rate__gte', 0), ('interest_rate__lte', 100)), name='note_rate_range'),
        ),
        migrations.AddConstraint(
            model_name='notepayment',
            constraint=models.UniqueConstraint(fields=('note', 'number'), name='note_payment_number_unique_per_note'),
        ),
        migrations.AddConstraint(
            model_name='notepayment',
            constraint=models.UniqueConstraint(fields=('payment', 'note'), name='note_payment_one_row_per_note'),
        ),
        migrations.AddConstraint(
            model_name='notepayment',
            constraint=models.CheckConstraint(condition=models.Q(('amount__gte', 0), ('interest__gte', 0), ('late_fee__gte', 0), ('principal__gte', 0)), name='note_payment_parts_non_negative'),
        ),
        migrations.RunPython(funded_loans_get_one_note, migrations.RunPython.noop),
    ]
