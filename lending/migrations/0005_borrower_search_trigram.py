from django.db import migrations, transaction

INDEXES = {
    "borrower_name_trgm": 'UPPER("full_name"::text) gin_trgm_ops',
    "borrower_number_trgm": 'UPPER("number"::text) gin_trgm_ops',
    "borrower_phone_trgm": 'UPPER("phone"::text) gin_trgm_ops',
    "borrower_national_id_trgm": '"national_id" gin_trgm_ops',
}


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    """Borrower search matches text anywhere in a name, number, phone or national ID; on
    PostgreSQL trigram indexes answer that without reading every borrower. Creating the
    extension needs a privileged role: without it the search still works, only slower."""
    if schema_editor.connection.vendor != "postgresql":
        return
    try:
        with transaction.atomic(using=schema_editor.connection.alias):
            schema_editor.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    except Exception as exc:  # noqa: BLE001  (any refusal: skip the optional indexes)
        print(f"\n  Borrower search indexes skipped: cannot create pg_trgm ({exc}).")
        return
    for name, expression in INDEXES.items():
        schema_editor.execute(
            f"CREATE INDEX IF NOT EXISTS {name} ON lending_borrower USING gin ({expression})"
        )


def backward(apps, schema_editor):  # type: ignore[no-untyped-def]
    if schema_editor.connection.vendor != "postgresql":
        return
    for name in INDEXES:
        schema_editor.execute(f"DROP INDEX IF EXISTS {name}")


class Migration(migrations.Migration):
    dependencies = [("lending", "0004_loan_list_index")]

    operations = [migrations.RunPython(forward, backward)]
