"""The daily close on Celery workers: the day's active loans split into chunks any worker
takes; the day is closed when the last chunk is done.

The per-loan work (days past due, penalties, accruals) is `lending.services.close_day`'s,
unchanged: a chunk locks its loans and calls the same batch function the one-process close
calls, in one transaction that also marks the chunk done. So:

- a chunk is done wholly or not at all: a worker killed half way through one leaves nothing
  of it (its transaction rolls back) and the chunk still pending;
- a chunk is idempotent: a second delivery (a broker redelivering a message whose worker
  died, a rerun) finds it done under its row lock and does nothing; and the batch function
  is itself idempotent per day (a penalty is charged once per installment);
- the chunk that completes the run finishes the day (`day_close_finish`: the DAY_CLOSED audit
  entry, the checkpoint, the day recorded), once: the run's row lock decides who;
- starting the close of a day whose run did not finish (a crash, a lost message) resumes that
  run: only its pending chunks are sent again.

Without a broker (`CELERY_BROKER_URL` unset) the chunks run one after the other in the
calling process, and `day_close_start` returns with the day closed.
"""

from __future__ import annotations

from dataclasses import asdict, fields
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from collecting.models import DayCloseChunk, DayCloseRun
from ledger.services import check_open
from lending.models import DayClose, Loan, LoanProduct
from lending.services.close_day import (
    DEFAULT_BATCH_SIZE,
    DayCloseResult,
    _close_batch,
    _window,
    day_close_finish,
)


def result_to_json(result: DayCloseResult) -> dict[str, Any]:
    data = asdict(result)
    return {k: str(v) if isinstance(v, Decimal | date) else v for k, v in data.items()}


def result_from_json(data: dict[str, Any], on: date) -> DayCloseResult:
    result = DayCloseResult(on=on)
    for f in fields(DayCloseResult):
        if f.name == "on" or f.name not in data:
            continue
        current = getattr(result, f.name)
        value = data[f.name]
        setattr(result, f.name, Decimal(value) if isinstance(current, Decimal) else value)
    return result


def _summed(results: list[DayCloseResult], on: date) -> DayCloseResult:
    total = DayCloseResult(on=on)
    for r in results:
        for f in fields(DayCloseResult):
            if f.name != "on":
                setattr(total, f.name, getattr(total, f.name) + getattr(r, f.name))
    return total


def _check(on: date, batch_size: int) -> None:
    if on > timezone.localdate():
        raise ValidationError({"date": "A day in the future cannot be closed."})
    if batch_size < 1:
        raise ValidationError({"batch_size": "The batch size must be at least 1."})
    check_open(on, field="date")


def _plan(on: date, user: User | None, batch_size: int) -> DayCloseRun:
    """The day's open run, or a new one with its chunks (the active loans' ids, in order)."""
    with transaction.atomic():
        run = DayCloseRun.objects.select_for_update().filter(on=on, finished_at=None).first()
        if run is not None:
            return run
        run = DayCloseRun.objects.create(on=on, started_by=user, batch_size=batch_size)
        ids = list(
            Loan.objects.filter(status=Loan.Status.ACTIVE)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        DayCloseChunk.objects.bulk_create(
            DayCloseChunk(
                run=run,
                number=number,
                first_loan_id=ids[start],
                last_loan_id=ids[min(start + batch_size, len(ids)) - 1],
                loans=min(batch_size, len(ids) - start),
            )
            for number, start in enumerate(range(0, len(ids), batch_size))
        )
        return run


def day_close_start(
    *, on: date | None = None, user: User | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> DayCloseRun:
    """Close the day `on` (default today) on the workers, or resume its unfinished run: send
    each pending chunk to the queue. Refuses (ValidationError) a future day or a day in
    closed books, with nothing started."""
    from collecting.tasks import close_day_chunk

    on = on or timezone.localdate()
    _check(on, batch_size)
    try:
        run = _plan(on, user, batch_size)
    except IntegrityError:  # another start created the day's run at the same moment
        run = DayCloseRun.objects.get(on=on, finished_at=None)
    pending = list(run.chunks.filter(done_at=None).values_list("pk", flat=True))
    if not pending:
        day_close_complete(run_id=run.pk)  # every chunk was done; the end was not
    for chunk_id in pending:
        close_day_chunk.delay(chunk_id)
    run.refresh_from_db()
    return run


def day_close_chunk(*, chunk_id: int) -> bool:
    """Close one chunk's loans (see the module docstring). False when it was already done."""
    with transaction.atomic():
        chunk = DayCloseChunk.objects.select_for_update().get(pk=chunk_id)
        run = DayCloseRun.objects.select_related("started_by").get(pk=chunk.run_id)
        if chunk.done_at is not None or run.finished_at is not None:
            return False
        result = DayCloseResult(on=run.on)
        loans = list(
            Loan.objects.select_for_update()
            .filter(
                status=Loan.Status.ACTIVE,
                pk__gte=chunk.first_loan_id,
                pk__lte=chunk.last_loan_id,
            )
            .order_by("pk")
        )
        if loans:
            products = {
                p.pk: p
                for p in LoanProduct.objects.exclude(penalty_type=LoanProduct.PenaltyType.NONE)
            }
            _close_batch(
                loans,
                on=run.on,
                products=products,
                result=result,
                user=run.started_by,
                window=_window(run.on),
            )
        result.batches = 1
        chunk.done_at = timezone.now()
        chunk.result = result_to_json(result)
        chunk.save(update_fields=["done_at", "result"])
    day_close_complete(run_id=chunk.run_id)
    return True


def day_close_complete(*, run_id: int) -> bool:
    """Finish the day once every chunk of the run is done (once: under the run's lock).
    True when this call finished it."""
    with transaction.atomic():
        run = (
            DayCloseRun.objects.select_for_update(of=("self",))
            .select_related("started_by")
            .get(pk=run_id)
        )
        if run.finished_at is not None or run.chunks.filter(done_at=None).exists():
            return False
        results = [
            result_from_json(data, run.on) for data in run.chunks.values_list("result", flat=True)
        ]
        total = _summed(results, run.on)
        day_close_finish(on=run.on, result=total, user=run.started_by)
        run.finished_at = timezone.now()
        run.result = result_to_json(total)
        run.save(update_fields=["finished_at", "result"])
        return True


def run_progress(run: DayCloseRun) -> tuple[int, int]:
    """(loans in the chunks done, loans) of a run, in one query."""
    done = total = 0
    for done_at, loans in run.chunks.values_list("done_at", "loans"):
        total += loans
        done += loans if done_at is not None else 0
    return done, total


def day_close_request(*, user: User, on: date | None = None) -> DayCloseRun:
    """The close an Admin starts from the daily close page: `day_close_start`, as the
    command runs it, but refused (ValidationError, nothing started) when the day's close is
    still running or already done. The command may rerun a day (it changes nothing); a
    click on a button should not do so by accident."""
    on = on or timezone.localdate()
    with transaction.atomic():
        running = DayCloseRun.objects.select_for_update().filter(on=on, finished_at=None).first()
        if running is not None:
            done, total = run_progress(running)
            raise ValidationError(
                f"The close of {on:%d %b %Y} started at "
                f"{timezone.localtime(running.started_at):%H:%M} is still running "
                f"({done} of {total} loans done). If its worker stopped, run it again with "
                f"`manage.py close_day --date {on.isoformat()}`, which finishes what it left.",
                code="close_running",
            )
        if DayClose.objects.filter(on=on).exists():
            raise ValidationError(
                f"{on:%d %b %Y} is already closed: its days past due and penalties are done.",
                code="close_done",
            )
    return day_close_start(on=on, user=user)
