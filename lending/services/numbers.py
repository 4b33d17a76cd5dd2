"""Human-facing numbers (B-000123, L-2026-000045, RCT-2026-000001) from locked counter rows."""

from django.db import transaction

from lending.models import NumberSequence


def next_value(key: str) -> int:
    """The next value of a named counter. Call inside the transaction that uses the number:
    the row stays locked until it commits, and a rollback gives the number back (no gaps)."""
    assert transaction.get_connection().in_atomic_block, "next_value needs a transaction"
    seq, _ = NumberSequence.objects.select_for_update().get_or_create(key=key)
    seq.last_value += 1
    seq.save(update_fields=["last_value"])
    return seq.last_value


def next_borrower_number() -> str:
    return f"B-{next_value('borrower'):06d}"


def next_loan_number(year: int) -> str:
    return f"L-{year}-{next_value(f'loan:{year}'):06d}"


def next_receipt_number(year: int) -> str:
    return f"RCT-{year}-{next_value(f'receipt:{year}'):06d}"
