"""Reading a payment file (a bank statement, a mobile-money export): CSV or XLSX in, a header
and rows of text out, and the parsers of what its cells hold (amounts, dates, phone numbers).

Plain Python (openpyxl, phonenumbers), no Django: each problem is a `FileProblem` (the whole
file) or a `CellProblem` (one cell, named in the row's verdict).

Decisions (where a statement can be read two ways):
- Text is read as UTF-8 (a byte-order mark is dropped); a file that is not UTF-8 is read as
  Windows-1252, the encoding Excel's plain "CSV" uses on Windows, and the import says so.
- The delimiter is sniffed among `,` `;` tab and `|`.
- Amounts: a currency code or sign and spaces are ignored. With both `,` and `.` the last one
  is the decimal mark ("1.234,56", "1,234.56"); with one of them only, it is a decimal mark
  when one or two digits follow it once ("1234,5", "12,50"), else a thousands separator
  ("1,234", "1.234.567"). Negative amounts and more than two decimals are refused.
- Dates: ISO (2026-03-01), day first with `/`, `-` or `.` (01/03/2026, 1.3.26), and with a
  month name (1 Mar 2026, 01-Mar-2026, March 1, 2026); a spreadsheet's date cell as it is.
  Month first (03/01/2026) is not read: statements in the institution's markets write the day
  first, and a date read the wrong way round would post a payment to another month.
- XLSX: the first sheet; a formula in a mapped cell is refused (the file holds its text, not a
  value we could trust to be current): export the values, or copy and paste them as values.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

import phonenumbers

MAX_ROWS = 20_000
MAX_COLUMNS = 50
MAX_CELL = 200


class FileProblem(Exception):
    """The file as a whole cannot be read (nothing is imported)."""


class CellProblem(ValueError):
    """One cell cannot be read: the row's verdict says why."""


@dataclass
class Table:
    header: list[str]
    rows: list[list[str]]  # each as long as the header; formulas kept as their text ("=B2*2")
    encoding: str = "utf-8"
    notes: list[str] = field(default_factory=list)


def _clean(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return (
            value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
        )
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float):
        # A spreadsheet number is unambiguous: written with a decimal point and two decimals
        # ("1234.50"); one with more than cents keeps four, which the amount parser refuses.
        cents = round(value, 2)
        return f"{value:.2f}" if abs(value - cents) < 1e-9 else f"{value:.4f}"
    text = str(value)
    if hasattr(value, "text") and isinstance(value.text, str):  # openpyxl ArrayFormula
        text = value.text
    return text.replace("\x00", "").strip()[:MAX_CELL]


def _decode(content: bytes) -> tuple[str, str]:
    try:
        return content.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError:
        pass
    try:
        return content.decode("cp1252"), "windows-1252"
    except UnicodeDecodeError:
        raise FileProblem(
            "The file is neither UTF-8 nor Windows-1252 text: save it as CSV (UTF-8) or XLSX."
        ) from None


def _read_csv(content: bytes) -> Table:
    text, encoding = _decode(content)
    if "\x00" in text:
        raise FileProblem("The file is not text (it holds NUL bytes): upload a CSV or an XLSX.")
    try:
        dialect: Any = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
    except csv.Error:
        dialect = csv.excel
    reader = csv.reader(io.StringIO(text, newline=""), dialect)
    rows = [[_clean(c) for c in row] for row in reader]
    table = _table(rows)
    table.encoding = encoding
    if encoding != "utf-8":
        table.notes.append("The file is not UTF-8: it was read as Windows-1252.")
    return table


def _read_xlsx(content: bytes) -> Table:
    from openpyxl import load_workbook

    try:
        book = load_workbook(io.BytesIO(content), read_only=True, data_only=False)
    except Exception as exc:  # openpyxl raises many kinds for a damaged file
        raise FileProblem(f"The XLSX file cannot be opened ({type(exc).__name__}).") from None
    try:
        sheet = book.worksheets[0]
        rows = []
        for row in sheet.iter_rows(values_only=True):
            rows.append([_clean(c) for c in row[:MAX_COLUMNS]])
            if len(rows) > MAX_ROWS + 1:
                break
    finally:
        book.close()
    return _table(rows)


def _table(rows: list[list[str]]) -> Table:
    rows = [row for row in rows if any(cell for cell in row)]
    if not rows:
        raise FileProblem("The file has no rows.")
    header = rows[0][:MAX_COLUMNS]
    if len(rows) - 1 > MAX_ROWS:
        raise FileProblem(f"The file has more than {MAX_ROWS:,} rows: split it into parts.")
    if len(rows) < 2:
        raise FileProblem("The file has a header row but no payments.")
    names = [h or f"Column {i + 1}" for i, h in enumerate(header)]
    width = len(names)
    body = [(row + [""] * width)[:width] for row in rows[1:]]
    return Table(header=names, rows=body)


def read_table(name: str, content: bytes) -> Table:
    """The file's first row as the header, the others as rows (blank rows dropped)."""
    lower = name.lower()
    if lower.endswith(".xlsx") or content.startswith(b"PK\x03\x04"):
        return _read_xlsx(content)
    if lower.endswith((".xls", ".ods")):
        raise FileProblem("Only CSV and XLSX files are read: save the file as one of those.")
    return _read_csv(content)


# --- cells -------------------------------------------------------------------------------------

_CURRENCY = re.compile(r"^[A-Z]{3}\s*|\s*[A-Z]{3}$|[$€£₦₵]|KSh|Ksh|\s|\u00a0|\u202f|'")


def is_formula(text: str) -> bool:
    return text.startswith("=")


def parse_amount(text: str) -> Decimal:
    """See the module docstring."""
    if is_formula(text):
        raise CellProblem(f"is a formula ({text[:40]}), not a value")
    raw = _CURRENCY.sub("", text.strip())
    if not raw:
        raise CellProblem("is empty")
    if raw.startswith("-") or (raw.startswith("(") and raw.endswith(")")):
        raise CellProblem(f"is negative ({text})")
    if not re.fullmatch(r"[0-9.,]+", raw):
        raise CellProblem(f"is not an amount ({text})")
    last_comma, last_dot = raw.rfind(","), raw.rfind(".")
    if last_comma >= 0 and last_dot >= 0:
        decimal_mark = "," if last_comma > last_dot else "."
    elif last_comma >= 0 or last_dot >= 0:
        mark = "," if last_comma >= 0 else "."
        after = len(raw) - raw.rfind(mark) - 1
        if raw.count(mark) == 1 and after > 3:
            raise CellProblem(f"has more than two decimals ({text})")
        decimal_mark = mark if raw.count(mark) == 1 and after in (1, 2) else ""
    else:
        decimal_mark = ""
    thousands = {",", "."} - {decimal_mark}
    if decimal_mark and raw.count(decimal_mark) > 1:
        raise CellProblem(f"is not an amount ({text})")
    whole, _, cents = raw.partition(decimal_mark) if decimal_mark else (raw, "", "")
    for sep in thousands:
        if sep in whole and not re.fullmatch(rf"[0-9]{{1,3}}(\{sep}[0-9]{{3}})+", whole):
            raise CellProblem(f"has misplaced separators ({text})")
        whole = whole.replace(sep, "")
    if len(cents) > 2:
        raise CellProblem(f"has more than two decimals ({text})")
    try:
        value = Decimal(f"{whole or '0'}.{cents or '0'}")
    except InvalidOperation:
        raise CellProblem(f"is not an amount ({text})") from None
    if value <= 0:
        raise CellProblem("is zero")
    if value >= Decimal("1e12"):
        raise CellProblem(f"is too large ({text})")
    return value.quantize(Decimal("0.01"))


_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("jan", "january"),
            ("feb", "february"),
            ("mar", "march"),
            ("apr", "april"),
            ("may",),
            ("jun", "june"),
            ("jul", "july"),
            ("aug", "august"),
            ("sep", "sept", "september"),
            ("oct", "october"),
            ("nov", "november"),
            ("dec", "december"),
        ],
        start=1,
    )
    for name in names
}


def _year(text: str) -> int:
    year = int(text)
    return year + 2000 if len(text) == 2 else year


def parse_date(text: str) -> date:
    """See the module docstring. A time after the date (a statement's booking time) is
    ignored."""
    if is_formula(text):
        raise CellProblem(f"is a formula ({text[:40]}), not a value")
    value = text.strip()
    if not value:
        raise CellProblem("is empty")
    try:
        if m := re.fullmatch(r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ][0-9:.]+)?", value):
            return date(int(m[1]), int(m[2]), int(m[3]))
        if m := re.fullmatch(r"(\d{1,2})[/.-](\d{1,2})[/.-](\d{4}|\d{2})(?: [0-9:]+)?", value):
            return date(_year(m[3]), int(m[2]), int(m[1]))
        if m := re.fullmatch(r"(\d{1,2})[ -]([A-Za-z]{3,9})[-, ]+(\d{4}|\d{2})", value):
            month = _MONTHS.get(m[2].lower())
            if month:
                return date(_year(m[3]), month, int(m[1]))
        if m := re.fullmatch(r"([A-Za-z]{3,9}) (\d{1,2}),? (\d{4})", value):
            month = _MONTHS.get(m[1].lower())
            if month:
                return date(int(m[3]), month, int(m[2]))
    except ValueError:
        raise CellProblem(f"is not a date in the calendar ({text})") from None
    raise CellProblem(f"is not a date we read ({text}): use 2026-03-01, 01/03/2026 or 1 Mar 2026")


def normalise_phone(text: str, region: str | None) -> str | None:
    """The number in E.164 (+254712345678), or None when it is not a possible number. A
    number without a country code is read in `region` (e.g. "KE")."""
    if not text or not text.strip():
        return None
    try:
        number = phonenumbers.parse(text, region or None)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(number):
        return None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_tail(text: str) -> str:
    """The last nine digits: a cheap key to find the stored numbers worth normalising."""
    return re.sub(r"\D", "", text)[-9:]
