"""The reports' filter: a date range, read from the query string."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.utils import timezone

from karo.inputs import DayFirstDateField, InputRulesMixin

MAX_RANGE_DAYS = 366


class DateRangeForm(InputRulesMixin, forms.Form):
    """From / to, both inclusive. Defaults (when the page is opened without a filter): the
    1st of this month to today. `required=False` makes both optional (aging: all loans)."""

    date_from = DayFirstDateField(label="From", error_messages={"required": "Enter a start date."})
    date_to = DayFirstDateField(label="To", error_messages={"required": "Enter an end date."})

    def __init__(
        self,
        data: Any = None,
        *,
        required: bool = True,
        max_days: int | None = MAX_RANGE_DAYS,
        labels: tuple[str, str] | None = None,
    ) -> None:
        self.max_days = max_days
        today = timezone.localdate()
        initial = {"date_from": today.replace(day=1), "date_to": today} if required else {}
        if data is not None and not any(data.get(k) for k in ("date_from", "date_to")):
            data = None  # no filter given: show the default range
        super().__init__(data, initial=initial)
        for name in ("date_from", "date_to"):
            self.fields[name].required = required
        if labels:
            self.fields["date_from"].label, self.fields["date_to"].label = labels

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        latest = timezone.localdate().replace(year=timezone.localdate().year + 1, day=1)
        for name in ("date_from", "date_to"):
            value = cleaned.get(name)
            if value is not None and value > latest:
                self.add_error(name, f"Choose a date before {latest:%d %b %Y}.")
                cleaned.pop(name, None)
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end:
            if start > end:
                self.add_error("date_to", "The end date is before the start date.")
            elif self.max_days and (end - start).days + 1 > self.max_days:
                self.add_error("date_to", f"Choose a range of at most {self.max_days} days.")
        return cleaned

    def range(self) -> tuple[date | None, date | None]:
        """The chosen range (call after is_valid), or the defaults when nothing was given."""
        if self.is_bound:
            return self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        return self.initial.get("date_from"), self.initial.get("date_to")
