"""Django admin: products (audited), the audit-log viewer and its signed checkpoints (read-only
for everyone; a button signs a checkpoint now)."""

import json
from functools import cache
from typing import Any

from django.apps import apps
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.db.models import Q, QuerySet
from django.db.models.expressions import RawSQL
from django.http import HttpRequest, HttpResponse, HttpResponseNotAllowed
from django.shortcuts import redirect
from django.urls import path
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.text import capfirst

from ledger.models import Account
from lending.audit import audit_checkpoint, audit_record, changes, snapshot
from lending.models import AuditCheckpoint, AuditLog, LoanProduct, ProductAccount, ProductCharge
from lending.selectors.loans import audit_details_in_words

PRODUCT_FIELDS = [f.name for f in LoanProduct._meta.fields if f.name != "id"]


@cache
def record_type_names() -> dict[str, str]:
    """Each model's `model_name` (what an audit entry stores as its `object_type`) to the
    model's name in words: "borrowerdocument" to "Borrower document"."""
    names: dict[str, str] = {}
    for model in apps.get_models():
        names.setdefault(model._meta.model_name or "", capfirst(str(model._meta.verbose_name)))
    return names


class ProductAccountInline(admin.TabularInline):
    """The product's own account for a role, over the institution's default."""

    model = ProductAccount
    fields = ["role", "account"]
    extra = 0
    verbose_name = "ledger account override"
    verbose_name_plural = "Ledger accounts (overrides of the defaults)"

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == "account":
            # Only accounts that take entries: active and not a header.
            kwargs["queryset"] = Account.objects.filter(is_active=True, children=None)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


class ProductChargeInline(admin.TabularInline):
    """The product's fees; a loan copies them at approval (`Loan.charges`)."""

    model = ProductCharge
    fields = ["name", "time", "calculation", "amount", "deducted", "on_date"]
    extra = 0
    verbose_name = "fee"
    verbose_name_plural = "Fees (a loan keeps the fees of its product as they were at approval)"


def charges_of(product: LoanProduct) -> list[dict[str, Any]]:
    """The product's fees as the audit entry records them."""
    if product.pk is None:
        return []
    return [charge.term().as_json() for charge in ProductCharge.objects.filter(product=product)]


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
            {
                "fields": [
                    "penalty_type",
                    ("penalty_amount", "penalty_rate"),
                    "penalty_grace_days",
                    ("penalty_repeat_days", "penalty_max_times"),
                ],
                "description": "A loan keeps the penalty and tolerances of its product as they "
                "were when it was approved: a change here applies to loans approved afterwards.",
            },
        ),
        (
            "Approval and disbursement",
            {
                "fields": ["disburse_on_approval"],
                "description": "Ticked: approving a loan disburses it at once. Unticked: "
                "approval and disbursement are two steps; an accountant or administrator hands "
                "the money over from the approved loan's page, up to the approved amount.",
            },
        ),
        ("Tolerances", {"fields": [("arrears_tolerance", "close_tolerance")]}),
        (
            "Paying ahead",
            {
                "fields": ["prepayment_order"],
                "description": "How a payment above what is due is spread over the "
                "installments not yet due. A loan keeps the order of its product as it was "
                "when it was approved.",
            },
        ),
        (
            "Working days",
            {
                "fields": ["due_date_rule"],
                "description": "Where a due date that falls on a weekday off or a holiday "
                "goes. A loan keeps its product's choice as it was when it was approved.",
            },
        ),
        (
            "Payment reminders",
            {
                "fields": [
                    ("reminder_days_before", "reminder_days_after"),
                    ("reminder_by_sms", "reminder_by_email"),
                ],
                "description": "Sent daily by `manage.py send_reminders` from the reminder "
                "templates (under Collecting in this admin); borrowers who opted out get none.",
            },
        ),
        (
            "Accounting",
            {
                "fields": ["accounting_basis"],
                "description": "The ledger accounts are the defaults of the chart, except "
                "those overridden below.",
            },
        ),
    ]
    inlines = [ProductChargeInline, ProductAccountInline]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # products with loans must stay; switch "active" off instead

    def save_model(self, request: HttpRequest, obj: LoanProduct, form: Any, change: bool) -> None:
        # The audit entry is written once the fees (an inline) are saved too: `save_related`.
        if change:
            stored = LoanProduct.objects.get(pk=obj.pk)
            request._product_before = (  # type: ignore[attr-defined]
                snapshot(stored, PRODUCT_FIELDS),
                charges_of(stored),
            )
        super().save_model(request, obj, form, change)

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        obj = form.instance
        after = snapshot(obj, PRODUCT_FIELDS)
        fees_after = charges_of(obj)
        if change:
            before, fees_before = getattr(request, "_product_before", ({}, []))
            details: dict[str, Any] = {"changes": changes(before, after)}
            if fees_before != fees_after:
                details["fees"] = {"before": fees_before, "after": fees_after}
        else:
            details = {"after": after, "fees": fees_after}
        audit_record(
            action=AuditLog.Action.PRODUCT_CHANGED if change else AuditLog.Action.PRODUCT_CREATED,
            user=request.user,
            obj=obj,
            details=details,
            request=request,
        )


class StaffMemberFilter(admin.RelatedOnlyFieldListFilter):
    """Who acted; entries written by a command or a failed sign-in have no staff member."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.empty_value_display = mark_safe("System (no user)")


@admin.register(AuditLog)
class AuditLogAdmin(admin.ModelAdmin):
    """The audit-log viewer: filter by action, user and date; search by record or by anything
    in the details (a loan or receipt number finds the payments and reversals that name it).
    An entry shows its details in words, then exactly as stored (the hash covers those)."""

    list_display = ["created_at", "who", "action", "record_type", "record", "ip"]
    list_filter = ["action", ("user", StaffMemberFilter), "created_at"]
    # Searched in `get_search_results`: these, the action's name and the values (never the
    # keys) of the details.
    search_fields = ["object_repr", "object_id", "object_type", "username"]
    date_hierarchy = "created_at"
    list_select_related = ["user"]
    readonly_fields = [
        "created_at", "who", "action", "record_type", "record", "record_id", "in_words",
        "stored_details", "ip", "prev_hash", "hash",
    ]  # fmt: skip
    fields = tuple(readonly_fields)
    list_per_page = 50
    show_full_result_count = False

    @admin.display(description="User", ordering="username")
    def who(self, entry: AuditLog) -> str:
        return entry.username or "System (no user)"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditLog], search_term: str
    ) -> tuple[QuerySet[AuditLog], bool]:
        """The whole term in the record, its type or id, the user, the action as shown
        ("Repayment reversed") or a value inside the details: "Grace" finds a borrower named
        Grace, not every loan submission whose terms have a `grace_periods` key."""
        term = search_term.strip()
        if not term:
            return queryset, False
        actions = [
            value for value, label in AuditLog.Action.choices if term.lower() in label.lower()
        ]
        condition = Q(action__in=actions) | Q(pk__in=_details_value_matches(term))
        for name in self.search_fields:
            condition |= Q(**{f"{name}__icontains": term})
        return queryset.filter(condition), False

    @admin.display(description="Record type", ordering="object_type")
    def record_type(self, entry: AuditLog) -> str:
        if not entry.object_type:
            return "—"
        known = record_type_names().get(entry.object_type)
        return known or entry.object_type.replace("_", " ").capitalize()

    @admin.display(description="Record")
    def record(self, entry: AuditLog) -> str:
        return entry.object_repr or "—"

    @admin.display(description="Record id")
    def record_id(self, entry: AuditLog) -> str:
        return entry.object_id or "—"

    @admin.display(description="IP address")
    def ip(self, entry: AuditLog) -> str:
        return entry.ip_address or "—"

    @admin.display(description="Details")
    def in_words(self, entry: AuditLog) -> str:
        roles = entry.action == AuditLog.Action.ROLES_CHANGED
        lines = audit_details_in_words(entry.details, change="Roles" if roles else "Change")
        if not lines:
            return "—"
        return format_html(
            '<dl class="audit-details">{}</dl>',
            format_html_join("", "<dt>{}</dt><dd>{}</dd>", lines),
        )

    @admin.display(description="Details as stored (JSON)")
    def stored_details(self, entry: AuditLog) -> str:
        text = json.dumps(entry.details, indent=2, ensure_ascii=False, sort_keys=True)
        return format_html("<pre>{}</pre>", text)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _details_value_matches(term: str) -> RawSQL:
    """Ids of audit rows with a text or number value, at any depth of the details, that
    contains `term` (case-insensitive; keys are not searched)."""
    pattern = "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    if connection.vendor == "postgresql":
        sql = (
            "SELECT a.id FROM lending_auditlog a WHERE EXISTS (SELECT 1 FROM "
            "jsonb_path_query(a.details::jsonb, 'strict $.**') v WHERE jsonb_typeof(v) IN "
            "('string', 'number') AND (v #>> '{}') ILIKE %s ESCAPE '\\')"
        )
    else:
        sql = (
            "SELECT DISTINCT a.id FROM lending_auditlog a, json_tree(a.details) t WHERE "
            "t.type IN ('text', 'integer', 'real') AND LOWER(CAST(t.atom AS TEXT)) LIKE "
            "LOWER(%s) ESCAPE '\\'"
        )
    return RawSQL(sql, [pattern])  # noqa: S611 (constant SQL; the term is a parameter)


@admin.register(AuditCheckpoint)
class AuditCheckpointAdmin(admin.ModelAdmin):
    """Signed checkpoints of the audit log (daily close, on demand): read-only, plus a button
    that signs one now. `manage.py verify_audit_log` checks them all."""

    change_list_template = "admin/lending/auditcheckpoint/change_list.html"
    list_display = ["sequence", "created_at", "kind", "who", "row_count", "head_id", "note"]
    list_filter = ["kind", "created_at"]
    readonly_fields = [
        "sequence", "created_at", "kind", "who", "note", "row_count", "head_id", "head_hash",
        "prev_signature", "signature",
    ]  # fmt: skip
    fields = tuple(readonly_fields)
    show_full_result_count = False

    @admin.display(description="Written by", ordering="username")
    def who(self, checkpoint: AuditCheckpoint) -> str:
        return checkpoint.username or "System (no user)"

    def get_urls(self) -> list[Any]:
        write = self.admin_site.admin_view(self.write_view)
        return [
            path("write/", write, name="lending_auditcheckpoint_write"),
            *super().get_urls(),
        ]

    def write_view(self, request: HttpRequest) -> HttpResponse:
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("lending.add_auditcheckpoint"):
            raise PermissionDenied
        checkpoint = audit_checkpoint(
            kind=AuditCheckpoint.Kind.MANUAL, user=request.user, note="written from the admin"
        )
        self.message_user(
            request,
            f"Checkpoint {checkpoint.sequence} signed: {checkpoint.row_count} audit rows, "
            f"up to row {checkpoint.head_id}.",
            messages.SUCCESS,
        )
        return redirect("admin:lending_auditcheckpoint_changelist")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
