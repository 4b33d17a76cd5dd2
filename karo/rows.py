"""Whole model rows read by hand-written SQL.

The ORM compiles a query afresh on every call: for the loan's 53 columns that is most of a
millisecond of Python before the statement leaves, more than the database takes to answer.
The few statements every payment runs (the loan lock, its unpaid installments) are written
out once here instead; `columns` lists a model's columns in the order `from_row` reads them
back, converted as the ORM would (a JSON field parsed, SQLite's text decimals made Decimal).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any, TypeVar

from django.db import connection, models

M = TypeVar("M", bound=models.Model)


@cache
def columns(model: type[models.Model]) -> str:
    """The model's columns, qualified by its table, for a SELECT list."""
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    return ", ".join(f"{table}.{quote(f.column)}" for f in model._meta.concrete_fields)


@cache
def _converters(model: type[models.Model]) -> tuple[tuple[int, Callable[..., Any], Any], ...]:
    table = model._meta.db_table
    found = []
    for i, field in enumerate(model._meta.concrete_fields):
        col = field.get_col(table)
        # Every field has converters; the stubs name the method on expressions only.
        own: list[Callable[..., Any]] = field.get_db_converters(connection)  # type: ignore[attr-defined]
        for convert in connection.ops.get_db_converters(col) + own:
            found.append((i, convert, col))
    return tuple(found)


def from_row(model: type[M], values: Sequence[Any]) -> M:
    """The model instance of a row read with `columns(model)`, as the ORM would build it."""
    values = list(values)
    for i, convert, col in _converters(model):
        values[i] = convert(values[i], col, connection)
    names = [f.attname for f in model._meta.concrete_fields]
    return model.from_db(connection.alias, names, values)
