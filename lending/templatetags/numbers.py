"""`{{ amount|thousands }}`: 1234567.50 -> "1,234,567.50".

The same text as humanize's `intcomma` for the integers and decimals our pages show, at a
fraction of its cost: `intcomma` runs the locale machinery on every call, which was most of
the time of a 480-installment schedule (eight amounts a row). Amounts keep their own places;
anything that is not a number is shown as it is.
"""

from decimal import Decimal
from typing import Any

from django import template

register = template.Library()


@register.filter(is_safe=True)
def thousands(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | Decimal):
        return value
    return f"{value:,}"
