"""Reads of the working-day calendar: the weekly days off and the holidays, each of all
offices or of one office (an office's day off is also one of every office under it: a region's
holiday closes its branches, and a branch's Saturday off is added to the Sunday of all
offices)."""

from __future__ import annotations

from datetime import date

from django.db.models import Exists, OuterRef, Q
from django.db.models.expressions import Combinable

from accounts.models import Office
from lending.models import Holiday, NonWorkingWeekday
from lending.schedule import WorkingCalendar


def working_calendar(office_id: int | None = None) -> WorkingCalendar:
    """The days off of the office `office_id`: the weekly days off and the holidays of all
    offices and those of the office or of an office above it. Without an office, only those of
    all offices. Two queries."""
    everywhere: Q | Combinable = Q(office__isnull=True)
    if office_id is not None:
        above = Office.objects.filter(pk=office_id, path__startswith=OuterRef("office__path"))
        everywhere = Q(office__isnull=True) | Exists(above)
    return WorkingCalendar(
        frozenset(NonWorkingWeekday.objects.filter(everywhere).values_list("weekday", flat=True)),
        frozenset(Holiday.objects.filter(everywhere).values_list("date", flat=True)),
    )


# A holiday as the checks and the rescheduling read it: its date and its office's path
# (None: all offices).
HolidayRow = tuple[date, str | None]
# A weekly day off likewise: the weekday (0 = Monday) and its office's path (None: all offices).
WeekdayRow = tuple[int, str | None]


def holiday_rows() -> list[HolidayRow]:
    return list(Holiday.objects.values_list("date", "office__path"))


def weekday_rows() -> list[WeekdayRow]:
    return list(NonWorkingWeekday.objects.values_list("weekday", "office__path"))


def _of(of: str | None, path: str | None) -> bool:
    """Whether a day off of the office at `of` (None: all offices) is one of the office at
    `path` (None: the calendar of all offices)."""
    return of is None or (path is not None and path.startswith(of))


def calendar_of(
    weekdays: list[WeekdayRow], rows: list[HolidayRow], path: str | None
) -> WorkingCalendar:
    """The calendar of the office at `path` (None: the days off of all offices only)."""
    return WorkingCalendar(
        frozenset(day for day, of in weekdays if _of(of, path)),
        frozenset(day for day, of in rows if _of(of, path)),
    )
