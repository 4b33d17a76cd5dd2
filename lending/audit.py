"""The one way to write an audit entry.

Services call `audit_record` directly, as the last step inside their own transaction, so the
entry commits or rolls back with the change it describes. Rows form a SHA-256 chain: the chain
head is read under a lock on the "audit" counter row, so two writers can never fork it.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AnonymousUser, User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models, transaction
from django.http import HttpRequest

from lending.models import AuditLog, NumberSequence

GENESIS_HASH = "0" * 64


def client_ip(request: HttpRequest | None) -> str | None:
    if request is None:
        return None
    return request.META.get("REMOTE_ADDR") or None


def jsonable(value: Any) -> Any:
    """Details are stored as JSON: decimals and dates become strings, exactly as written."""
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


def snapshot(instance: models.Model, fields: list[str]) -> dict[str, Any]:
    """The named fields of a model as JSON-safe values, for an entry's before/after."""
    out: dict[str, Any] = {}
    for name in fields:
        value = getattr(instance, name)
        if isinstance(value, models.Model):
            value = value.pk
        elif isinstance(value, Decimal):
            value = str(value)
        out[name] = value
    return jsonable(out)


def changes(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Only what differs, as {"field": [old, new]}."""
    return {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}


def audit_record(
    *,
    action: str,
    user: User | AnonymousUser | None = None,
    obj: models.Model | None = None,
    details: dict[str, Any] | None = None,
    request: HttpRequest | None = None,
    username: str = "",
) -> AuditLog:
    if user is not None and not user.is_authenticated:
        user = None
    # No savepoint inside the caller's transaction: the entry stands or falls with it.
    with transaction.atomic(savepoint=False):
        NumberSequence.objects.select_for_update().get_or_create(key="audit")
        head = AuditLog.objects.order_by("-id").values_list("hash", flat=True).first()
        entry = AuditLog(
            user=user,  # type: ignore[misc]
            username=username or (user.get_username() if user is not None else ""),
            action=action,
            object_type=obj._meta.model_name if obj is not None else "",
            object_id=str(obj.pk) if obj is not None else "",
            object_repr=str(obj)[:200] if obj is not None else "",
            details=jsonable(details or {}),
            ip_address=client_ip(request),
            prev_hash=head or GENESIS_HASH,
        )
        entry.hash = entry.compute_hash()
        entry.save()
    return entry


def verify_chain() -> tuple[int, AuditLog | None, str]:
    """Walk the chain in order; return (rows checked, first bad row or None, why)."""
    expected_prev = GENESIS_HASH
    checked = 0
    for entry in AuditLog.objects.order_by("id").iterator(chunk_size=2000):
        if entry.prev_hash != expected_prev:
            return checked, entry, "its previous-hash does not match the row before it"
        if entry.compute_hash() != entry.hash:
            return checked, entry, "its content does not match its hash"
        expected_prev = entry.hash
        checked += 1
    return checked, None, ""
