"""User administration, audited: creating a user, changing one, and changing their roles;
the sign-in throttle's failures, to unlock a username.

Roles (groups) are read-only here: their permissions are defined in `accounts/roles.py` and
applied by migrations, so the permission matrix cannot drift through the admin.
"""

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group, User
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.models import LoginFailure, Office, UserOffice
from accounts.offices import office_create
from lending.audit import audit_record, changes, snapshot
from lending.models import AuditLog

USER_FIELDS = [
    "username",
    "first_name",
    "last_name",
    "email",
    "is_active",
    "is_staff",
    "is_superuser",
]

admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(Group)
class ReadOnlyGroupAdmin(GroupAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class UserOfficeInline(admin.StackedInline):
    """The user's office: they reach its records and those of the offices under it. No office
    (or the head office): every office."""

    model = UserOffice
    max_num = 1
    extra = 1
    verbose_name = "office"
    verbose_name_plural = "office (none: the head office, every record)"


def _office_name(user: User) -> str:
    name = UserOffice.objects.filter(user=user).values_list("office__name", flat=True).first()
    return name or "Head office"


@admin.register(User)
class AuditedUserAdmin(UserAdmin):
    inlines = [UserOfficeInline]
    list_display = [
        "username", "first_name", "last_name", "roles", "is_active", "is_staff", "last_login",
    ]  # fmt: skip
    list_filter = ["is_active", "is_staff", "groups"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[User]:
        return super().get_queryset(request).prefetch_related("groups")

    @admin.display(description="Roles")
    def roles(self, user: User) -> str:
        return ", ".join(sorted(g.name for g in user.groups.all())) or "—"

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # the audit log refers to users: deactivate instead of deleting

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Only a superuser may change a superuser (their password, roles or status).
        if obj is not None and obj.is_superuser and not request.user.is_superuser:
            return False
        return super().has_change_permission(request, obj)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        user = self.get_object(request, id)
        response = super().user_change_password(request, id, form_url)
        if request.method == "POST" and response.status_code == 302 and user is not None:
            audit_record(
                action=AuditLog.Action.USER_CHANGED,
                user=request.user,
                obj=user,
                details={"changes": {"password": ["(hidden)", "(changed)"]}},
                request=request,
            )
        return response

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Only a superuser may grant superuser status or permissions outside the roles.
        fields = list(super().get_readonly_fields(request, obj))
        if not request.user.is_superuser:
            fields += ["is_superuser", "user_permissions"]
        return fields

    def save_model(self, request: HttpRequest, obj: User, form: Any, change: bool) -> None:
        request._audit_before = (  # type: ignore[attr-defined]
            snapshot(User.objects.get(pk=obj.pk), USER_FIELDS) if change else {}
        )
        request._audit_groups = (  # type: ignore[attr-defined]
            sorted(obj.groups.values_list("name", flat=True)) if change else []
        )
        request._audit_office = _office_name(obj) if change else "Head office"  # type: ignore[attr-defined]
        super().save_model(request, obj, form, change)
        after = snapshot(obj, USER_FIELDS)
        if not change:
            audit_record(
                action=AuditLog.Action.USER_CREATED,
                user=request.user,
                obj=obj,
                details={"after": after},
                request=request,
            )
        else:
            diff = changes(request._audit_before, after)  # type: ignore[attr-defined]
            if diff or "password" in form.changed_data:
                if "password" in form.changed_data:
                    diff["password"] = ["(hidden)", "(changed)"]
                audit_record(
                    action=AuditLog.Action.USER_CHANGED,
                    user=request.user,
                    obj=obj,
                    details={"changes": diff},
                    request=request,
                )

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        before = getattr(request, "_audit_groups", [])
        after = sorted(form.instance.groups.values_list("name", flat=True))
        if before != after:
            audit_record(
                action=AuditLog.Action.ROLES_CHANGED,
                user=request.user,
                obj=form.instance,
                details={"before": before, "after": after},
                request=request,
            )
        office_before = getattr(request, "_audit_office", "Head office")
        office_after = _office_name(form.instance)
        if office_before != office_after:
            audit_record(
                action=AuditLog.Action.USER_OFFICE_CHANGED,
                user=request.user,
                obj=form.instance,
                details={"before": office_before, "after": office_after},
                request=request,
            )


@admin.register(LoginFailure)
class LoginFailureAdmin(admin.ModelAdmin):
    """The sign-in throttle's counts (accounts/throttle.py), read-only. Deleting a username's
    rows lifts its limits at once: an administrator's unlock."""

    list_display = ["at", "username", "address"]
    list_filter = ["at"]
    search_fields = ["username", "address"]
    ordering = ["-at"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Office)
class OfficeAdmin(admin.ModelAdmin):
    """The office tree (DESIGN.md "Offices"). An office is created under a parent and stays
    there (moving it would move its records' scoping); its name may change. Audited."""

    list_display = ["tree_name", "parent", "path"]
    search_fields = ["name"]
    ordering = ["path"]

    @admin.display(description="Office", ordering="path")
    def tree_name(self, office: Office) -> str:
        return office.indented_name

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return ["parent", "path"] if obj is not None else ["path"]

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # records refer to it

    def save_model(self, request: HttpRequest, obj: Office, form: Any, change: bool) -> None:
        if change:
            before = Office.objects.get(pk=obj.pk).name
            obj.save(update_fields=["name"])
            details: dict[str, Any] = {"changes": {"name": [before, obj.name]}}
        else:
            created = office_create(name=obj.name, parent=obj.parent)
            obj.pk, obj.path = created.pk, created.path
            details = {"after": {"name": obj.name, "parent": str(obj.parent or "")}}
        audit_record(
            action=AuditLog.Action.OFFICE_SAVED,
            user=request.user,
            obj=obj,
            details=details,
            request=request,
        )
