"""`{{ borrower.phone|phone }}`: a stored E.164 number grouped for reading,
"+254712345678" as "+254 712 345 678" (`lending.phones.display_phone`)."""

from typing import Any

from django import template

from lending.phones import display_phone

register = template.Library()


@register.filter
def phone(value: Any) -> str:
    return display_phone(str(value or ""))
