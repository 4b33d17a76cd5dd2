"""Closing the books through a date (Admin): afterwards nothing may be dated on or before it,
a reversal included (`ledger.services.check_open`, used by every posting service and the
daily close). Audited."""

from __future__ import annotations

from datetime import date

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import can_close_books, require
from ledger.models import BooksClosing
from ledger.services import books_close_record, closed_through
from lending.audit import audit_record
from lending.models import AuditLog


def books_close(*, through: date, user: User, request: HttpRequest | None = None) -> BooksClosing:
    """Close the books through `through` (before today: today's postings are still coming)."""
    require(can_close_books(user), "Only an administrator can close the books.")
    if through >= timezone.localdate():
        raise ValidationError({"through": "Only days before today can be closed."})
    with transaction.atomic():
        before = closed_through()
        closing = books_close_record(through=through, user=user)
        audit_record(
            action=AuditLog.Action.BOOKS_CLOSED,
            user=user,
            obj=closing,
            details={"before": {"through": before}, "after": {"through": through}},
            request=request,
        )
    return closing
