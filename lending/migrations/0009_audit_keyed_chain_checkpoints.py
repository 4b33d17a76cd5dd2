import django.utils.timezone
from django.db import migrations, models

GENESIS_HASH = "0" * 64

# One function for every append-only table and operation; TRUNCATE is refused by a
# statement-level trigger (row triggers never see it).
FORWARD = """
CREATE OR REPLACE FUNCTION lending_auditlog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION '%% is append-only: %% is not allowed', TG_TABLE_NAME, TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER lending_auditlog_no_truncate
    BEFORE TRUNCATE ON lending_auditlog
    FOR EACH STATEMENT EXECUTE FUNCTION lending_auditlog_append_only();
CREATE TRIGGER lending_auditcheckpoint_no_update_delete
    BEFORE UPDATE OR DELETE ON lending_auditcheckpoint
    FOR EACH ROW EXECUTE FUNCTION lending_auditlog_append_only();
CREATE TRIGGER lending_auditcheckpoint_no_truncate
    BEFORE TRUNCATE ON lending_auditcheckpoint
    FOR EACH STATEMENT EXECUTE FUNCTION lending_auditlog_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS lending_auditcheckpoint_no_truncate ON lending_auditcheckpoint;
DROP TRIGGER IF EXISTS lending_auditcheckpoint_no_update_delete ON lending_auditcheckpoint;
DROP TRIGGER IF EXISTS lending_auditlog_no_truncate ON lending_auditlog;
CREATE OR REPLACE FUNCTION lending_auditlog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'lending_auditlog is append-only: %% is not allowed', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


def triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def drop_triggers(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


def chain_start(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Checkpoint 1 signs the rows chained so far with plain SHA-256 (their count and the last
    one's hash): every later row is keyed, and the old ones can no longer be recomputed
    unnoticed. Signed with KARO_AUDIT_KEY, so it is the same signature the app computes.
    An empty log (a new installation) needs no such checkpoint: every row will be keyed."""
    from lending.audit import checkpoint_signature
    from lending.models import AuditCheckpoint as Signed

    db = schema_editor.connection.alias
    AuditLog = apps.get_model("lending", "AuditLog")
    AuditCheckpoint = apps.get_model("lending", "AuditCheckpoint")
    NumberSequence = apps.get_model("lending", "NumberSequence")
    if not AuditLog.objects.using(db).exists():
        return  # a new installation: every row will be keyed, there is nothing to pin
    NumberSequence.objects.using(db).select_for_update().get_or_create(key="audit")
    head_id, head_hash = (
        AuditLog.objects.using(db).order_by("-id").values_list("id", "hash").first()
    )
    values = {
        "sequence": 1,
        "created_at": django.utils.timezone.now(),
        "kind": "chain_start",
        "username": "",
        "note": "migration 0009: rows up to here are chained with unkeyed SHA-256",
        "row_count": AuditLog.objects.using(db).count(),
        "head_id": head_id,
        "head_hash": head_hash,
        "prev_signature": GENESIS_HASH,
    }
    signature = checkpoint_signature(Signed(**values))
    AuditCheckpoint.objects.using(db).create(signature=signature, **values)


class Migration(migrations.Migration):
    """The audit log becomes tamper-evident against the database's owner: a keyed chain
    (lending.audit), signed checkpoints (this table, append-only like the log) and TRUNCATE
    refused on both tables. Rolling back drops the checkpoints; the keyed rows written since
    then no longer verify under the old code (it knows only the unkeyed hash)."""

    dependencies = [
        ("lending", "0008_allocation_by_transaction"),
    ]

    operations = [
        migrations.CreateModel(
            name="AuditCheckpoint",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sequence", models.PositiveIntegerField(unique=True)),
                ("created_at", models.DateTimeField(default=django.utils.timezone.now)),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("chain_start", "Keyed chain starts"),
                            ("day_close", "Daily close"),
                            ("manual", "On demand"),
                        ],
                        max_length=16,
                    ),
                ),
                ("username", models.CharField(blank=True, max_length=150)),
                ("note", models.CharField(blank=True, max_length=200)),
                ("row_count", models.PositiveBigIntegerField()),
                ("head_id", models.PositiveBigIntegerField()),
                ("head_hash", models.CharField(max_length=64)),
                ("prev_signature", models.CharField(max_length=64)),
                ("signature", models.CharField(max_length=64, unique=True)),
            ],
            options={
                "ordering": ["-sequence"],
            },
        ),
        migrations.RunPython(triggers, drop_triggers),
        migrations.RunPython(chain_start, migrations.RunPython.noop),
    ]
