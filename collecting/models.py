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

from lending.models import Repayment


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


class ImportSource(models.Model):
    """Where payment files come from ("Equity Bank statement", "M-Pesa"): the column mapping
    last used for it, offered again for its next file."""

    name = models.CharField(max_length=80, unique=True)
    mapping = models.JSONField(default=dict, blank=True)  # field -> column header
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class PaymentImport(models.Model):
    """One uploaded payment file: its rows, each with a verdict from the dry run, then, once
    committed, what posting it did. The file's digest and a row's number make that row's
    idempotency key, so the same file imported again posts nothing new."""

    class Status(models.TextChoices):
        UPLOADED = "uploaded", "Columns to map"
        CHECKED = "checked", "Dry run done"
        COMMITTING = "committing", "Posting"
        DONE = "done", "Posted"

    source = models.ForeignKey(ImportSource, on_delete=models.PROTECT, related_name="imports")
    file_name = models.CharField(max_length=200)
    digest = models.CharField(max_length=64, db_index=True)  # SHA-256 of the file's bytes
    header = models.JSONField(default=list)
    notes = models.JSONField(default=list, blank=True)
    method = models.CharField(max_length=20, choices=Repayment.Method.choices)
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.UPLOADED)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    uploaded_at = models.DateTimeField(default=timezone.now)
    committed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    committed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    rows_total = models.PositiveIntegerField(default=0)
    rows_done = models.PositiveIntegerField(default=0)  # rows the commit has decided

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return f"import {self.pk} ({self.file_name})"

    @property
    def percent_done(self) -> int:
        return 100 if not self.rows_total else int(100 * self.rows_done / self.rows_total)


class PaymentImportRow(models.Model):
    class Verdict(models.TextChoices):
        PENDING = "pending", "Not checked"
        READY = "ready", "Ready to post"
        UNMATCHED = "unmatched", "No loan found"
        INVALID = "invalid", "Cannot be read"
        DUPLICATE = "duplicate", "Duplicate row"
        REFUSED = "refused", "Refused"
        POSTED = "posted", "Posted"
        ALREADY = "already", "Already posted"

    payment_import = models.ForeignKey(PaymentImport, on_delete=models.CASCADE, related_name="rows")
    number = models.PositiveIntegerField()  # the row's line in the file (the header is 1)
    cells = models.JSONField(default=list)
    paid_on = models.DateField(null=True, blank=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2, null=True, blank=True)
    reference = models.CharField(max_length=100, blank=True)
    loan = models.ForeignKey(
        "lending.Loan", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    matched_by = models.CharField(max_length=20, blank=True)
    verdict = models.CharField(max_length=10, choices=Verdict.choices, default=Verdict.PENDING)
    message = models.CharField(max_length=300, blank=True)
    repayment = models.ForeignKey(
        "lending.Repayment", on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )

    class Meta:
        ordering = ["payment_import", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["payment_import", "number"], name="import_row_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"{self.payment_import} row {self.number}"
