"""The ledger pages' filters (read from the query string) and the books-closing form.

A date the form cannot read, or one past next year, is a form error next to its field, never a
500. The account ledger's range takes the reports' own form (`reporting.forms.DateRangeForm`),
with no cap on its length: a long range is cut on the page and complete in the CSV.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils import timezone

from reporting.forms import DateInput


def _latest() -> date:
    """The latest date a filter accepts: the 1st of this month next year (like the reports)."""
    today = timezone.localdate()
    return today.replace(year=today.year + 1, day=1)


class _OneDateForm(forms.Form):
    """One date from the query string, today when none is given."""

    field_name = "as_of"

    def __init__(self, data: Any = None) -> None:
        if data is not None and not data.get(self.field_name):
            data = None  # no filter given: today
        super().__init__(data, initial={self.field_name: timezone.localdate()})

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        value = cleaned.get(self.field_name)
        if value is not None and value > _latest():
            self.add_error(self.field_name, f"Choose a date before {_latest():%d %b %Y}.")
        return cleaned

    def day(self) -> date:
        """The chosen date (call after is_valid), or today when nothing was given."""
        if self.is_bound:
            return self.cleaned_data[self.field_name]
        return self.initial[self.field_name]


class AsOfForm(_OneDateForm):
    """The trial balance's date: everything dated on or before it."""

    as_of = forms.DateField(
        label="As of", widget=DateInput(), error_messages={"invalid": "Enter a valid date."}
    )


class JournalDayForm(_OneDateForm):
    """The day whose journal is shown."""

    field_name = "date"
    date = forms.DateField(
        label="Date", widget=DateInput(), error_messages={"invalid": "Enter a valid date."}
    )


class BooksCloseForm(forms.Form):
    """Close the books through a date; the service decides whether that date may be closed
    (before today, after the current closing) and its errors come back next to the field."""

    through = forms.DateField(
        label="Close the books through",
        widget=DateInput(),
        help_text="Nothing can be booked, reversed or backdated on or before this date afterwards.",
        error_messages={
            "required": "Enter the last day to close.",
            "invalid": "Enter a valid date.",
        },
    )
