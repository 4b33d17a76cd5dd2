"""Real Celery workers (`celery -A karo worker` processes against Redis and PostgreSQL): a close
and a payment import taken by a worker, and a worker killed (SIGKILL) in the middle of each,
whose rerun finishes it with nothing charged or posted twice.

Run by `.ci/run` with `CELERY_BROKER_URL` set (`-m celery_worker`); skipped otherwise, and on
SQLite (the kill test holds a loan's row lock to stop the worker mid-close on purpose).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from django.conf import settings
from django.db import connection

from collecting.close import day_close_start
from collecting.imports import payment_import_check, payment_import_commit, payment_import_upload
from collecting.models import DayCloseChunk, DayCloseRun, PaymentImport, PaymentImportRow
from karo.celery import app as celery_app
from lending.models import AuditLog, Installment, Loan, LoanTransaction, Repayment
from tests.factories import AccountantFactory, ActiveLoanFactory, LoanProductFactory
from tests.reporting.helpers import D, days_ago, today, weekly_loan

BROKER = os.environ.get("CELERY_BROKER_URL", "")
ON_POSTGRES = settings.DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
ROOT = Path(__file__).resolve().parents[2]
WAIT_SECONDS = 90

pytestmark = [
    pytest.mark.celery_worker,
    pytest.mark.skipif(
        not BROKER,
        reason="needs a broker: set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/9), as the "
        "Celery worker step of .ci/run does",
    ),
    pytest.mark.skipif(
        not ON_POSTGRES,
        reason="needs PostgreSQL: a worker process must share the test database and its row locks",
    ),
    pytest.mark.django_db(transaction=True),
]


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def queue() -> Iterator[str]:
    """A queue of this test's own, so workers of other runs on the same broker never take
    its tasks (nor it theirs)."""
    name = f"karo-test-{uuid.uuid4().hex[:12]}"
    before = celery_app.conf.task_default_queue
    celery_app.conf.task_default_queue = name
    yield name
    celery_app.conf.task_default_queue = before


@pytest.fixture
def start_worker(queue: str) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    env = os.environ | {"DATABASE_URL": _database_url(), "CELERY_BROKER_URL": BROKER}

    def start() -> subprocess.Popen[bytes]:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "karo", "worker", "--pool=solo",
             "--queues", queue, "--without-gossip", "--without-mingle", "--loglevel=WARNING"],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )  # fmt: skip
        started.append(worker)
        return worker

    yield start
    for worker in started:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)


def _wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"Timed out after {WAIT_SECONDS} s waiting for {what}.")
        time.sleep(0.2)


def _portfolio(n: int) -> list[Loan]:
    product = LoanProductFactory(
        penalty_type="flat", penalty_amount=D("10.00"), penalty_grace_days=0
    )
    return [weekly_loan(disbursed_days_ago=15 + 7 * i, product=product) for i in range(n)]


def _charges_per_loan(loans: list[Loan]) -> list[int]:
    return [
        LoanTransaction.objects.filter(loan=loan, kind=LoanTransaction.Kind.CHARGE).count()
        for loan in loans
    ]


def _late_installments(loans: list[Loan]) -> list[int]:
    return [Installment.objects.filter(loan=loan, due_date__lt=today()).count() for loan in loans]


def _day_closed() -> int:
    return AuditLog.objects.filter(action=AuditLog.Action.DAY_CLOSED).count()


def _finished(run: DayCloseRun) -> Callable[[], bool]:
    return lambda: DayCloseRun.objects.get(pk=run.pk).finished_at is not None


def test_a_worker_closes_the_day(start_worker: Callable[[], Any]) -> None:
    loans = _portfolio(4)
    start_worker()
    run = day_close_start(on=today(), batch_size=2)
    assert run.finished_at is None  # queued, not run here
    _wait_for(_finished(run), "the worker to close the day")
    assert _charges_per_loan(loans) == _late_installments(loans)
    assert _day_closed() == 1


def test_a_worker_killed_mid_close_the_rerun_finishes_with_nothing_charged_twice(
    start_worker: Callable[[], Any],
) -> None:
    loans = _portfolio(6)
    run = day_close_start(on=today(), batch_size=1)
    chunks = list(run.chunks.order_by("number"))
    stuck = chunks[2]
    # Hold the third chunk's loan from another connection: the worker does two chunks, then
    # waits on that lock inside the third chunk's transaction, where it is killed.
    with psycopg.connect(_database_url().replace("postgres://", "postgresql://")) as other:
        other.execute("SELECT id FROM lending_loan WHERE id = %s FOR UPDATE", [stuck.first_loan_id])
        worker = start_worker()
        _wait_for(
            lambda: DayCloseChunk.objects.filter(run=run, done_at__isnull=False).count() == 2,
            "the worker to finish two chunks",
        )
        time.sleep(1.0)  # it is now waiting for the held loan
        assert worker.poll() is None
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        other.rollback()

    done = set(
        DayCloseChunk.objects.filter(run=run, done_at__isnull=False).values_list("pk", flat=True)
    )
    assert done == {chunks[0].pk, chunks[1].pk}
    assert DayCloseRun.objects.get(pk=run.pk).finished_at is None
    assert _day_closed() == 0
    by_loan = dict(zip([loan.pk for loan in loans], _charges_per_loan(loans), strict=True))
    assert by_loan[stuck.first_loan_id] == 0  # the killed chunk left nothing behind

    start_worker()
    rerun = day_close_start(on=today(), batch_size=1)
    assert rerun.pk == run.pk
    _wait_for(_finished(run), "the rerun to finish the close")
    time.sleep(1.0)  # chunks sent twice (the first start's and the rerun's) are all taken
    assert _charges_per_loan(loans) == _late_installments(loans)
    assert _day_closed() == 1
    finished = DayCloseRun.objects.get(pk=run.pk)
    assert finished.result["loans_checked"] == 6
    assert finished.result["penalties_applied"] == sum(_late_installments(loans))


# --- payment imports ----------------------------------------------------------------------


def _checked_import(loans: list[Loan]) -> PaymentImport:
    user = AccountantFactory()
    lines = ["Date,Amount,Ref,Loan"] + [
        f"{days_ago(1).isoformat()},40.00,W{i},{loan.number}" for i, loan in enumerate(loans)
    ]
    imp = payment_import_upload(
        user=user,
        source_name="Worker bank",
        file_name="w.csv",
        content="\n".join(lines).encode(),
        method="bank_transfer",
    )
    payment_import_check(
        payment_import=imp,
        user=user,
        mapping={"paid_on": "Date", "amount": "Amount", "reference": "Ref", "loan_number": "Loan"},
    )
    return imp


def _import_done(imp: PaymentImport) -> Callable[[], bool]:
    return lambda: PaymentImport.objects.get(pk=imp.pk).status == PaymentImport.Status.DONE


def test_a_worker_posts_an_import(start_worker: Callable[[], Any]) -> None:
    loans = [ActiveLoanFactory(disbursed_days_ago=40) for _ in range(3)]
    imp = _checked_import(loans)
    start_worker()
    committed = payment_import_commit(payment_import=imp, user=imp.uploaded_by)
    assert committed.status == PaymentImport.Status.COMMITTING  # queued, not run here
    _wait_for(_import_done(imp), "the worker to post the import")
    assert Repayment.objects.filter(loan__in=loans).count() == 3
    assert set(imp.rows.values_list("verdict", flat=True)) == {PaymentImportRow.Verdict.POSTED}


def test_a_worker_killed_mid_import_the_rerun_posts_each_row_once(
    start_worker: Callable[[], Any],
) -> None:
    loans = [ActiveLoanFactory(disbursed_days_ago=40) for _ in range(5)]
    imp = _checked_import(loans)
    with psycopg.connect(_database_url().replace("postgres://", "postgresql://")) as other:
        other.execute("SELECT id FROM lending_loan WHERE id = %s FOR UPDATE", [loans[2].pk])
        worker = start_worker()
        payment_import_commit(payment_import=imp, user=imp.uploaded_by)
        _wait_for(
            lambda: Repayment.objects.filter(loan__in=loans).count() == 2,
            "the worker to post two rows",
        )
        time.sleep(1.0)  # it is now waiting for the held loan
        assert worker.poll() is None
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(timeout=30)
        other.rollback()

    assert Repayment.objects.filter(loan__in=loans).count() == 2
    assert PaymentImport.objects.get(pk=imp.pk).status == PaymentImport.Status.COMMITTING
    start_worker()
    payment_import_commit(payment_import=imp, user=imp.uploaded_by)  # the rerun
    _wait_for(_import_done(imp), "the rerun to post the import")
    time.sleep(1.0)
    per_loan = [Repayment.objects.filter(loan=loan).count() for loan in loans]
    assert per_loan == [1] * 5
    assert set(imp.rows.values_list("verdict", flat=True)) == {PaymentImportRow.Verdict.POSTED}
    assert AuditLog.objects.filter(action=AuditLog.Action.PAYMENTS_IMPORTED).count() == 1
