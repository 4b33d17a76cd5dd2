"""Forms of the Working days page: the weekdays off, a holiday to add, a rescheduling."""

from __future__ import annotations

from django import forms

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


class RescheduleForm(InputRulesMixin, forms.Form):
    # The preview's digest of the moves: the apply refuses when they changed since.
    preview = forms.CharField(max_length=64, widget=forms.HiddenInput)
