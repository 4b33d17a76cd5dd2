"""State of background work that must survive a crashed worker.

The daily close on workers (`collecting.close`): a run per day closed, split into chunks of
loans that any worker takes. A chunk records its completion in the same transaction as the
close of its loans, so a chunk is either wholly done or not at all, and a rerun takes only
the chunks not done.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
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


class ReminderTemplate(models.Model):
    """The words of a payment reminder, one per kind, edited by an Admin in the Django admin.
    The placeholders are checked when saved (`collecting.messages`), so a run never meets a
    template it cannot fill."""

    class Kind(models.TextChoices):
        UPCOMING = "upcoming", "Before a due date (and on it)"
        OVERDUE = "overdue", "After a missed due date"

    kind = models.CharField(max_length=10, choices=Kind.choices, unique=True)
    sms_text = models.TextField(
        "SMS text",
        max_length=480,
        help_text="At most 480 characters (three SMS parts); 160 fit in one.",
    )
    email_subject = models.CharField("e-mail subject", max_length=200)
    email_body = models.TextField("e-mail body", max_length=5000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind"]

    def __str__(self) -> str:
        return self.get_kind_display()

    def clean(self) -> None:
        from collecting.messages import placeholders_in

        errors: dict[str, list[ValidationError]] = {}
        for field in ("sms_text", "email_subject", "email_body"):
            try:
                placeholders_in(getattr(self, field))
            except ValidationError as error:
                errors[field] = [error]
        if errors:
            raise ValidationError(errors)


class Reminder(models.Model):
    """One payment reminder to one borrower about one installment on one channel: the outbox.

    The unique (installment, offset, channel) is what makes a reminder go once: a rerun finds
    the row and sends it only while it is queued or failed. `offset_days` is the day of the
    reminder relative to the due date: -3 three days before, 0 on it, 7 a week after. A send
    in progress is `sending`; a worker that dies mid-send leaves it so, and it is not sent
    again by itself, since it may have gone out (an SMS twice is worse than one missed)."""

    class Channel(models.TextChoices):
        SMS = "sms", "SMS"
        EMAIL = "email", "E-mail"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    installment = models.ForeignKey(
        "lending.Installment", on_delete=models.PROTECT, related_name="+"
    )
    loan = models.ForeignKey("lending.Loan", on_delete=models.PROTECT, related_name="+")
    borrower = models.ForeignKey("lending.Borrower", on_delete=models.PROTECT, related_name="+")
    offset_days = models.SmallIntegerField()
    channel = models.CharField(max_length=5, choices=Channel.choices)
    on = models.DateField()  # the day of the run that made it
    recipient = models.CharField(max_length=254)  # a phone number (E.164) or an e-mail address
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveSmallIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)  # the last failure, as the gateway said
    backend = models.CharField(max_length=40, blank=True)  # what took it: twilio, smtp, outbox
    provider_id = models.CharField(max_length=100, blank=True)  # the gateway's message id
    created_at = models.DateTimeField(default=timezone.now)
    sent_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["installment", "offset_days", "channel"], name="reminder_sent_once"
            )
        ]
        indexes = [models.Index(fields=["status", "channel", "-created_at"])]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} reminder to {self.recipient} ({self.when})"

    @property
    def kind(self) -> str:
        return (
            ReminderTemplate.Kind.UPCOMING
            if self.offset_days <= 0
            else ReminderTemplate.Kind.OVERDUE
        )

    @property
    def when(self) -> str:
        """The reminder's day in words: "3 days before", "on the due date", "7 days after"."""
        days = abs(self.offset_days)
        if not days:
            return "on the due date"
        unit = "day" if days == 1 else "days"
        return f"{days} {unit} {'before' if self.offset_days < 0 else 'after'}"
