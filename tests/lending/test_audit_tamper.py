"""Tampering with the audit log is detected even by someone who owns the database: the chain is
keyed (HMAC under KARO_AUDIT_KEY, never in the database), signed checkpoints pin its length,
and `verify_audit_log` lists every bad row and missing range."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from io import StringIO
from types import SimpleNamespace
from typing import Any

import pytest
from django.apps import apps
from django.core.management import CommandError, call_command
from django.db import connection
from django.test import Client, override_settings

from lending.audit import (
    GENESIS_HASH,
    audit_checkpoint,
    audit_record,
    legacy_row_hash,
    row_hash,
    verify_audit_log,
)
from lending.models import AuditCheckpoint, AuditLog
from lending.services.close_day import day_close
from tests.factories import OfficerFactory

pytestmark = pytest.mark.django_db
MANUAL = AuditCheckpoint.Kind.MANUAL


def make_entries(n: int) -> list[AuditLog]:
    user = OfficerFactory()
    return [
        audit_record(action=AuditLog.Action.BORROWER_UPDATED, user=user, details={"i": i})
        for i in range(n)
    ]


@contextmanager
def behind_the_apps_back() -> Iterator[Any]:
    """A cursor of the database's owner with the append-only triggers off (on PostgreSQL the
    owner can do that; SQLite has no triggers): what an attacker holding the database can do."""
    tables = {
        "lending_auditlog": ["lending_auditlog_no_update_delete", "lending_auditlog_no_truncate"],
        "lending_auditcheckpoint": [
            "lending_auditcheckpoint_no_update_delete",
            "lending_auditcheckpoint_no_truncate",
        ],
    }
    pg = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if pg:
            for table, names in tables.items():
                for name in names:
                    cursor.execute(f"ALTER TABLE {table} DISABLE TRIGGER {name}")
        yield cursor
        if pg:
            for table, names in tables.items():
                for name in names:
                    cursor.execute(f"ALTER TABLE {table} ENABLE TRIGGER {name}")


def problems() -> list[str]:
    return [str(p) for p in verify_audit_log(chunk_size=3).problems]


def test_untouched_log_and_checkpoints_verify() -> None:
    make_entries(4)
    audit_checkpoint(kind=MANUAL)
    make_entries(2)
    audit_checkpoint(kind=MANUAL)
    report = verify_audit_log(chunk_size=3)
    assert report.intact, problems()
    assert (report.rows, report.checkpoints) == (6, 2)


def test_rows_are_keyed_with_the_audit_key() -> None:
    (entry,) = make_entries(1)
    assert entry.hash == row_hash(entry) != legacy_row_hash(entry)
    with override_settings(KARO_AUDIT_KEY="another-key-of-at-least-32-characters!!"):
        assert row_hash(entry) != entry.hash
        assert problems() == [f"row {entry.pk}: {KEYED_MISMATCH}"]


KEYED_MISMATCH = "its content does not match its keyed hash (edited, or re-hashed without the key)"


def test_a_chain_recomputed_with_the_public_algorithm_is_detected() -> None:
    entries = make_entries(5)
    # The attacker edits row 2 and recomputes the chain from there with plain SHA-256.
    prev = entries[0].hash
    with behind_the_apps_back() as cursor:
        for entry in entries[1:]:
            entry.prev_hash = prev
            if entry is entries[1]:
                entry.details = {"i": 99}
            entry.hash = legacy_row_hash(entry)
            cursor.execute(
                "UPDATE lending_auditlog SET details = %s, prev_hash = %s, hash = %s WHERE id = %s",
                [json.dumps(entry.details), entry.prev_hash, entry.hash, entry.pk],
            )
            prev = entry.hash
    assert problems() == [f"rows {entries[1].pk} to {entries[4].pk} (4 rows): {KEYED_MISMATCH}"]


def test_every_edited_row_is_reported_not_only_the_first() -> None:
    entries = make_entries(6)
    with behind_the_apps_back() as cursor:
        for victim in (entries[1], entries[3], entries[4]):
            cursor.execute(
                "UPDATE lending_auditlog SET object_repr = 'nothing to see' WHERE id = %s",
                [victim.pk],
            )
    assert problems() == [
        f"row {entries[1].pk}: {KEYED_MISMATCH}",
        f"rows {entries[3].pk} to {entries[4].pk} (2 rows): {KEYED_MISMATCH}",
    ]
    err = StringIO()
    with pytest.raises(CommandError, match="tampered with: 2 problem"):
        call_command("verify_audit_log", stdout=StringIO(), stderr=err)
    assert f"row {entries[1].pk}: " in err.getvalue()
    assert f"rows {entries[3].pk} to {entries[4].pk}" in err.getvalue()


def test_rows_deleted_from_the_middle_are_a_missing_range() -> None:
    entries = make_entries(6)
    with behind_the_apps_back() as cursor:
        cursor.execute(
            "DELETE FROM lending_auditlog WHERE id IN (%s, %s)", [entries[2].pk, entries[3].pk]
        )
    (problem,) = problems()
    assert problem.startswith(f"row {entries[4].pk}: the chain is broken before this row")


def test_deleting_the_newest_rows_before_a_checkpoint_is_detected() -> None:
    entries = make_entries(5)
    checkpoint = audit_checkpoint(kind=MANUAL)
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM lending_auditlog WHERE id >= %s", [entries[3].pk])
    found = problems()
    assert f"its last row {entries[4].pk} is missing (rows deleted)" in found[0]
    assert f"it signed 5 rows up to row {entries[4].pk}, 3 are there (2 deleted)" in found[1]
    assert len(found) == 2
    assert str(checkpoint.sequence) in found[0]


def test_emptying_the_log_is_detected_by_the_checkpoint() -> None:
    make_entries(3)
    audit_checkpoint(kind=MANUAL)
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM lending_auditlog")
    assert not verify_audit_log().intact
    with pytest.raises(CommandError):
        call_command("verify_audit_log", stdout=StringIO(), stderr=StringIO())


def test_rows_newer_than_the_last_checkpoint_can_be_deleted_unnoticed() -> None:
    """The limit, stated in the README: nothing signed covers them yet."""
    make_entries(3)
    audit_checkpoint(kind=MANUAL)
    newer = make_entries(2)
    with behind_the_apps_back() as cursor:
        cursor.execute("DELETE FROM lending_auditlog WHERE id >= %s", [newer[0].pk])
    assert verify_audit_log().intact


def test_a_checkpoint_kept_outside_the_database_catches_a_deleted_tail() -> None:
    make_entries(2)
    audit_checkpoint(kind=MANUAL)
    make_entries(2)
    kept = audit_checkpoint(kind=MANUAL)
    expect = f"--expect={kept.sequence}:{kept.signature}"
    call_command("verify_audit_log", expect, stdout=StringIO())
    with behind_the_apps_back() as cursor:  # the newest rows and the checkpoint over them
        cursor.execute("DELETE FROM lending_auditcheckpoint WHERE id = %s", [kept.pk])
        cursor.execute("DELETE FROM lending_auditlog WHERE id > %s", [kept.head_id - 2])
    assert verify_audit_log().intact  # inside the database, nothing shows it
    err = StringIO()
    with pytest.raises(CommandError):
        call_command("verify_audit_log", expect, stdout=StringIO(), stderr=err)
    assert f"checkpoint {kept.sequence} recorded outside the database is gone" in err.getvalue()


def test_a_forged_or_deleted_checkpoint_is_detected() -> None:
    make_entries(2)
    first = audit_checkpoint(kind=MANUAL)
    make_entries(1)
    second = audit_checkpoint(kind=MANUAL)
    make_entries(1)
    third = audit_checkpoint(kind=MANUAL)
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE lending_auditcheckpoint SET row_count = 1 WHERE id = %s", [first.pk])
        cursor.execute("DELETE FROM lending_auditcheckpoint WHERE id = %s", [second.pk])
    found = problems()
    assert f"checkpoint {first.sequence} " in found[0] and "signature does not match" in found[0]
    assert f"checkpoints {second.sequence} to {second.sequence} are missing" in found[1]
    assert len(found) == 2, found
    assert third.sequence == second.sequence + 1


def test_orm_refuses_to_change_a_checkpoint() -> None:
    checkpoint = audit_checkpoint(kind=MANUAL)
    checkpoint.row_count = 99
    with pytest.raises(PermissionError):
        checkpoint.save()
    with pytest.raises(PermissionError):
        checkpoint.delete()
    with pytest.raises(PermissionError):
        AuditCheckpoint.objects.update(row_count=1)
    with pytest.raises(PermissionError):
        AuditCheckpoint.objects.all().delete()


def test_checkpoints_chain_and_count_incrementally() -> None:
    make_entries(2)
    first = audit_checkpoint(kind=MANUAL, user=OfficerFactory(username="clerk"))
    entries = make_entries(3)
    second = audit_checkpoint(kind=MANUAL)
    assert first.prev_signature == GENESIS_HASH and first.username == "clerk"
    assert second.prev_signature == first.signature
    assert (second.row_count, second.head_id, second.head_hash) == (
        5,
        entries[-1].pk,
        entries[-1].hash,
    )


def test_daily_close_writes_a_checkpoint_covering_its_own_entry() -> None:
    make_entries(2)
    day_close()
    checkpoint = AuditCheckpoint.objects.get()
    last = AuditLog.objects.order_by("-id").first()
    assert last is not None and last.action == AuditLog.Action.DAY_CLOSED
    assert checkpoint.kind == AuditCheckpoint.Kind.DAY_CLOSE
    assert (checkpoint.row_count, checkpoint.head_id) == (AuditLog.objects.count(), last.pk)
    assert verify_audit_log().intact


def test_verify_command_writes_a_checkpoint_on_demand_only_when_intact() -> None:
    entries = make_entries(2)
    out = StringIO()
    call_command("verify_audit_log", "--checkpoint", stdout=out)
    assert "Audit log intact: 2 rows verified" in out.getvalue()
    assert "Checkpoint 1 written: 2 rows" in out.getvalue()
    assert AuditCheckpoint.objects.get().kind == MANUAL
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE lending_auditlog SET username = 'x' WHERE id = %s", [entries[0].pk])
    with pytest.raises(CommandError, match="No checkpoint written"):
        call_command("verify_audit_log", "--checkpoint", stdout=StringIO(), stderr=StringIO())
    assert AuditCheckpoint.objects.count() == 1


def test_admin_writes_a_checkpoint_from_the_checkpoint_list(
    admin_client: Client, admin_user: Any
) -> None:
    make_entries(1)
    page = admin_client.get("/admin/lending/auditcheckpoint/")
    assert page.status_code == 200 and b"Write a checkpoint now" in page.content
    assert admin_client.get("/admin/lending/auditcheckpoint/write/").status_code == 405
    response = admin_client.post("/admin/lending/auditcheckpoint/write/")
    assert response.status_code == 302
    checkpoint = AuditCheckpoint.objects.get()
    assert (checkpoint.kind, checkpoint.username) == (MANUAL, admin_user.username)
    assert admin_client.get("/admin/lending/auditcheckpoint/add/").status_code == 403


def test_officer_cannot_write_a_checkpoint(officer_client: Client) -> None:
    assert officer_client.post("/admin/lending/auditcheckpoint/write/").status_code in {302, 403}
    assert not AuditCheckpoint.objects.exists()


# Rows written before the chain was keyed ---------------------------------------------------


def legacy_entries(n: int) -> list[AuditLog]:
    """Rows as the code before migration 0009 wrote them: plain SHA-256."""
    out: list[AuditLog] = []
    prev = GENESIS_HASH
    for i in range(n):
        entry = AuditLog(action=AuditLog.Action.LOGIN, username=f"u{i}", prev_hash=prev)
        entry.hash = legacy_row_hash(entry)
        entry.save()
        out.append(entry)
        prev = entry.hash
    return out


def run_chain_start_migration() -> None:
    from importlib import import_module

    migration = import_module("lending.migrations.0009_audit_keyed_chain_checkpoints")
    migration.chain_start(apps, SimpleNamespace(connection=connection))


def test_rows_from_before_the_keyed_chain_still_verify() -> None:
    old = legacy_entries(3)
    run_chain_start_migration()
    start = AuditCheckpoint.objects.get()
    assert (start.kind, start.row_count, start.head_id) == ("chain_start", 3, old[-1].pk)
    new = make_entries(2)
    assert new[0].prev_hash == old[-1].hash
    report = verify_audit_log(chunk_size=2)
    assert report.intact, problems()
    assert (report.rows, report.legacy_rows) == (5, 3)


def test_old_rows_recomputed_with_the_public_algorithm_are_detected() -> None:
    old = legacy_entries(3)
    run_chain_start_migration()
    new = make_entries(1)
    # Rewrite the first old row and recompute the old (public) chain after it.
    prev = GENESIS_HASH
    with behind_the_apps_back() as cursor:
        for entry in old:
            entry.prev_hash = prev
            if entry is old[0]:
                entry.username = "someone else"
            entry.hash = legacy_row_hash(entry)
            cursor.execute(
                "UPDATE lending_auditlog SET username = %s, prev_hash = %s, hash = %s "
                "WHERE id = %s",
                [entry.username, entry.prev_hash, entry.hash, entry.pk],
            )
            prev = entry.hash
    found = problems()
    assert any(f"row {old[-1].pk} no longer has the hash it signed" in p for p in found), found
    assert any(p.startswith(f"row {new[0].pk}: the chain is broken") for p in found), found


def test_a_chain_start_without_a_valid_signature_does_not_excuse_old_rows() -> None:
    legacy_entries(2)
    run_chain_start_migration()
    with behind_the_apps_back() as cursor:
        cursor.execute("UPDATE lending_auditcheckpoint SET head_id = head_id + 10")
    found = problems()
    assert "signature does not match" in found[0]
    assert KEYED_MISMATCH in found[1]  # the old rows are then checked as keyed, and fail
