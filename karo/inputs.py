"""The input rules the page forms and the API share, so a value one of them refuses the other
refuses too (README, "Security": input rules).

- Text: no control characters anywhere (C0 but tab, line feed and carriage return; DEL; C1;
  lone surrogates): PostgreSQL cannot store a NUL, and the others are never typed by a person.
  A single-line input also refuses tabs and line breaks.
- Dates: typed day first (`DayFirstDateField`: dd/mm/yyyy, ISO accepted); nothing before
  EARLIEST_DATE anywhere; a date of birth from EARLIEST_BIRTH_DATE; a
  date money moves or is booked on (disbursement, first due date, payment, payoff quote,
  journal entry, books closing) from EARLIEST_VALUE_DATE to LATEST_YEARS_AHEAD years from today.
- Amounts: `parse_decimal`, plain ASCII digits with an optional point (and a minus, so a form
  can say "cannot be negative"); no exponent, plus sign, underscore, other scripts' digits,
  NaN or Infinity.
"""

from __future__ import annotations

import re
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from karo.formats.en_GB.formats import DATE_INPUT_FORMATS

# --- text ------------------------------------------------------------------------------------

CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")
LINE_BREAKS = re.compile(r"[\t\n\r]")
CONTROL_MESSAGE = "Remove the control characters (such as NUL) from the text."
ONE_LINE_MESSAGE = "Enter this on one line, without tabs or line breaks."


def text_problem(value: str, *, multiline: bool = False) -> str | None:
    """Why the text cannot be taken, or None when it can."""
    if CONTROL_CHARACTERS.search(value):
        return CONTROL_MESSAGE
    if not multiline and LINE_BREAKS.search(value):
        return ONE_LINE_MESSAGE
    return None


class TextValidator:
    """The text rule as a Django validator (a form field's `validators`)."""

    def __init__(self, *, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, value: Any) -> None:
        problem = text_problem(str(value), multiline=self.multiline)
        if problem:
            raise ValidationError(problem, code="control_characters")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TextValidator) and other.multiline == self.multiline

    def __hash__(self) -> int:
        return hash(self.multiline)


# --- dates -----------------------------------------------------------------------------------

EARLIEST_DATE = date(1900, 1, 1)
EARLIEST_BIRTH_DATE = EARLIEST_DATE
EARLIEST_VALUE_DATE = date(2000, 1, 1)
LATEST_YEARS_AHEAD = 5


def latest_value_date(today: date | None = None) -> date:
    today = today or timezone.localdate()
    # 29 February five years on does not exist: the 28th.
    return today.replace(year=today.year + LATEST_YEARS_AHEAD, day=min(today.day, 28))


def date_problem(value: date, *, value_date: bool = False) -> str | None:
    """Why the date cannot be taken, or None. `value_date`: a date money moves or is booked on."""
    earliest = EARLIEST_VALUE_DATE if value_date else EARLIEST_DATE
    if value < earliest:
        return f"Enter a date on or after {earliest:%d %b %Y}."
    if value_date and value > (latest := latest_value_date()):
        return f"Enter a date on or before {latest:%d %b %Y}."
    return None


DATE_PLACEHOLDER = "dd/mm/yyyy"
INVALID_DATE = "Enter the date as dd/mm/yyyy, for example 31/01/2027."


class DayFirstDateInput(forms.DateInput):
    """A plain text input showing its date as dd/mm/yyyy. Not `type="date"`: a browser's
    date input is typed in the browser's locale (mm/dd/yyyy in a US-English browser) while
    every page shows dates day first, so staff typed 05/12 for 12 May."""

    input_type = "text"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        base = {"placeholder": DATE_PLACEHOLDER, "autocomplete": "off", "class": "date-input"}
        super().__init__(attrs={**base, **(attrs or {})}, format=DATE_INPUT_FORMATS[0])


class DayFirstDateField(forms.DateField):
    """Every date staff type: day first (DATE_INPUT_FORMATS, ISO accepted too), with a
    message that says how to write it. Hidden date fields use it too, so a date carried
    through a page reads back the same way."""

    widget = DayFirstDateInput
    input_formats = DATE_INPUT_FORMATS
    default_error_messages = {"invalid": INVALID_DATE}


def check_value_date(value: date) -> None:
    """The value-date rule as a Django validator: `forms.DateField(validators=[...])`."""
    problem = date_problem(value, value_date=True)
    if problem:
        raise ValidationError(problem, code="date_out_of_range")


def _check_any_date(value: date) -> None:
    problem = date_problem(value)
    if problem:
        raise ValidationError(problem, code="date_out_of_range")


# --- amounts ---------------------------------------------------------------------------------

PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")


def parse_decimal(text: str) -> Decimal:
    """A number as typed in a form or sent as a JSON string: ASCII digits with an optional
    decimal point, surrounding spaces ignored; a leading minus is read (the caller says
    "cannot be negative"). Anything else (`1E2`, `+10`, `1_000`, Arabic-Indic digits, `NaN`)
    is a ValueError. Callers check the number of digits and decimals themselves."""
    text = text.strip()
    if not PLAIN_DECIMAL.fullmatch(text):
        raise ValueError("Enter a number with digits and at most one decimal point.")
    return Decimal(text)


class PlainDecimalField(forms.DecimalField):
    """A DecimalField that reads its input with `parse_decimal` (Django's own would take an
    exponent, a plus sign and any script's digits); the digit limits are still its own."""

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        if value in self.empty_values:
            return None
        if isinstance(value, Decimal):
            return super().to_python(value)
        try:
            return parse_decimal(str(value))
        except ValueError:
            raise ValidationError(self.error_messages["invalid"], code="invalid") from None


# --- forms -----------------------------------------------------------------------------------


class InputRulesMixin:
    """Put first in a form's bases: every text field takes the text rule (multi-line when its
    widget is a textarea), every date field refuses dates before EARLIEST_DATE. Its amounts
    are PlainDecimalFields and its dates DayFirstDateFields (tests/test_input_hardening.py
    checks every form)."""

    fields: dict[str, forms.Field]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            if isinstance(field, forms.CharField):
                multiline = isinstance(field.widget, forms.Textarea)
                field.validators.append(TextValidator(multiline=multiline))
            elif isinstance(field, forms.DateField):
                field.validators.append(_check_any_date)
