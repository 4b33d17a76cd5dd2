"""`manage.py close_day [--date YYYY-MM-DD]`: the daily close (see lending.services.close_day).

Scheduling it (cron or a systemd timer) is described in README.md, "The daily close".
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from lending.services.close_day import DEFAULT_BATCH_SIZE, day_close


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError as exc:
        raise CommandError(f"--date must be a date like 2026-01-31, not {value!r}.") from exc


class Command(BaseCommand):
    help = (
        "Close a day: record days past due on active loans and apply late penalties once per "
        "overdue installment. Safe to run again for the same date."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--date",
            type=_date,
            default=None,
            help="The day to close (YYYY-MM-DD; default: today in TIME_ZONE).",
        )
        parser.add_argument(
            "--batch-size",
            type=int,
            default=DEFAULT_BATCH_SIZE,
            help=f"Loans locked and processed per transaction (default {DEFAULT_BATCH_SIZE}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        on: date = options["date"] or timezone.localdate()
        verbosity = options["verbosity"]
        interactive = self.stdout.isatty() and verbosity >= 1

        def progress(done: int, total: int) -> None:
            if interactive:
                self.stdout.write(f"\rClosing {on}: {done}/{total} loans", ending="")
                self.stdout.flush()
            elif verbosity >= 2:
                self.stdout.write(f"Closing {on}: {done}/{total} loans")

        try:
            result = day_close(on=on, batch_size=options["batch_size"], progress=progress)
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if interactive and result.batches:
            self.stdout.write("")
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Day {on} closed: {result.loans_checked} active loans checked, "
                    f"{result.loans_overdue} overdue, {result.penalties_applied} penalties "
                    f"applied ({result.penalty_total}) on {result.loans_penalised} loans."
                )
            )
