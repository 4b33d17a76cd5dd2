"""Text cells a spreadsheet must show as text, never run as a formula (CSV injection).

Excel and LibreOffice skip leading spaces and tabs before deciding a cell is a formula, so
" =HYPERLINK(...)" runs as well as "=HYPERLINK(...)": a cell whose first character after any
whitespace is = + - @ (or that starts with a tab, carriage return or line feed) gets a leading
apostrophe. Numbers are not text: an export writes its amounts (negative ones included) as
they are, without passing them through here.
"""

from __future__ import annotations

FORMULA_STARTS = ("=", "+", "-", "@")
CONTROL_STARTS = ("\t", "\r", "\n")


def formula_safe(text: str) -> str:
    if text.startswith(CONTROL_STARTS) or text.lstrip().startswith(FORMULA_STARTS):
        return "'" + text
    return text
