"""Working days and holidays (DESIGN.md, "Offices, loan officers, holidays and origination").

The institution's weekly days off and dated holidays. The schedule engine moves a due date
that falls on one by the loan's `due_date_rule` (`lending.schedule.WorkingCalendar`); a holiday
entered later moves no stored schedule until an Admin reschedules the affected loans
(`lending.services.calendar.loans_reschedule`). A weekly day off and a holiday are each of all
offices, or of one office and every office under it (a region's holiday closes its branches;
an office's weekly days off are added to those of all offices). Written only by the services of
`lending.services.calendar`, which refuse a calendar that leaves no working day.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from lending.schedule import WEEKDAY_NAMES

WEEKDAY_CHOICES = list(enumerate(WEEKDAY_NAMES))


class NonWorkingWeekday(models.Model):
    """A day of the week nobody works (0 = Monday ... 6 = Sunday), every week: in all offices
    (`office` empty) or in one office and the offices under it."""

    weekday = models.PositiveSmallIntegerField(choices=WEEKDAY_CHOICES)
    office = models.ForeignKey(
        "accounts.Office",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: every office.",
    )

    class Meta:
        ordering = ["weekday"]
        constraints = [
            models.UniqueConstraint(
                fields=["weekday", "office"], name="weekday_off_weekday_office_unique"
            ),
            models.UniqueConstraint(
                fields=["weekday"],
                condition=Q(office__isnull=True),
                name="weekday_off_all_offices_unique",
            ),
        ]

    def __str__(self) -> str:
        return WEEKDAY_NAMES[self.weekday]


class Holiday(models.Model):
    """A dated day off (a public holiday, a bank closure), of all offices (`office` empty) or
    of one office and the offices under it."""

    date = models.DateField()
    name = models.CharField(max_length=100)
    office = models.ForeignKey(
        "accounts.Office",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text="Empty: every office.",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date"]
        permissions = [("manage_calendar", "Can manage working days and holidays")]
        constraints = [
            models.UniqueConstraint(fields=["date", "office"], name="holiday_date_office_unique"),
            models.UniqueConstraint(
                fields=["date"],
                condition=Q(office__isnull=True),
                name="holiday_date_all_offices_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date:%d %b %Y} {self.name}"
