"""Human-facing numbers (B-000123, L-2026-000045, RCT-2026-000001) from locked counter rows."""

from django.db import connection, transaction

from lending.models import NumberSequence

# The table name comes from the model, never from input.
_BUMP = (
    f"UPDATE {NumberSequence._meta.db_table} SET last_value = last_value + 1 "  # noqa: S608
    "WHERE key = %s RETURNING last_value"
)


def next_value(key: str) -> int:
    """The next value of a named counter. Call inside the transaction that uses the number:
    the row stays locked until it commits, and a rollback gives the number back (no gaps).
    One statement takes the lock and the number (UPDATE ... RETURNING, PostgreSQL and SQLite
    3.35+); a counter seen for the first time is created first."""
    assert transaction.get_connection().in_atomic_block, "next_value needs a transaction"
    with connection.cursor() as cursor:
        cursor.execute(_BUMP, [key])
        row = cursor.fetchone()
        if row is None:
            NumberSequence.objects.get_or_create(key=key)
            cursor.execute(_BUMP, [key])
            row = cursor.fetchone()
    return int(row[0])


def next_borrower_number() -> str:
    return f"B-{next_value('borrower'):06d}"


def next_loan_number(year: int) -> str:
    return f"L-{year}-{next_value(f'loan:{year}'):06d}"


def next_receipt_number(year: int) -> str:
    return f"RCT-{year}-{next_value(f'receipt:{year}'):06d}"
