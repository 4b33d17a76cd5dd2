"""`{{ balance|drcr }}`: a balance kept debit-positive, shown the way an accountant reads it:
1234.50 -> "1,234.50 Dr", -80 -> "80.00 Cr", zero -> "0.00"."""

from decimal import Decimal
from typing import Any

from django import template

from lending.templatetags.numbers import thousands

register = template.Library()


@register.filter
def drcr(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, Decimal):
        return value
    if not value:
        return "0.00"
    return f"{thousands(abs(value))} {'Dr' if value > 0 else 'Cr'}"
