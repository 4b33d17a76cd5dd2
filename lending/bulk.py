"""Writing many rows' fields in one statement.

`QuerySet.bulk_update` builds a `CASE WHEN id = … THEN …` expression per row and field, which
costs seconds of Python per thousand rows (most of the daily close's time). `update_rows`
sends the new values as a VALUES list joined on the primary key instead:

    WITH v(pk, f1, f2) AS (VALUES (%s, %s, %s), …)
    UPDATE table SET f1 = v.f1, f2 = v.f2 FROM v WHERE table.id = v.pk

which PostgreSQL and SQLite (3.33+) both run. On PostgreSQL the values travel as one array
per column instead (`FROM unnest(%s::numeric[], …) AS v(pk, f1, …)`, as Django's own
`bulk_create` does there): a statement of any size carries a handful of parameters, so
neither the driver nor the server parses thousands of placeholders. Values are prepared by
each field, as Django would for a save.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import cast

from django.db import connections, models, router

# Parameters one SQLite statement may carry (its default limit is 32,766), with room to
# spare. A statement takes as many rows as fit, so a replay re-splitting hundreds of
# transactions still writes them in one statement.
SQLITE_MAX_PARAMETERS = 32_000


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
    pk = f"{table}.{quote(meta.pk.column)}"
    aliases = [f"v{i}" for i in range(len(columns))]
    values = [
        [field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns]
        for obj in objs
    ]
    if connection.vendor == "postgresql":
        # One array per column, each cast to its column's type (an array of only NULLs
        # would otherwise be text).
        types = [f"{field.cast_db_type(connection)}[]" for field in [meta.pk, *columns]]  # type: ignore[attr-defined]
        arrays = ", ".join(f"%s::{t}" for t in types)
        assignments = ", ".join(
            f"{quote(str(field.column))} = v.{alias}"
            for field, alias in zip(columns, aliases, strict=True)
        )
        with connection.cursor() as cursor:
            cursor.execute(
                f"UPDATE {table} SET {assignments} "  # noqa: S608
                f"FROM unnest({arrays}) AS v(pk, {', '.join(aliases)}) WHERE {pk} = v.pk",
                [[obj.pk for obj in objs], *(list(col) for col in zip(*values, strict=True))],
            )
        return
    assignments = ", ".join(
        f"{quote(str(field.column))} = v.{alias}"
        for field, alias in zip(columns, aliases, strict=True)
    )
    row = "(" + ", ".join(["%s"] * (len(columns) + 1)) + ")"
    rows = max(1, SQLITE_MAX_PARAMETERS // (len(columns) + 1))
    with connection.cursor() as cursor:
        for start in range(0, len(objs), rows):
            chunk = range(start, min(start + rows, len(objs)))
            cursor.execute(
                f"WITH v(pk, {', '.join(aliases)}) AS (VALUES {', '.join([row] * len(chunk))}) "  # noqa: S608
                f"UPDATE {table} SET {assignments} FROM v WHERE {pk} = v.pk",
                [p for i in chunk for p in (objs[i].pk, *values[i])],
            )
