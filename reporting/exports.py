"""CSV exports that open cleanly in a spreadsheet, each one audited.

UTF-8 with a byte-order mark (so Excel reads accented names right), CRLF line ends, a header
row, amounts as plain decimals with a dot and no thousands separator, dates as YYYY-MM-DD.
Text cells that a spreadsheet would run as a formula (=, +, -, @ first, after any leading
whitespace) get a leading apostrophe (`karo.spreadsheet.formula_safe`); numbers are written as
they are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse

from karo.spreadsheet import formula_safe
from lending.audit import audit_record
from lending.models import AuditLog


def cell(value: Any) -> str | int:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, int):
        return value
    if isinstance(value, date):
        return value.isoformat()
    return formula_safe(str(value))


def csv_response(
    *,
    request: HttpRequest,
    report: str,
    filename: str,
    header: Sequence[str],
    rows: Iterable[Sequence[Any]],
    params: dict[str, Any] | None = None,
) -> HttpResponse:
    """Write the rows as an attachment and record the export (REPORT_EXPORTED)."""
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    response.write("\ufeff")
    writer = csv.writer(response, lineterminator="\r\n")
    writer.writerow(header)
    count = 0
    for row in rows:
        writer.writerow([cell(v) for v in row])
        count += 1
    audit_record(
        action=AuditLog.Action.REPORT_EXPORTED,
        user=request.user,
        details={"report": report, "format": "csv", "params": params or {}, "rows": count},
        request=request,
    )
    return response
