"""State of background work that must survive a crashed worker.

The daily close on workers (`collecting.close`): a run per day closed, split into chunks of
loans that any worker takes. A chunk records its completion in the same transaction as the
close of its loans, so a chunk is either wholly done or not at all, and a rerun takes only
the chunks not done.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class DayCloseRun(models.Model):
    """One close of a day (`on`). At most one unfinished run per day: starting the close of a
    day that has one resumes it. A finished day may be closed again (it changes nothing and
    writes its own DAY_CLOSED entry, as the close always has)."""

    on = models.DateField()
    started_at = models.DateTimeField(default=timezone.now)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    batch_size = models.PositiveIntegerField()
    finished_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)  # the summed chunk results

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["on"], condition=Q(finished_at=None), name="one_open_close_per_day"
            )
        ]

    def __str__(self) -> str:
        return f"close of {self.on}"


class DayCloseChunk(models.Model):
    """The active loans with ids from `first_loan_id` to `last_loan_id` (taken when the run
    started), closed in one transaction that also sets `done_at`."""

    run = models.ForeignKey(DayCloseRun, on_delete=models.CASCADE, related_name="chunks")
    number = models.PositiveIntegerField()
    first_loan_id = models.BigIntegerField()
    last_loan_id = models.BigIntegerField()
    loans = models.PositiveIntegerField()  # active loans in the range when the run started
    done_at = models.DateTimeField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "number"]
        constraints = [
            models.UniqueConstraint(fields=["run", "number"], name="close_chunk_unique_number")
        ]

    def __str__(self) -> str:
        return f"{self.run} chunk {self.number}"
