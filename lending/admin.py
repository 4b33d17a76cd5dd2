"""Django admin: products (audited) and the audit-log viewer (read-only for everyone)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lending.audit import audit_record, changes, snapshot
from lending.models import AuditLog, LoanProduct

PRODUCT_FIELDS = [f.name for f in LoanProduct._meta.fields if f.name != "id"]


@admin.register(LoanProduct)
class LoanProductAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "is_active",
        "min_principal",
        "max_principal",
        "max_interest_rate",
        "max_installments",
        "interest_method",
        "penalty_type",
    ]
    list_filter = ["is_active", "interest_method", "frequency", "penalty_type"]
    search_fields = ["name"]
    fieldsets = [
        (None, {"fields": ["name", "is_active"]}),
        (
            "Limits",
            {
                "fields": [
                    ("min_principal", "max_principal"),
                    ("min_interest_rate", "max_interest_rate"),
                    ("min_installments", "max_installments"),
                ]
            },
        ),
        (
            "Defaults for new applications",
            {
                "fields": [
                    "default_interest_rate",
                    "frequency",
                    "interest_method",
                    "amortization",
                    "grace_periods",
                    ("installment_multiple", "installment_rounding"),
                    ("interest_period", "days_in_year"),
                ]
            },
        ),
        (
            "Late penalty (applied by the daily close)",
            {"fields": ["penalty_type", "penalty_amount", "penalty_rate", "penalty_grace_days"]},
        ),
    ]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # products with loans must stay; switch "active" off instead

    def save_model(self, request: HttpRequest, obj: LoanProduct, form: Any, change: bool) -> None:
        before = snapshot(LoanProduct.objects.get(pk=obj.pk), PRODUCT_FIELDS) if change else {}
        super().save_model(request, obj, form, change)
        after = snapshot(obj, PRODUCT_FIELDS)
        audit_record(
            action=AuditLog.Action.PRODUCT_CHANGED if change else AuditLog.Action.PRODUCT_CREATED,
            user=request.user,
            obj=obj,
            details={"changes": changes(before, after)} if change else {"after": after},
            request=request,
        )


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """The audit-log viewer: filter by action, user and date; search by object or by anything
    in the details (a loan or receipt number finds the payments and reversals that name it)."""

    list_display = ["created_at", "username", "action", "object_type", "object_repr", "ip_address"]
    list_filter = ["action", ("user", admin.RelatedOnlyFieldListFilter), "created_at"]
    search_fields = ["object_repr", "object_id", "object_type", "username", "details"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = [f.name for f in AuditLog._meta.fields]
    list_per_page = 50
    show_full_result_count = False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
