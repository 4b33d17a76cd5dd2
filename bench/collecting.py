"""Collections at volume (`make bench`, and alone: `python -m bench.collecting` against a
running server, `BENCH_URL`, and its database): a 500-row collection sheet posted in one
submit against single-form postings in the same run, and a 10,000-row payment file
(upload with the dry run, then the commit) through the services.

Both sides of the sheet comparison are one client posting one after the other over HTTP, as
the cashier's browser does, and the time counted is the POSTs' (opening the form or the sheet
is a page view, not part of a posting).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable
from datetime import date
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench.post import login  # noqa: E402
from collecting.imports import (  # noqa: E402
    payment_import_check,
    payment_import_commit,
    payment_import_upload,
)
from collecting.models import PaymentImportRow  # noqa: E402
from collecting.selectors import SheetFilters, sheet_rows  # noqa: E402
from collecting.services import posted_on_day_sheet  # noqa: E402
from lending.models import Loan, Repayment  # noqa: E402

SHEET_ROWS = int(os.environ.get("BENCH_SHEET_ROWS", "500"))
SINGLE_POSTINGS = int(os.environ.get("BENCH_SINGLE_POSTINGS", "100"))
IMPORT_ROWS = int(os.environ.get("BENCH_IMPORT_ROWS", "10000"))

Result = tuple[str, str, str, str, str, bool | None]


def _single_forms(base: str, cashier: tuple[str, str], loans: list[int], on: date) -> float:
    """Postings/s of the payment form, one after the other."""
    session = login(base, *cashier)
    token = session.cookies["csrftoken"]
    started = time.perf_counter()
    for pk in loans:
        answer = session.post(
            f"{base}/loans/{pk}/repayments/new/",
            data={
                "amount": "1.00",
                "paid_on": on.isoformat(),
                "method": "cash",
                "reference": "bench-single",
                "idempotency_key": uuid.uuid4().hex,
                "csrfmiddlewaretoken": token,
            },
            headers={"Referer": f"{base}/"},
            allow_redirects=False,
            timeout=60,
        )
        assert answer.status_code == 302, f"single form refused: {answer.status_code}"
    return len(loans) / (time.perf_counter() - started)


def _sheet(base: str, cashier: tuple[str, str], loans: list[int], on: date) -> float:
    """Seconds of one POST of a sheet with a row per loan."""
    session = login(base, *cashier)
    data = {
        "on": on.isoformat(),
        "method": "cash",
        "csrfmiddlewaretoken": session.cookies["csrftoken"],
        **{f"amount-{pk}": "1.00" for pk in loans},
    }
    started = time.perf_counter()
    answer = session.post(
        f"{base}/collections/post/", data=data, headers={"Referer": f"{base}/"}, timeout=600
    )
    seconds = time.perf_counter() - started
    assert answer.status_code == 200 and f"{len(loans)} posted".encode() in answer.content, (
        "the sheet did not post every row"
    )
    return seconds


def sheet_vs_single(base: str, cashier: tuple[str, str]) -> list[Result]:
    on = timezone.localdate()
    due = [r.loan_id for r in sheet_rows(SheetFilters(on=on)) if r.outstanding >= 2]
    # The day's sheet takes one payment per loan: a rerun on the same day uses the others.
    done = posted_on_day_sheet(on=on, loan_ids=due)
    due = [pk for pk in due if pk not in done]
    if len(due) < SHEET_ROWS + SINGLE_POSTINGS:
        raise RuntimeError(f"only {len(due)} loans have something due: seed more")
    single = _single_forms(base, cashier, due[SHEET_ROWS : SHEET_ROWS + SINGLE_POSTINGS], on)
    before = Repayment.objects.count()
    seconds = _sheet(base, cashier, due[:SHEET_ROWS], on)
    assert Repayment.objects.count() - before == SHEET_ROWS
    per_s = SHEET_ROWS / seconds
    return [
        (
            f"collection sheet of {SHEET_ROWS} rows, one submit",
            f"{seconds:.1f} s server time, {per_s:.0f} postings/s",
            f"single payment forms, one after the other: {single:.0f} postings/s "
            f"({SINGLE_POSTINGS} forms)",
            f"{per_s / single:.2f}",
            ">= 1.00 (at least as fast per posting)",
            per_s >= single,
        )
    ]


def _timed(work: Callable[[], Any]) -> float:
    started = time.perf_counter()
    work()
    return time.perf_counter() - started


def payment_file(cashier: tuple[str, str]) -> list[Result]:
    """A 10,000-row CSV: upload + dry run, then the commit (in this process, as without a
    broker), rows/s of each."""
    user = User.objects.get(username=cashier[0])
    on = timezone.localdate()
    loans = list(
        Loan.objects.filter(status=Loan.Status.ACTIVE, outstanding__gte=100)
        .order_by("pk")
        .values_list("number", flat=True)[: IMPORT_ROWS // 5]
    )
    run = uuid.uuid4().hex[:8]
    lines = ["Date;Amount;Reference;Loan"] + [
        f"{on:%d/%m/%Y};1,00;bench-{run}-{i};{loans[i % len(loans)]}" for i in range(IMPORT_ROWS)
    ]
    content = ("\n".join(lines) + "\n").encode()
    holder: dict[str, Any] = {}

    def upload_and_check() -> None:
        holder["imp"] = payment_import_upload(
            user=user, source_name="bench", file_name="bench.csv", content=content, method="cash"
        )
        payment_import_check(
            payment_import=holder["imp"],
            user=user,
            mapping={"paid_on": "Date", "amount": "Amount", "reference": "Reference",
                     "loan_number": "Loan"},
        )  # fmt: skip

    dry = _timed(upload_and_check)
    imp = holder["imp"]
    ready = imp.rows.filter(verdict=PaymentImportRow.Verdict.READY).count()
    commit = _timed(lambda: payment_import_commit(payment_import=imp, user=user))
    posted = imp.rows.filter(verdict=PaymentImportRow.Verdict.POSTED).count()
    return [
        (
            f"payment file of {IMPORT_ROWS:,} rows: upload and dry run",
            f"{dry:.1f} s, {IMPORT_ROWS / dry:.0f} rows/s ({ready:,} ready)",
            "-", "-", "every row a verdict", ready == IMPORT_ROWS,
        ),
        (
            f"payment file of {IMPORT_ROWS:,} rows: commit (in process)",
            f"{commit:.1f} s, {posted / commit:.0f} rows/s ({posted:,} posted)",
            "-", "-", "every ready row posted once", posted == ready,
        ),
    ]  # fmt: skip


def main() -> None:
    base = os.environ.get("BENCH_URL", "http://127.0.0.1:8797")
    cashier = ("accountant", "karo-accountant-demo")
    for row in [*sheet_vs_single(base, cashier), *payment_file(cashier)]:
        print(" | ".join("" if v is None else str(v) for v in row))


if __name__ == "__main__":
    main()
