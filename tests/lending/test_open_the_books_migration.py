"""The migration that opened the books (lending 0007) on the demo portfolio as the release
before the ledger left it (`make run`'s seed_demo then one daily close, saved as a fixture):
every loan replays to what it stores, the ledger reconciles, and loans booked in date order
show exactly what they showed before. Loans whose payments had been booked out of date order
are re-split in date order, their totals unchanged and their rows as booked kept."""

from __future__ import annotations

import gzip
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.color import no_style
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from lending.models import Allocation, Installment, Loan
from lending.services.transactions import replay_differences

FIXTURE = Path(__file__).parent / "fixtures" / "demo_portfolio_before_ledger.json.gz"
BEFORE = [("lending", "0005_borrower_search_trigram"), ("ledger", None)]
RESPLIT = {  # booked out of date order by the old demo seeder (a later date typed first)
    "L-2026-000004",
    "L-2026-000008",
    "L-2026-000009",
    "L-2026-000011",
    "L-2026-000016",
    "L-2026-000022",
    "L-2026-000050",
    "L-2026-000052",
    "L-2026-000056",
}
INSTALLMENT_STATE = [
    "principal_paid",
    "interest_paid",
    "fees_paid",
    "penalties_paid",
    "penalties",
    "interest_waived",
    "status",
]

# serialized_rollback: the database is left as the other tests expect it (roles, the chart).
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)


def _load_old_rows(apps: Any) -> dict[str, dict[str, Any]]:
    data = json.loads(gzip.decompress(FIXTURE.read_bytes()))
    models = {m._meta.db_table: m for m in apps.get_models()}
    with connection.cursor() as cursor:
        for table, content in data.items():
            model = models[table]
            columns = content["columns"]
            booleans = {
                f.column
                for f in model._meta.concrete_fields
                if f.get_internal_type() == "BooleanField"
            }
            rows = [
                [
                    bool(v) if c in booleans and v is not None else v
                    for c, v in zip(columns, row, strict=True)
                ]
                for row in content["rows"]
            ]
            names = ", ".join(connection.ops.quote_name(c) for c in columns)
            marks = ", ".join(["%s"] * len(columns))
            cursor.executemany(f"INSERT INTO {table} ({names}) VALUES ({marks})", rows)  # noqa: S608
        for sql in connection.ops.sequence_reset_sql(no_style(), list(models.values())):
            cursor.execute(sql)
    return data


def _value(v: Any) -> Any:
    """Amounts compared as decimals (SQLite keeps them as REAL: 0 and 0.00 are one amount)."""
    return Decimal(str(v)) if isinstance(v, int | float | Decimal) else v


def _state(rows: dict[str, Any], table: str, key: str, fields: list[str]) -> dict[Any, tuple]:
    columns = rows[table]["columns"]
    return {
        row[columns.index(key)]: tuple(_value(row[columns.index(f)]) for f in fields)
        for row in rows[table]["rows"]
    }


def test_opening_the_books_replays_every_demo_loan_to_what_it_shows() -> None:
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    executor.loader.build_graph()
    old = _load_old_rows(executor.loader.project_state(BEFORE[0]).apps)
    old_installments = _state(old, "lending_installment", "id", INSTALLMENT_STATE)
    old_loans = _state(old, "lending_loan", "id", ["total_paid", "outstanding", "status"])

    executor = MigrationExecutor(connection)
    executor.migrate(executor.loader.graph.leaf_nodes())

    assert [p for loan in Loan.objects.all() for p in replay_differences(loan)] == []
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115
    for loan in Loan.objects.all():
        assert old_loans[loan.pk] == (loan.total_paid, loan.outstanding, loan.status)
        rows = Installment.objects.filter(loan=loan)
        now = {i.pk: tuple(_value(getattr(i, f)) for f in INSTALLMENT_STATE) for i in rows}
        if loan.number not in RESPLIT:
            assert all(now[pk] == old_installments[pk] for pk in now), loan.number
    # What the receipts of the re-split loans printed is kept beside the new split.
    superseded = Allocation.objects.exclude(superseded_at=None)
    assert superseded.exists()
    assert {a.transaction.loan.number for a in superseded} <= RESPLIT
    assert all(a.as_booked for a in superseded)
    assert Allocation.objects.filter(as_booked=False).exists()
    assert Decimal(0) < sum((loan.total_paid for loan in Loan.objects.all()), Decimal(0))
