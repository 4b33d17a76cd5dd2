"""`manage.py close_day [--date YYYY-MM-DD]`: the daily close (see lending.services.close_day).

The loans are closed in chunks by Celery workers (`collecting.close`), or in this process when
no broker is configured; the command waits for the day to close (unless `--no-wait`), and a
rerun for the same day finishes what a crashed run left. Scheduling it (cron or a systemd
timer) is described in README.md, "The daily close".
"""

from __future__ import annotations

import time
from datetime import date
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from collecting.close import day_close_start, result_from_json, run_progress
from collecting.models import DayCloseRun
from lending.services.close_day import DEFAULT_BATCH_SIZE

POLL_SECONDS = 1.0


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
        parser.add_argument(
            "--no-wait",
            action="store_true",
            help="With workers: queue the day's chunks and return without waiting for them.",
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
            run = day_close_start(on=on, batch_size=options["batch_size"])
        except ValidationError as exc:
            raise CommandError(" ".join(exc.messages)) from exc
        if options["no_wait"] and run.finished_at is None:
            self.stdout.write(f"Close of {on} queued (run {run.pk}); workers take its chunks.")
            return
        progress(*run_progress(run))
        while run.finished_at is None:
            time.sleep(POLL_SECONDS)
            run = DayCloseRun.objects.get(pk=run.pk)
            progress(*run_progress(run))
        if interactive:
            self.stdout.write("")
        result = result_from_json(run.result, on)
        if verbosity >= 1:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Day {on} closed: {result.loans_checked} active loans checked, "
                    f"{result.loans_overdue} overdue, {result.penalties_applied} penalties "
                    f"applied ({result.penalty_total}) on {result.loans_penalised} loans."
                )
            )
