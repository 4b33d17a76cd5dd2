"""Working days and holidays (DESIGN.md, "Offices, loan officers, holidays and origination").

The institution's weekly days off and dated holidays. The schedule engine moves a due date
that falls on one by the loan's `due_date_rule` (`lending.schedule.WorkingCalendar`); a holiday
entered later moves no stored schedule until an Admin reschedules the affected loans
(`lending.services.calendar.loans_reschedule`). There are no offices yet, so the calendar is
the whole institution's. Written only by the services of `lending.services.calendar`, which
refuse a calendar that leaves no working day.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from lending.schedule import WEEKDAY_NAMES

WEEKDAY_CHOICES = list(enumerate(WEEKDAY_NAMES))


class NonWorkingWeekday(models.Model):
    """A day of the week nobody works (0 = Monday ... 6 = Sunday), every week."""

    weekday = models.PositiveSmallIntegerField(choices=WEEKDAY_CHOICES, unique=True)

    class Meta:
        ordering = ["weekday"]

    def __str__(self) -> str:
        return WEEKDAY_NAMES[self.weekday]


class Holiday(models.Model):
    """A dated day off (a public holiday, a bank closure)."""

    date = models.DateField(unique=True)
    name = models.CharField(max_length=100)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date"]
        permissions = [("manage_calendar", "Can manage working days and holidays")]

    def __str__(self) -> str:
        return f"{self.date:%d %b %Y} {self.name}"
