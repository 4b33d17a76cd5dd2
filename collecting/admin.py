"""Django admin of the collections app: the reminder templates (Admin edits their words; the
placeholders are checked on save, and each change is audited)."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from django.utils.html import format_html, format_html_join

from collecting.messages import PLACEHOLDERS
from collecting.models import ReminderTemplate
from lending.audit import audit_record, changes, snapshot
from lending.models import AuditLog

TEMPLATE_FIELDS = ["sms_text", "email_subject", "email_body"]


@admin.register(ReminderTemplate)
class ReminderTemplateAdmin(admin.ModelAdmin):
    list_display = ["kind", "sms_text", "updated_at"]
    fields = ["kind", "placeholders", *TEMPLATE_FIELDS, "updated_at"]
    readonly_fields = ["kind", "placeholders", "updated_at"]

    @admin.display(description="Placeholders")
    def placeholders(self, template: ReminderTemplate | None = None) -> str:
        return format_html(
            "<dl>{}</dl>",
            format_html_join(
                "",
                "<dt><code>{{{}}}</code></dt><dd>{}</dd>",
                PLACEHOLDERS.items(),
            ),
        )

    def save_model(
        self, request: HttpRequest, obj: ReminderTemplate, form: Any, change: bool
    ) -> None:
        before = snapshot(ReminderTemplate.objects.get(pk=obj.pk), TEMPLATE_FIELDS)
        super().save_model(request, obj, form, change)
        audit_record(
            action=AuditLog.Action.SETTINGS_CHANGED,
            user=request.user,
            obj=obj,
            details={"changes": changes(before, snapshot(obj, TEMPLATE_FIELDS))},
            request=request,
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # one template per kind, made by the migration

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
