from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION lending_auditlog_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'lending_auditlog is append-only: %% is not allowed', TG_OP;
END;
$$ LANGUAGE plpgsql;
CREATE TRIGGER lending_auditlog_no_update_delete
    BEFORE UPDATE OR DELETE ON lending_auditlog
    FOR EACH ROW EXECUTE FUNCTION lending_auditlog_append_only();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS lending_auditlog_no_update_delete ON lending_auditlog;
DROP FUNCTION IF EXISTS lending_auditlog_append_only();
"""


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(FORWARD)


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(BACKWARD)


class Migration(migrations.Migration):
    """On PostgreSQL the database itself refuses UPDATE and DELETE of audit rows (the ORM
    refuses them everywhere). TRUNCATE, used only by test teardown, is not a row operation."""

    dependencies = [("lending", "0001_initial")]

    operations = [migrations.RunPython(forward, backward)]
