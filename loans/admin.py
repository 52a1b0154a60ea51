"""Admin for the lending flow: for operators to look things up. Every status and money change goes
through loans.services, so loans, offers and payments are read-only here."""

from django.contrib import admin, messages
from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db.models import Sum
from django.forms.models import BaseInlineFormSet
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html

from accounts.admin import ReadOnlyAdmin, ReadOnlyInline
from accounts.models import Transaction
from loans.delinquency import BUCKET_RANGES
from loans.models import UNPAID, JobRun, Loan, LoanStatus, Note, NotePayment, Notification, Offer, Payment

LENDERS_SHOWN = 3


def lender_names(loans) -> None:
    """(v2) Set `lenders_text` on each loan of a page: `lender` is null with several notes, so the
    lists showed "-" for exactly those loans. One query for the page, whatever its size."""
    loans = list(loans)
    ids = {pk for loan in loans for pk in (loan.lender_ids or ())[:LENDERS_SHOWN]}
    names = dict(get_user_model().objects.filter(pk__in=ids).values_list("pk", "username")) if ids else {}
    for loan in loans:
        ids_of = list(loan.lender_ids or ())
        text = ", ".join(names.get(pk, f"#{pk}") for pk in ids_of[:LENDERS_SHOWN])
        if len(ids_of) > LENDERS_SHOWN:
            text += f" and {len(ids_of) - LENDERS_SHOWN} more"
        loan.lenders_text = text or "-"


def lenders_of(loan: Loan) -> str:
    if not hasattr(loan, "lenders_text"):
        lender_names([loan])
    return loan.lenders_text


class OfferInline(ReadOnlyInline):
    model = Offer
    fields = (
        "lender", "interest_rate", "amount", "filled_amount", "fee", "reserved_amount", "status", "funded_at",
        "created_at", "updated_at",
    )  # fmt: skip
    readonly_fields = fields
    ordering = ("interest_rate", "created_at", "id")

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("lender")


def installment_state(payment: Payment):
    """(v2) Paid, OVERDUE (unpaid and due before today, in red) or scheduled: never a green tick for a
    late installment, as a plain `overdue` boolean column would show."""
    if payment.paid:
        return format_html('<span style="color:#2e7d32">{}</span>', "paid")
    if payment.settled:  # (v2) closed by the loan's payoff, its principal paid in the payoff rows
        return format_html('<span style="color:#1565c0">{}</span>', "settled (payoff)")
    if payment.overdue or (payment.amount > 0 and payment.due_date < timezone.localdate()):
        return format_html(
            '<strong style="color:#fff;background:#c62828;padding:1px 6px;border-radius:3px">{}</strong>', "OVERDUE"
        )
    return "scheduled"


class PaymentInline(ReadOnlyInline):
    model = Payment
    fields = ("number", "due_date", "amount", "principal", "interest", "late_fee", "state", "paid_at")
    readonly_fields = fields
    ordering = ("number",)

    @admin.display(description="state")
    def state(self, obj: Payment):
        return installment_state(obj)


class CappedInlineFormSet(BaseInlineFormSet):
    """Shows at most `cap` rows (a loan can have thousands of notes and ledger rows): the page stays
    bounded; the section's title links to all of them."""

    cap = 100

    def get_queryset(self):
        return super().get_queryset()[: self.cap]


class LedgerInline(ReadOnlyInline):
    """(v2) The loan's ledger rows (funding, fees, repayments), oldest first."""

    model = Transaction
    fk_name = "loan"
    formset = CappedInlineFormSet
    fields = ("id", "created_at", "kind", "from_user", "to_user", "amount", "loan_note", "payment", "note")
    readonly_fields = fields
    ordering = ("created_at", "id")
    verbose_name = "ledger row"
    verbose_name_plural = f"ledger rows (the first {CappedInlineFormSet.cap}; all: see 'ledger' above)"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("from_user", "to_user", "payment")


class DelinquencyFilter(admin.SimpleListFilter):
    """(v2) Loans by delinquency bucket (from days_past_due); an unknown value filters nothing."""

    title = "delinquency"
    parameter_name = "delinquency"

    def lookups(self, request: HttpRequest, model_admin):
        return [(bucket, bucket) for bucket in BUCKET_RANGES]

    def queryset(self, request: HttpRequest, queryset):
        bounds = BUCKET_RANGES.get(self.value() or "")
        if bounds is None:
            return queryset
        low, high = bounds
        queryset = queryset.filter(days_past_due__gte=low)
        return queryset if high is None else queryset.filter(days_past_due__lte=high)


class NoteInline(ReadOnlyInline):
    model = Note
    fk_name = "loan"
    formset = CappedInlineFormSet
    fields = ("note_link", "lender", "amount", "interest_rate", "fee", "status", "charged_off_principal", "funded_at")
    readonly_fields = fields
    ordering = ("id",)
    verbose_name_plural = f"notes (the first {CappedInlineFormSet.cap}; all under Notes)"

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("lender")

    @admin.display(description="note")
    def note_link(self, obj: Note):
        return format_html('<a href="{}">Note #{}</a>', reverse("admin:loans_note_change", args=[obj.pk]), obj.pk)


class NotePaymentInline(ReadOnlyInline):
    model = NotePayment
    fields = ("number", "due_date", "amount", "principal", "interest", "late_fee", "state")
    readonly_fields = fields
    ordering = ("number",)

    def get_queryset(self, request: HttpRequest):
        return super().get_queryset(request).select_related("payment")

    @admin.display(description="state")
    def state(self, obj: NotePayment):
        return installment_state(obj.payment)

    @admin.display(description="due date")
    def due_date(self, obj: NotePayment):
        return obj.payment.due_date


@admin.register(Note)
class NoteAdmin(ReadOnlyAdmin):
    list_display = (
        "id", "loan", "lender", "amount", "interest_rate", "fee", "status", "charged_off_principal", "funded_at",
    )  # fmt: skip
    list_select_related = ("loan", "lender")
    list_filter = ("status", "funded_at")
    search_fields = ("id__exact", "loan__id__exact", "lender__username")
    fields = (
        "loan",
        "lender",
        "offer",
        "amount",
        "interest_rate",
        "fee",
        "status",
        "charged_off_principal",
        "funded_at",
    )
    readonly_fields = fields
    inlines = (NotePaymentInline,)


@admin.register(Loan)
class LoanAdmin(ReadOnlyAdmin):
    # The late ones first to the eye: delinquency and days past due (sortable) right after the status.
    list_display = (
        "id",
        "status",
        "closed_reason",
        "delinquency",
        "days_past_due",
        "borrower",
        "lenders",
        "amount",
        "term_months",
        "interest_rate",
        "autopay",
        "created_at",
        "funded_at",
        "defaulted_at",
        "completed_at",
    )
    list_select_related = ("borrower", "lender")
    list_filter = ("status", "closed_reason", DelinquencyFilter, "autopay", "term_months", "created_at", "funded_at")
    search_fields = ("id__exact", "borrower__username", "lender__username")
    date_hierarchy = "created_at"
    fields = (
        "status",
        "closed_reason",
        "borrower",
        "lenders",
        "amount",
        "term_months",
        "requested_interest_rate",
        "interest_rate",
        "lenme_fee",
        "total_loan_amount",
        "monthly_payment_amount",
        "principal_outstanding",
        "autopay",
        "days_past_due",
        "delinquency",
        "created_at",
        "updated_at",
        "accepted_at",
        "funded_at",
        "completed_at",
        "defaulted_at",
        "ledger",
    )
    readonly_fields = fields
    inlines = (OfferInline, NoteInline, PaymentInline, LedgerInline)

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        lender_names(changelist.result_list)  # fills the page's cache, which the template then reuses
        return changelist

    @admin.display(description="lenders")
    def lenders(self, obj: Loan) -> str:
        return lenders_of(obj)

    @admin.display(description="principal outstanding")
    def principal_outstanding(self, obj: Loan):
        """The principal of its unpaid installments (0.00 before funding and once COMPLETED), as the API."""
        if obj.funded_at is None or obj.status == LoanStatus.COMPLETED:
            return "0.00"
        total = obj.payments.filter(UNPAID).aggregate(total=Sum("principal"))["total"]
        return f"{total or 0:.2f}"

    @admin.display(description="ledger")
    def ledger(self, obj: Loan):
        rows = Transaction.objects.filter(loan=obj).count()
        url = reverse("admin:accounts_transaction_changelist") + f"?loan__id__exact={obj.pk}"
        return format_html('<a href="{}">all {} ledger rows of this loan</a>', url, rows)

    @admin.display(description="delinquency", ordering="days_past_due")
    def delinquency(self, obj: Loan):
        if obj.days_past_due == 0:
            return obj.delinquency
        colour = "#c62828" if obj.days_past_due > 30 else "#ef6c00"
        return format_html('<strong style="color:{}">{}</strong>', colour, obj.delinquency)

    @admin.display(description="total loan amount (amount + fee)")
    def total_loan_amount(self, obj: Loan):
        return obj.total_loan_amount()

    @admin.display(description="monthly payment")
    def monthly_payment_amount(self, obj: Loan):
        return obj.monthly_payment_amount()


@admin.register(Offer)
class OfferAdmin(ReadOnlyAdmin):
    list_display = ("id", "loan", "lender", "interest_rate", "reserved_amount", "status", "created_at", "updated_at")
    list_select_related = ("loan", "lender")
    list_filter = ("status", "created_at")
    search_fields = ("id__exact", "loan__id__exact", "lender__username", "loan__borrower__username")
    date_hierarchy = "created_at"
    fields = (
        "loan", "lender", "interest_rate", "amount", "filled_amount", "fee", "reserved_amount", "status", "funded_at",
        "created_at", "updated_at",
    )  # fmt: skip
    readonly_fields = fields


@admin.register(Payment)
class PaymentAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "loan",
        "number",
        "borrower",
        "lenders",
        "due_date",
        "state",
        "amount",
        "principal",
        "interest",
        "late_fee",
        "paid_at",
    )
    list_select_related = ("loan__borrower", "loan__lender")
    list_filter = ("paid", "settled", "overdue", "due_date")
    search_fields = ("id__exact", "loan__id__exact", "loan__borrower__username", "loan__lender__username")
    date_hierarchy = "due_date"
    fields = (
        "loan",
        "number",
        "due_date",
        "amount",
        "principal",
        "interest",
        "late_fee",
        "state",  # paid, settled (payoff), OVERDUE or scheduled: not booleans, which draw a late one as a tick
        "paid_at",
        "reminder_sent_at",
    )
    readonly_fields = fields

    def get_changelist_instance(self, request: HttpRequest):
        changelist = super().get_changelist_instance(request)
        lender_names([p.loan for p in changelist.result_list])
        return changelist

    @admin.display(description="state")
    def state(self, obj: Payment):
        return installment_state(obj)

    @admin.display(description="borrower", ordering="loan__borrower__username")
    def borrower(self, obj: Payment):
        return obj.loan.borrower

    @admin.display(description="lenders")
    def lenders(self, obj: Payment) -> str:
        return lenders_of(obj.loan)


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "kind", "loan", "read", "created_at", "message")
    list_select_related = ("user", "loan")
    list_filter = ("kind", "read", "created_at")
    search_fields = ("id__exact", "user__username", "loan__id__exact", "message")
    date_hierarchy = "created_at"
    fields = ("user", "kind", "message", "loan", "read", "created_at")
    readonly_fields = fields


@admin.register(JobRun)
class JobRunAdmin(ReadOnlyAdmin):
    """One row per sweep of the scheduled jobs (loans.jobs); written by the sweep only."""

    list_display = ("id", "started_at", "finished_at", "today", "counts", "failed")
    list_filter = ("today", "started_at")
    search_fields = ("id__exact", "error")
    date_hierarchy = "started_at"
    fields = ("started_at", "finished_at", "today", "counts", "error")
    readonly_fields = fields

    change_list_template = "lenme/admin/jobrun_change_list.html"
    actions = ["run_sweep_now"]

    def get_urls(self):
        urls = [path("run-sweep/", self.admin_site.admin_view(self.run_sweep_view), name="loans_jobrun_run_sweep")]
        return urls + super().get_urls()

    def has_run_sweep_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def changelist_view(self, request: HttpRequest, extra_context=None):
        extra_context = {**(extra_context or {}), "can_run_sweep": self.has_run_sweep_permission(request)}
        return super().changelist_view(request, extra_context)

    def run_sweep_view(self, request: HttpRequest):
        """The "Run one sweep now" button (a POST form on the changelist)."""
        if request.method != "POST" or not self.has_run_sweep_permission(request):
            raise PermissionDenied
        self._sweep(request)
        return HttpResponseRedirect(reverse("admin:loans_jobrun_changelist"))

    @admin.action(description="Run one sweep now (ignores the selection)", permissions=["run_sweep"])
    def run_sweep_now(self, request: HttpRequest, queryset) -> None:
        self._sweep(request)

    def _sweep(self, request: HttpRequest) -> None:
        from loans.jobs import sweep

        try:
            run = sweep()
        except Exception as exc:  # recorded on the JobRun row too
            self.message_user(request, f"The sweep failed: {exc}", level=messages.ERROR)
            return
        summary = ", ".join(f"{name}={count}" for name, count in run.counts.items())
        self.message_user(request, f"Sweep #{run.pk} done: {summary}.", level=messages.SUCCESS)

    @admin.display(description="failed")
    def failed(self, obj: JobRun):
        """Not a boolean column: Django draws True as a green tick, which read as "fine" for a failed sweep."""
        if not obj.error:
            return "-"
        return format_html('<strong style="color:#c62828">{}</strong>', "FAILED")


# The admin index (v2): the platform's fee revenue and the charged-off principal, for operators.
admin.site.index_template = "lenme/admin/index.html"
