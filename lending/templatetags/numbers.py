"""`{{ amount|thousands }}`: 1234567.50 -> "1,234,567.50".

The same text as humanize's `intcomma` for the integers and decimals our pages show, at a
fraction of its cost: `intcomma` runs the locale machinery on every call, which was most of
the time of a 480-installment schedule (eight amounts a row). Amounts keep their own places;
anything that is not a number is shown as it is. A sum or subquery that SQLite reads back
with trailing zeros ("6230.16000000000") is shown in cents; precision that is there is kept.
"""

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()
CENT = Decimal("0.01")


@register.filter(is_safe=True)
def thousands(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return value
    if isinstance(value, Decimal) and value.as_tuple().exponent < -2:  # type: ignore[operator]
        cents = value.quantize(CENT)
        if cents == value:
            value = cents
    return f"{value:,}"
