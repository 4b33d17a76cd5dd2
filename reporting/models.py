"""The one reporting setting an Admin changes: where the aging buckets split (DESIGN.md
"Repayments": buckets 1-30, 31-60, 61-90, 90+ by default, an Admin may change the limits)."""

from __future__ import annotations

import itertools

from django.core.exceptions import ValidationError
from django.db import models

DEFAULT_AGING_LIMITS = (30, 60, 90)
MAX_LIMITS = 6
MAX_DAYS = 3650


def parse_aging_limits(text: str) -> tuple[int, ...]:
    """ "30, 60, 90" -> (30, 60, 90): whole days, rising, from 1 to 3,650, at most six. A
    bucket ends at each limit; the last one is everything beyond the last limit."""
    parts = [p.strip() for p in str(text).replace(";", ",").split(",") if p.strip()]
    if not parts:
        raise ValidationError("Give at least one limit in days, e.g. 30, 60, 90.")
    if len(parts) > MAX_LIMITS:
        raise ValidationError(f"At most {MAX_LIMITS} limits (that is {MAX_LIMITS + 2} buckets).")
    limits = []
    for part in parts:
        if not part.isdigit():
            raise ValidationError(f"“{part}” is not a whole number of days.")
        limits.append(int(part))
    if any(not 1 <= n <= MAX_DAYS for n in limits):
        raise ValidationError(f"Each limit is between 1 and {MAX_DAYS:,} days.")
    if any(b <= a for a, b in itertools.pairwise(limits)):
        raise ValidationError("The limits must rise from one to the next, e.g. 30, 60, 90.")
    return tuple(limits)


def validate_aging_limits(text: str) -> None:
    parse_aging_limits(text)


class AgingSettings(models.Model):
    """A single row (created on first save); without it the defaults apply."""

    limits = models.CharField(
        "aging bucket limits (days past due)",
        max_length=60,
        default=", ".join(map(str, DEFAULT_AGING_LIMITS)),
        validators=[validate_aging_limits],
        help_text="Where the buckets of the aging report split, in days past due, rising: "
        "“30, 60, 90” gives 1-30, 31-60, 61-90 and 90+ days. PAR30 on the dashboard stays "
        "30 days whatever the buckets.",
    )

    class Meta:
        verbose_name = "aging buckets"
        verbose_name_plural = "aging buckets"

    def __str__(self) -> str:
        return f"Aging buckets: {self.limits}"

    def save(self, *args: object, **kwargs: object) -> None:
        self.pk = 1  # one row
        self.limits = ", ".join(map(str, parse_aging_limits(self.limits)))
        super().save(*args, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def current_limits(cls) -> tuple[int, ...]:
        """One query; the defaults when no Admin has set them."""
        text = cls.objects.filter(pk=1).values_list("limits", flat=True).first()
        return parse_aging_limits(text) if text else DEFAULT_AGING_LIMITS
