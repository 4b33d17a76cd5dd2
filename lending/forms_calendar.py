"""Forms of the Working days page: the weekdays off, a holiday to add, a rescheduling."""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import Office
from karo.inputs import DayFirstDateField, InputRulesMixin
from lending.models_calendar import WEEKDAY_CHOICES
from lending.services.calendar import HOLIDAY_NAME_MAX


class WeekdaysOffForm(InputRulesMixin, forms.Form):
    weekdays = forms.TypedMultipleChoiceField(
        label="Weekly days off",
        choices=WEEKDAY_CHOICES,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="Nobody works on these days, every week.",
        error_messages={"invalid_choice": "Choose days of the week from Monday to Sunday."},
    )
    office = forms.ModelChoiceField(
        queryset=Office.objects.all(),
        required=False,
        empty_label="All offices",
        help_text="An office's weekly days off are added to those of all offices, and close "
        "the offices under it too.",
        error_messages={"invalid_choice": "Choose one of your offices."},
    )

    def __init__(self, *args: Any, offices: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if offices is not None:
            field = self.fields["office"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = offices


class HolidayForm(InputRulesMixin, forms.Form):
    first = DayFirstDateField(
        label="Date",
        error_messages={
            "required": "Enter the holiday's date.",
            "invalid": "Enter the date as dd/mm/yyyy, for example 25/12/2027.",
        },
    )
    last = DayFirstDateField(
        label="Until (for several days)",
        required=False,
        help_text="Leave empty for a one-day holiday.",
        error_messages={"invalid": "Enter the date as dd/mm/yyyy, for example 27/12/2027."},
    )
    name = forms.CharField(
        max_length=HOLIDAY_NAME_MAX,
        error_messages={"required": "Give the holiday a name, such as New Year's Day."},
    )
    office = forms.ModelChoiceField(
        queryset=Office.objects.all(),
        required=False,
        empty_label="All offices",
        help_text="An office's holiday closes the offices under it too.",
        error_messages={"invalid_choice": "Choose one of your offices."},
    )

    def __init__(self, *args: Any, offices: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if offices is not None:
            field = self.fields["office"]
            assert isinstance(field, forms.ModelChoiceField)
            field.queryset = offices


class RescheduleForm(InputRulesMixin, forms.Form):
    # The preview's digest of the moves: the apply refuses when they changed since.
    preview = forms.CharField(max_length=64, widget=forms.HiddenInput)
