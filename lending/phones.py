"""Borrowers' phone numbers: stored in E.164 (+254712345678), typed and searched in any form.

A number typed without its country code is read as one of `KARO_PHONE_REGION` (default KE).
"""

from __future__ import annotations

import re
from functools import lru_cache

import phonenumbers
from django.conf import settings
from django.core.exceptions import ValidationError

INVALID_PHONE = (
    "Enter a valid phone number, for example +254 712 345 678 or, in the country, 0712 345 678."
)
_PHONE_LIKE = re.compile(r"^[+\d][\d\s().-]*$")
# The fewest digits a phone search looks for inside stored numbers (fewer match too much).
SEARCH_MIN_DIGITS = 4


def normalise_phone(text: str, region: str | None = None) -> str:
    """`text` as E.164, or ValidationError when it is not a valid number."""
    text = (text or "").strip()
    if not _PHONE_LIKE.match(text):
        raise ValidationError(INVALID_PHONE)
    try:
        number = phonenumbers.parse(text, region or settings.KARO_PHONE_REGION)
    except phonenumbers.NumberParseException as exc:
        raise ValidationError(INVALID_PHONE) from exc
    if not phonenumbers.is_valid_number(number):
        raise ValidationError(INVALID_PHONE)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def phone_search_digits(query: str, region: str | None = None) -> str | None:
    """The digits to look for in stored (E.164) numbers when `query` looks like a phone number,
    whole or in part, typed any way: "+254 776 780 218", "+254776780218", "0776780218" and
    "776780218" all give "776780218"; None when it does not look like one."""
    query = query.strip()
    digits = re.sub(r"\D", "", query)
    if not _PHONE_LIKE.match(query) or len(digits) < SEARCH_MIN_DIGITS:
        return None
    try:
        number = phonenumbers.parse(query, region or settings.KARO_PHONE_REGION)
    except phonenumbers.NumberParseException:
        number = None
    if number is not None and phonenumbers.is_valid_number(number):
        return phonenumbers.national_significant_number(number)
    if query.startswith("+"):
        return digits  # a part of an international number, country code first
    return digits[1:] if digits.startswith("0") else digits  # without the trunk prefix


@lru_cache(maxsize=4096)
def display_phone(stored: str) -> str:
    """A stored (E.164) number as people read it, grouped: "+254712345678" gives
    "+254 712 345 678", as the form's help text writes it. Anything that is not a valid number
    (an old row from before the check) is shown as stored."""
    if not stored or not stored.startswith("+"):
        return stored or ""
    try:
        number = phonenumbers.parse(stored, None)
    except phonenumbers.NumberParseException:
        return stored
    if not phonenumbers.is_valid_number(number):
        return stored
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
