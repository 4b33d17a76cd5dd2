"""Django admin for the general ledger: Admins edit the chart of accounts; journal entries and
books closings are shown read-only (entries are booked by services, the books closed on
/ledger/close/, which audits it)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from ledger.models import Account, BooksClosing, JournalEntry, JournalLine


@admin.register(Account)
class AccountAdmin(admin.ModelAdmin):
    list_display = ["code", "name", "type", "parent", "is_active"]
    list_filter = ["type", "is_active"]
    search_fields = ["code", "name"]
    list_select_related = ["parent"]
    fields = ["code", "name", "type", "parent", "is_active"]

    def has_delete_permission(self, request: HttpRequest, obj: Account | None = None) -> bool:
        """An account with entries stays (switch "active" off instead): the journal that
        names it is kept for ever."""
        if obj is not None and JournalLine.objects.filter(account=obj).exists():
            return False
        return super().has_delete_permission(request, obj)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Shown, never added, changed or deleted here."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class JournalLineInline(admin.TabularInline):
    model = JournalLine
    fields = readonly_fields = ("account", "debit", "credit")
    extra = 0
    can_delete = False

    def get_queryset(self, request: HttpRequest) -> QuerySet[JournalLine]:
        return super().get_queryset(request).select_related("account")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # The lines are part of the entry: whoever may read entries reads their lines.
        return request.user.has_perm("ledger.view_journalentry")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(JournalEntry)
class JournalEntryAdmin(ReadOnlyAdmin):
    list_display = ["__str__", "value_date", "source", "loan_id", "transaction_id", "booked_at"]
    list_filter = ["source"]
    search_fields = ["memo", "=loan_id", "=transaction_id"]
    date_hierarchy = "value_date"
    fields = readonly_fields = (
        "value_date",
        "booked_at",
        "source",
        "memo",
        "loan_id",
        "transaction_id",
        "created_by",
    )
    inlines = [JournalLineInline]
    list_per_page = 50
    show_full_result_count = False


@admin.register(BooksClosing)
class BooksClosingAdmin(ReadOnlyAdmin):
    list_display = ["through", "closed_at", "closed_by"]
    list_select_related = ["closed_by"]
    fields = readonly_fields = ("through", "closed_at", "closed_by")

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever may close the books sees the closings (Admin holds the add permission).
        user = request.user
        return user.has_perm("ledger.add_booksclosing") or super().has_view_permission(request, obj)
