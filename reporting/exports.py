"""CSV exports that open cleanly in a spreadsheet, each one audited.

UTF-8 with a byte-order mark (so Excel reads accented names right), CRLF line ends, a header
row in words, values in words (status and method labels, "Yes"/"No", never stored codes),
amounts and rates as plain decimals with a dot, at least two decimal places and no thousands
separator ("18.00", not "18.0000" or "18"), dates as YYYY-MM-DD, times in TIME_ZONE as
"YYYY-MM-DD HH:MM".
Text cells that a spreadsheet would run as a formula (=, +, -, @ first, after any leading
whitespace) get a leading apostrophe (`karo.spreadsheet.formula_safe`); numbers are written as
they are.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from karo.spreadsheet import formula_safe
from lending.audit import audit_record
from lending.models import AuditLog

CENT = Decimal("0.01")


def decimal_text(value: Decimal) -> str:
    """Two decimal places, more only when the value has them: 18.0000 -> "18.00", 21400 ->
    "21400.00", 242.730000000000 (a sum read back from SQLite) -> "242.73", 18.125 ->
    "18.125". Nothing is rounded away."""
    cents = value.quantize(CENT)
    return format(cents if cents == value else value.normalize(), "f")


def local_time(moment: datetime | None) -> str:
    """A moment as the institution's clock shows it, to the minute."""
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else ""


def cell(value: Any) -> str | int:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "Yes" if value else "No"
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return local_time(value)
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
