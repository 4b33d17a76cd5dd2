"""Writing many rows' fields in one statement.

`QuerySet.bulk_update` builds a `CASE WHEN id = … THEN …` expression per row and field, which
costs seconds of Python per thousand rows (most of the daily close's time). `update_rows`
sends the new values as a VALUES list joined on the primary key instead:

    WITH v(pk, f1, f2) AS (VALUES (%s, %s, %s), …)
    UPDATE table SET f1 = v.f1, f2 = v.f2 FROM v WHERE table.id = v.pk

which PostgreSQL and SQLite (3.33+) both run. Values are prepared by each field, as Django
would for a save.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connections, models, router

# Parameters one statement may carry: SQLite's default limit (32,766) and PostgreSQL's wire
# protocol limit (65,535), with room to spare. A statement takes as many rows as fit, so a
# replay re-splitting hundreds of transactions still writes them in one statement.
MAX_PARAMETERS = {"sqlite": 32_000, "postgresql": 65_000}


def update_rows(objs: Sequence[models.Model], fields: list[str]) -> None:
    """Save `fields` of every object in `objs` (all of one model)."""
    if not objs:
        return
    model = type(objs[0])
    connection = connections[router.db_for_write(model)]
    meta = model._meta
    columns = [cast(models.Field, meta.get_field(name)) for name in fields]
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    aliases = [f"v{i}" for i in range(len(columns))]
    # PostgreSQL types a VALUES column from its values: one holding only NULLs is text, so
    # each is cast to its column's type.
    typed = connection.vendor == "postgresql"
    assignments = ", ".join(
        f"{quote(str(field.column))} = v.{alias}"
        + (f"::{field.cast_db_type(connection)}" if typed else "")  # type: ignore[attr-defined]
        for field, alias in zip(columns, aliases, strict=True)
    )
    row = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
    with connection.cursor() as cursor:
        rows = max(1, MAX_PARAMETERS.get(connection.vendor, 999) // (len(columns) + 1))
        for start in range(0, len(objs), rows):
            chunk = objs[start : start + rows]
            params: list[Any] = []
            for obj in chunk:
                params.append(obj.pk)
                params.extend(
                    field.get_db_prep_save(getattr(obj, field.attname), connection)
                    for field in columns
                )
            cursor.execute(
                f"WITH v(pk, {', '.join(aliases)}) AS (VALUES {', '.join([row] * len(chunk))}) "  # noqa: S608
                f"UPDATE {table} SET {assignments} FROM v "
                f"WHERE {table}.{quote(meta.pk.column)} = v.pk",
                params,
            )
