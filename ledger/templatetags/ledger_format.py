"""Amounts on the ledger pages. Sums read from the database can carry more places than the
cents they hold (SQLite sums decimals as numbers of its own), so each is shown to the cent:

`{{ amount|cents }}`: 1234.5000000 -> "1,234.50".
`{{ balance|drcr }}`: a balance kept debit-positive, shown the way an accountant reads it:
1234.50 -> "1,234.50 Dr", -80 -> "80.00 Cr", zero -> "0.00".
"""

from decimal import Decimal
from typing import Any

from django import template

from lending.templatetags.numbers import thousands

register = template.Library()
CENT = Decimal("0.01")


def to_cents(value: Decimal) -> Decimal:
    return value.quantize(CENT)


@register.filter(is_safe=True)
def cents(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        return thousands(value)
    return thousands(to_cents(value))


@register.filter(is_safe=True)
def drcr(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        return value
    if not value:
        return "0.00"
    return f"{thousands(to_cents(abs(value)))} {'Dr' if value > 0 else 'Cr'}"
