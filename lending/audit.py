"""The one way to write an audit entry, and the checks that the log was not touched since.

Services call `audit_record` directly, as the last step inside their own transaction, so the
entry commits or rolls back with the change it describes. Rows form a chain: each row's hash
is an HMAC-SHA256, under KARO_AUDIT_KEY (from the environment, never in the database), of its
content and the hash of the row before it. The chain head is read under a lock on the "audit"
counter row, so two writers can never fork it.

Rows written before the key existed (before migration 0009) were chained with plain SHA-256;
the "chain start" checkpoint that migration wrote signs their count and last hash, so they
cannot be recomputed unnoticed either. `audit_checkpoint` signs the log's length and head
(daily close, on demand); `verify_audit_log` walks every row and every checkpoint.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AnonymousUser, User
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction
from django.http import HttpRequest

from lending.models import AuditCheckpoint, AuditLog, NumberSequence

GENESIS_HASH = "0" * 64
logger = logging.getLogger("karo.audit")


def _hmac(purpose: bytes, text: str) -> str:
    """HMAC-SHA256 under KARO_AUDIT_KEY; `purpose` keeps a row's hash and a checkpoint's
    signature from ever standing in for each other."""
    key = settings.KARO_AUDIT_KEY.encode()
    return hmac.new(key, purpose + b"\0" + text.encode(), hashlib.sha256).hexdigest()


def row_hash(entry: AuditLog) -> str:
    """The hash of a row of the keyed chain (every row written since migration 0009)."""
    return _hmac(b"karo-audit-row-v2", entry.canonical())


def legacy_row_hash(entry: AuditLog) -> str:
    """The unkeyed SHA-256 of the rows written before the chain was keyed. Anyone can compute
    it, which is why those rows are pinned by the signed chain-start checkpoint."""
    return hashlib.sha256(entry.canonical().encode()).hexdigest()


def checkpoint_signature(checkpoint: AuditCheckpoint) -> str:
    return _hmac(b"karo-audit-checkpoint-v1", checkpoint.canonical())


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
        head = _lock_the_chain()
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
        entry.hash = row_hash(entry)
        entry.save()
    return entry


def _lock_the_chain() -> str | None:
    """Take the chain's lock (the "audit" counter row, until the transaction ends), then read
    the hash of the last row. Two statements every posting runs: written out, not compiled
    each time (see `karo.rows`)."""
    sequences, log = NumberSequence._meta.db_table, AuditLog._meta.db_table
    lock = f"SELECT id FROM {sequences} WHERE key = %s"  # noqa: S608 (names from the models)
    if connection.features.has_select_for_update:
        lock += " FOR UPDATE"
    with connection.cursor() as cursor:
        cursor.execute(lock, ["audit"])
        if cursor.fetchone() is None:  # the first entry ever: its counter is created first
            NumberSequence.objects.select_for_update().get_or_create(key="audit")
        cursor.execute(f"SELECT hash FROM {log} ORDER BY id DESC LIMIT 1")  # noqa: S608
        head = cursor.fetchone()
    return head[0] if head else None


def audit_checkpoint(
    *, kind: str, user: User | AnonymousUser | None = None, note: str = ""
) -> AuditCheckpoint:
    """Sign the log's current length and head, and log the signature (ship the application log
    somewhere the database's owner cannot write: a checkpoint deleted from the database is
    still there).

    Under the chain's lock, so no audit row is half-written. The count is the last checkpoint's
    plus the rows after its head (no full count of a log of millions each night) when that
    checkpoint's signature holds; a count that was already short stays short, so it keeps
    showing rows deleted before it.
    """
    username = user.get_username() if user is not None and user.is_authenticated else ""
    with transaction.atomic():
        _lock_the_chain()
        head_id, head_hash = AuditLog.objects.order_by("-id").values_list("id", "hash").first() or (
            0,
            GENESIS_HASH,
        )
        last = AuditCheckpoint.objects.order_by("-sequence").first()
        if (
            last is not None
            and last.signature == checkpoint_signature(last)
            and (last.head_id <= head_id)
        ):
            rows = AuditLog.objects.filter(id__gt=last.head_id, id__lte=head_id).count()
            row_count = last.row_count + rows
        else:
            row_count = AuditLog.objects.filter(id__lte=head_id).count()
        checkpoint = AuditCheckpoint(
            sequence=(last.sequence + 1) if last is not None else 1,
            kind=kind,
            username=username,
            note=note[:200],
            row_count=row_count,
            head_id=head_id,
            head_hash=head_hash,
            prev_signature=last.signature if last is not None else GENESIS_HASH,
        )
        checkpoint.signature = checkpoint_signature(checkpoint)
        checkpoint.save()
    logger.info(
        "audit checkpoint %s: %s rows, head %s %s, signature %s",
        checkpoint.sequence,
        checkpoint.row_count,
        checkpoint.head_id,
        checkpoint.head_hash,
        checkpoint.signature,
    )
    return checkpoint


@dataclass
class Problem:
    """One finding: a run of consecutive rows (first_id..last_id) or a checkpoint."""

    why: str
    first_id: int | None = None
    last_id: int | None = None
    rows: int = 0

    def __str__(self) -> str:
        if self.first_id is None:
            return self.why
        if self.rows == 1:
            return f"row {self.first_id}: {self.why}"
        return f"rows {self.first_id} to {self.last_id} ({self.rows} rows): {self.why}"


@dataclass
class AuditReport:
    rows: int = 0
    legacy_rows: int = 0
    checkpoints: int = 0
    latest: AuditCheckpoint | None = None
    problems: list[Problem] = field(default_factory=list)
    _runs: dict[str, Problem] = field(default_factory=dict, repr=False)

    @property
    def intact(self) -> bool:
        return not self.problems

    def bad_row(self, row_id: int, previous_id: int | None, why: str) -> None:
        """Consecutive bad rows with the same reason are one run ("rows 5 to 900")."""
        run = self._runs.get(why)
        if run is not None and previous_id is not None and run.last_id == previous_id:
            run.last_id = row_id
            run.rows += 1
            return
        run = Problem(why=why, first_id=row_id, last_id=row_id, rows=1)
        self._runs[why] = run
        self.problems.append(run)

    def bad(self, why: str) -> None:
        self.problems.append(Problem(why=why))


def _trusted_checkpoints(report: AuditReport) -> tuple[list[AuditCheckpoint], int]:
    """The checkpoints whose signatures hold, and the last row of the unkeyed (legacy) chain;
    every broken signature, gap or disorder in the checkpoints' own chain is reported."""
    trusted: list[AuditCheckpoint] = []
    legacy_until = 0
    expected_sequence, expected_prev = 1, GENESIS_HASH
    for checkpoint in AuditCheckpoint.objects.order_by("sequence"):
        report.checkpoints += 1
        name = f"checkpoint {checkpoint.sequence} ({checkpoint.created_at:%Y-%m-%d %H:%M})"
        if checkpoint.signature != checkpoint_signature(checkpoint):
            report.bad(f"{name}: its signature does not match its content (forged or edited)")
            # Not trusted; the ones after it are still checked against where it stood.
            expected_sequence, expected_prev = checkpoint.sequence + 1, checkpoint.signature
            continue
        if checkpoint.sequence != expected_sequence:
            report.bad(
                f"checkpoints {expected_sequence} to {checkpoint.sequence - 1} are missing "
                "(deleted)"
            )
        elif checkpoint.prev_signature != expected_prev:
            report.bad(f"{name}: does not follow the checkpoint before it")
        if checkpoint.kind == AuditCheckpoint.Kind.CHAIN_START:
            if checkpoint.sequence == 1:
                legacy_until = checkpoint.head_id
            else:
                report.bad(f"{name}: a chain start can only be the first checkpoint")
        if trusted and checkpoint.head_id < trusted[-1].head_id:
            report.bad(f"{name}: its head is before the previous checkpoint's")
        expected_sequence, expected_prev = checkpoint.sequence + 1, checkpoint.signature
        trusted.append(checkpoint)
        report.latest = checkpoint
    return trusted, legacy_until


def _check_at(
    checkpoint: AuditCheckpoint, report: AuditReport, counted: int, head: str | None
) -> None:
    """Compare a checkpoint with the rows: `counted` rows up to its head, whose hash is `head`
    (None: the head row is gone)."""
    name = f"checkpoint {checkpoint.sequence} ({checkpoint.created_at:%Y-%m-%d %H:%M})"
    if checkpoint.head_id and head is None:
        report.bad(f"{name}: its last row {checkpoint.head_id} is missing (rows deleted)")
    elif checkpoint.head_id and head != checkpoint.head_hash:
        report.bad(
            f"{name}: row {checkpoint.head_id} no longer has the hash it signed "
            "(the rows up to it were rewritten)"
        )
    if counted != checkpoint.row_count:
        report.bad(
            f"{name}: it signed {checkpoint.row_count} rows up to row {checkpoint.head_id}, "
            f"{counted} are there ({checkpoint.row_count - counted} deleted)"
            if counted < checkpoint.row_count
            else f"{name}: it signed {checkpoint.row_count} rows up to row "
            f"{checkpoint.head_id}, {counted} are there (rows inserted)"
        )


def verify_audit_log(*, chunk_size: int = 2000) -> AuditReport:
    """Walk every row in order (streamed, `chunk_size` at a time) and every checkpoint; report
    every bad row (runs of consecutive ones together) and every checkpoint that does not hold."""
    report = AuditReport()
    trusted, legacy_until = _trusted_checkpoints(report)
    pending = sorted(trusted, key=lambda c: (c.head_id, c.sequence))
    expected_prev, previous_id = GENESIS_HASH, None
    for entry in AuditLog.objects.order_by("id").iterator(chunk_size=chunk_size):
        while pending and pending[0].head_id < entry.id:
            # Passed a checkpoint's head without meeting it: that row is gone.
            _check_at(pending.pop(0), report, report.rows, None)
        legacy = entry.id <= legacy_until
        if entry.prev_hash != expected_prev:
            report.bad_row(
                entry.id,
                previous_id,
                "the chain is broken before this row (rows before it deleted, or the row "
                "before it rewritten)",
            )
        expected = legacy_row_hash(entry) if legacy else row_hash(entry)
        if entry.hash != expected:
            report.bad_row(
                entry.id,
                previous_id,
                "its content does not match its hash (edited)"
                if legacy
                else "its content does not match its keyed hash (edited, or re-hashed "
                "without the key)",
            )
        report.rows += 1
        report.legacy_rows += legacy
        expected_prev, previous_id = entry.hash, entry.id
        while pending and pending[0].head_id == entry.id:
            _check_at(pending.pop(0), report, report.rows, entry.hash)
    for checkpoint in pending:
        # Heads after the last row: the newest rows were deleted (head 0: an empty log).
        _check_at(checkpoint, report, report.rows, None if checkpoint.head_id else GENESIS_HASH)
    return report
