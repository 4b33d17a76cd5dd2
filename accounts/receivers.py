"""Audit entries for Django's authentication signals: login, failed login, logout."""

from typing import Any

from django.contrib.auth.signals import user_logged_in, user_logged_out, user_login_failed
from django.dispatch import receiver

from accounts import throttle
from lending.audit import audit_record
from lending.models import AuditLog


@receiver(user_logged_in, dispatch_uid="audit_login")
def audit_login(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    audit_record(action=AuditLog.Action.LOGIN, user=user, request=request)


@receiver(user_login_failed, dispatch_uid="audit_login_failed")
def audit_login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    username = str(credentials.get("username", ""))[:150]
    details: dict[str, Any] = {"username": username}
    refused = throttle.was_refused(request) if request is not None else None
    if refused is not None:  # no password was checked: which limit refused it
        details["refused"] = refused.limit
    audit_record(
        action=AuditLog.Action.LOGIN_FAILED,
        username=username,
        details=details,
        request=request,
    )


@receiver(user_logged_out, dispatch_uid="audit_logout")
def audit_logout(sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
    if user is not None:
        audit_record(action=AuditLog.Action.LOGOUT, user=user, request=request)
