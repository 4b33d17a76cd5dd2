"""Reads of the working-day calendar: the weekly days off (the whole institution's) and the
holidays, of all offices or of one office (an office's holiday is also one of every office
under it: a region's holiday closes its branches)."""

from __future__ import annotations

from datetime import date

from django.db.models import Exists, OuterRef, Q

from accounts.models import Office
from lending.models import Holiday, NonWorkingWeekday
from lending.schedule import WorkingCalendar


def working_calendar(office_id: int | None = None) -> WorkingCalendar:
    """The days off of the office `office_id`: the weekly days off, the holidays of all
    offices and those of the office or of an office above it. Without an office, only the
    holidays of all offices. Two queries."""
    holidays = Holiday.objects.filter(office__isnull=True)
    if office_id is not None:
        above = Office.objects.filter(pk=office_id, path__startswith=OuterRef("office__path"))
        holidays = Holiday.objects.filter(Q(office__isnull=True) | Exists(above))
    return WorkingCalendar(
        frozenset(NonWorkingWeekday.objects.values_list("weekday", flat=True)),
        frozenset(holidays.values_list("date", flat=True)),
    )


# A holiday as the checks and the rescheduling read it: its date and its office's path
# (None: all offices).
HolidayRow = tuple[date, str | None]


def holiday_rows() -> list[HolidayRow]:
    return list(Holiday.objects.values_list("date", "office__path"))


def calendar_of(
    weekdays: frozenset[int], rows: list[HolidayRow], path: str | None
) -> WorkingCalendar:
    """The calendar of the office at `path` (None: the holidays of all offices only)."""
    return WorkingCalendar(
        weekdays,
        frozenset(
            day for day, of in rows if of is None or (path is not None and path.startswith(of))
        ),
    )
