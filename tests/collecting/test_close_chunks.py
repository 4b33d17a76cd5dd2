"""The daily close in chunks (`collecting.close`), as it runs without a broker (tasks in the
calling process): the same outcome as the one-process close, one DAY_CLOSED entry per run,
a chunk delivered twice does nothing, a run left half done is finished by a rerun with
nothing charged twice. The same with a real worker killed mid-close: test_worker.py."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError

from collecting.close import _plan, day_close_chunk, day_close_start
from collecting.models import DayCloseChunk, DayCloseRun
from lending.models import AuditLog, DayClose, Installment, Loan, LoanTransaction
from lending.services.close_day import day_close
from tests.factories import LoanProductFactory
from tests.reporting.helpers import D, days_ago, reload, today, weekly_loan

pytestmark = pytest.mark.django_db


def _portfolio(n: int = 5) -> list[Loan]:
    product = LoanProductFactory(
        penalty_type="flat", penalty_amount=D("10.00"), penalty_grace_days=0
    )
    return [weekly_loan(disbursed_days_ago=15 + 7 * i, product=product) for i in range(n)]


def _snapshot() -> list[tuple[Any, ...]]:
    loans = [
        (loan.number, loan.total_repayable, loan.outstanding, loan.days_past_due)
        for loan in Loan.objects.order_by("pk")
    ]
    installments = list(
        Installment.objects.order_by("loan_id", "number").values_list(
            "penalties", "penalty_applied_on"
        )
    )
    return [*loans, *installments]


def _charges() -> int:
    return LoanTransaction.objects.filter(kind=LoanTransaction.Kind.CHARGE).count()


def _day_closed() -> int:
    return AuditLog.objects.filter(action=AuditLog.Action.DAY_CLOSED).count()


def test_tasks_run_in_process_without_a_broker() -> None:
    assert not settings.CELERY_BROKER_URL
    assert settings.CELERY_TASK_ALWAYS_EAGER


def test_chunked_close_does_what_the_one_process_close_does() -> None:
    _portfolio()
    run = day_close_start(on=today(), batch_size=2)
    assert run.finished_at is not None
    assert run.chunks.count() == 3 and not run.chunks.filter(done_at=None).exists()
    chunked = _snapshot()
    assert run.result["penalties_applied"] == _charges() > 0
    assert run.result["loans_checked"] == 5
    assert Decimal(run.result["penalty_total"]) == Decimal("10.00") * _charges()
    assert _day_closed() == 1
    assert DayClose.objects.filter(on=today()).exists()
    # The one-process close on the same state now finds nothing to do: it agrees.
    again = day_close(on=today())
    assert again.penalties_applied == 0 and again.days_past_due_updated == 0
    assert _snapshot() == chunked


def test_a_chunk_delivered_twice_does_nothing_the_second_time() -> None:
    _portfolio(3)
    run = _plan(today(), None, 1)
    first = run.chunks.order_by("number").first()
    assert first is not None
    assert day_close_chunk(chunk_id=first.pk) is True
    charges = _charges()
    assert day_close_chunk(chunk_id=first.pk) is False
    assert _charges() == charges
    assert _day_closed() == 0  # two chunks still pending: the day is not closed


def test_a_rerun_finishes_a_run_left_half_done_and_charges_nothing_twice() -> None:
    loans = _portfolio(4)
    run = _plan(today(), None, 1)
    for chunk in run.chunks.order_by("number")[:2]:  # a worker died after two chunks
        day_close_chunk(chunk_id=chunk.pk)
    halfway = _charges()
    assert halfway > 0
    rerun = day_close_start(on=today(), batch_size=1)
    assert rerun.pk == run.pk and rerun.finished_at is not None
    assert _day_closed() == 1
    per_loan = [
        LoanTransaction.objects.filter(loan=loan, kind=LoanTransaction.Kind.CHARGE).count()
        for loan in loans
    ]
    late = [Installment.objects.filter(loan=loan, due_date__lt=today()).count() for loan in loans]
    assert per_loan == late  # one penalty per late installment, no more
    assert rerun.result["loans_checked"] == 4


def test_closing_a_closed_day_again_changes_nothing_and_is_its_own_run() -> None:
    _portfolio(2)
    day_close_start(on=today())
    before = _snapshot()
    second = day_close_start(on=today())
    assert _snapshot() == before
    assert second.result["penalties_applied"] == 0
    assert DayCloseRun.objects.filter(on=today()).count() == 2
    assert _day_closed() == 2


def test_a_day_without_active_loans_closes_at_once() -> None:
    run = day_close_start(on=days_ago(1))
    assert run.finished_at is not None and not run.chunks.exists()
    assert _day_closed() == 1


def test_a_future_day_or_a_bad_batch_size_starts_nothing() -> None:
    with pytest.raises(ValidationError, match="future"):
        day_close_start(on=days_ago(-1))
    with pytest.raises(ValidationError, match="at least 1"):
        day_close_start(on=today(), batch_size=0)
    assert not DayCloseRun.objects.exists() and not DayCloseChunk.objects.exists()


def test_a_loan_closed_between_planning_and_its_chunk_is_skipped() -> None:
    loans = _portfolio(2)
    run = _plan(today(), None, 5)
    Loan.objects.filter(pk=loans[0].pk).update(status=Loan.Status.CLOSED)
    [chunk] = run.chunks.all()
    day_close_chunk(chunk_id=chunk.pk)
    assert reload(loans[0]).days_past_due == 0
    assert reload(loans[1]).days_past_due > 0
