"""The aging buckets in the Django admin: one row, changed by an Admin, each change audited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from lending.audit import audit_record
from lending.models import AuditLog
from reporting.models import AgingSettings


@admin.register(AgingSettings)
class AgingSettingsAdmin(admin.ModelAdmin):
    list_display = ["__str__"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and not AgingSettings.objects.exists()

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> Any:
        # One row: "Save and add another" would only lead to a refusal.
        extra = {**(extra_context or {}), "show_save_and_add_another": False}
        return super().changeform_view(request, object_id, form_url, extra)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # deleting would only bring the defaults back: change the limits instead

    def save_model(self, request: HttpRequest, obj: AgingSettings, form: Any, change: bool) -> None:
        before = AgingSettings.current_limits()
        super().save_model(request, obj, form, change)
        audit_record(
            action=AuditLog.Action.SETTINGS_CHANGED,
            user=request.user,
            obj=obj,
            details={
                "setting": "aging bucket limits (days past due)",
                "changes": {"limits": [", ".join(map(str, before)), obj.limits]},
            },
            request=request,
        )
