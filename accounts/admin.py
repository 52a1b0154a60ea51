"""Admin for accounts: balances and the ledger are for looking at; money moves only through services."""

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html

from accounts.models import AuthToken, IdempotencyRecord, Profile, Transaction


class ReadOnlyAdmin(admin.ModelAdmin):
    """View-only: no add, change or delete, so nothing an operator does here bypasses a service.

    Django still shows the change page (read-only) to users with the view permission.
    """

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    max_num = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


@admin.register(Profile)
class ProfileAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "balance", "reserved_balance", "available", "updated_at")
    list_select_related = ("user",)
    list_filter = ("updated_at",)
    search_fields = ("user__username", "user__email", "id__exact", "user__id__exact")
    ordering = ("-updated_at",)
    fields = ("user", "balance", "reserved_balance", "available", "updated_at")
    readonly_fields = fields

    @admin.display(description="available balance")
    def available(self, obj: Profile):
        return obj.available_balance()


@admin.register(Transaction)
class TransactionAdmin(ReadOnlyAdmin):
    """The ledger: rows are immutable (the model refuses updates and deletes too)."""

    list_display = ("id", "kind", "from_user", "to_user", "amount", "loan", "payment", "note", "created_at")
    list_select_related = ("from_user", "to_user", "loan", "payment")
    list_filter = ("kind", "created_at")
    search_fields = ("from_user__username", "to_user__username", "id__exact", "loan__id__exact", "note")
    date_hierarchy = "created_at"
    fields = ("kind", "from_user", "to_user", "amount", "loan", "payment", "note", "created_at")
    readonly_fields = fields


@admin.register(IdempotencyRecord)
class IdempotencyRecordAdmin(ReadOnlyAdmin):
    list_display = ("id", "user", "key", "state", "response_status", "created_at", "locked_at")
    list_select_related = ("user",)
    list_filter = ("state", "response_status", "created_at")
    search_fields = ("user__username", "key", "id__exact")
    date_hierarchy = "created_at"
    fields = (
        "user",
        "key",
        "fingerprint",
        "state",
        "locked_at",
        "response_status",
        "response_content_type",
        "body",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="response body")
    def body(self, obj: IdempotencyRecord):
        raw = bytes(obj.response_body) if obj.response_body is not None else b""
        text = raw.decode("utf-8", errors="replace")
        return format_html("<pre>{}</pre>", text[:4000])


@admin.register(AuthToken)
class AuthTokenAdmin(ReadOnlyAdmin):
    """Who holds tokens and since when; never the key (only its digest is stored, and not shown either).
    Deleting a row revokes that token."""

    list_display = ("id", "user", "created")
    list_select_related = ("user",)
    list_filter = ("created",)
    search_fields = ("user__username", "id__exact")
    date_hierarchy = "created"
    fields = ("user", "created")
    readonly_fields = fields

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return request.user.has_perm("accounts.delete_authtoken")
