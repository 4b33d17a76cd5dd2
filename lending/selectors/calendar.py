"""Reads of the working-day calendar."""

from __future__ import annotations

from lending.models import Holiday, NonWorkingWeekday
from lending.schedule import WorkingCalendar


def working_calendar() -> WorkingCalendar:
    """The institution's days off as the schedule engine takes them (two queries)."""
    return WorkingCalendar(
        frozenset(NonWorkingWeekday.objects.values_list("weekday", flat=True)),
        frozenset(Holiday.objects.values_list("date", flat=True)),
    )
