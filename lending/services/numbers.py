"""Human-facing numbers (B-000123, L-2026-000045, RCT-2026-000001) from locked counter rows."""

from django.db import connection, transaction
from django.utils import timezone

from lending.models import NumberSequence, Receipt, Repayment

# The table names come from the models, never from input.
_BUMP = (
    f"UPDATE {NumberSequence._meta.db_table} SET last_value = last_value + 1 "  # noqa: S608
    "WHERE key = %s RETURNING last_value"
)
# A receipt with the next number, in one statement (PostgreSQL: a data-modifying CTE). The
# number is formatted as `next_receipt_number` formats it: six digits at least.
_RECEIPT = (
    f"WITH counter AS ({_BUMP}) "  # noqa: S608
    f"INSERT INTO {Receipt._meta.db_table} (repayment_id, number, issued_at) "
    "SELECT %s, %s || lpad(last_value::text, greatest(6, length(last_value::text)), '0'), %s "
    "FROM counter RETURNING id, number"
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


def receipt_issue(repayment: Repayment) -> Receipt:
    """The repayment's receipt under the next number of this year's counter, locked (as by
    `next_value`) until the transaction commits. On PostgreSQL the number is taken and the
    receipt written in one round trip."""
    if connection.vendor != "postgresql":
        year = timezone.localdate().year
        return Receipt.objects.create(repayment=repayment, number=next_receipt_number(year))
    assert transaction.get_connection().in_atomic_block, "receipt_issue needs a transaction"
    year, issued_at = timezone.localdate().year, timezone.now()
    key, prefix = f"receipt:{year}", f"RCT-{year}-"
    with connection.cursor() as cursor:
        cursor.execute(_RECEIPT, [key, repayment.pk, prefix, issued_at])
        row = cursor.fetchone()
        if row is None:  # the year's first receipt: its counter is created first
            NumberSequence.objects.get_or_create(key=key)
            cursor.execute(_RECEIPT, [key, repayment.pk, prefix, issued_at])
            row = cursor.fetchone()
    receipt = Receipt.from_db(
        connection.alias,
        ["id", "repayment_id", "number", "issued_at", "voided_at"],
        [row[0], repayment.pk, row[1], issued_at, None],
    )
    receipt.repayment = repayment  # and the repayment's `receipt`, as `create` would
    return receipt
