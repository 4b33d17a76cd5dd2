"""`manage.py send_reminders [--date YYYY-MM-DD]`: the day's payment reminders (SMS, e-mail),
each sent once (see collecting.reminders). Run it every day after `close_day` (README.md,
"Payment reminders"); a rerun sends nothing twice and retries what failed.

The work is the Celery task `collecting.send_reminders`: without a broker it runs here and the
counts are printed; with one (`CELERY_BROKER_URL`) a worker takes it and this returns at once.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from collecting.tasks import send_reminders


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--date must be a date like 2026-01-31, not {value!r}.") from exc


class Command(BaseCommand):
    help = (
        "Send the payment reminders of a day (before due dates and after missed ones), each "
        "once. Safe to run again for the same date: failed ones are retried."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date",
            type=_date,
            default=None,
            help="The day whose reminders to send (YYYY-MM-DD; default: today in TIME_ZONE).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        on: date = options["date"] or timezone.localdate()
        if on > timezone.localdate():
            raise CommandError("Reminders cannot be sent for a day in the future.")
        try:
            outcome = send_reminders.delay(on.isoformat())
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if not settings.CELERY_TASK_ALWAYS_EAGER:
            self.stdout.write(f"Reminders of {on} queued; a worker sends them.")
            return
        counts = outcome.get()
        if options["verbosity"] >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Reminders of {on}: {counts['sent']} sent, {counts['failed']} failed, "
                    f"{counts['already_sent']} already sent before, {counts['opted_out']} not "
                    f"made (borrower opted out)."
                )
            )
            if counts["failed"]:
                self.stdout.write("Failed ones are listed on the reminders outbox page.")
