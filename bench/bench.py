"""`make bench` measurements, run by bench/run.sh once the server is up. Each figure is taken
in the same run as its baseline; prints a table and writes bench/results.md."""

from __future__ import annotations

import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import django
import requests

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import CommandError, call_command  # noqa: E402
from django.db.models import Count, Q, Sum  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import Office  # noqa: E402
from accounts.offices import user_office_id  # noqa: E402
from bench import post  # noqa: E402
from ledger.models import JournalLine  # noqa: E402
from lending.models import Installment, Loan, LoanTransaction, Receipt, Repayment  # noqa: E402
from lending.receivers import forget_portfolio  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
BASE = os.environ.get("BENCH_URL", "http://127.0.0.1:8797")
WRK_SECONDS = int(os.environ.get("BENCH_WRK_SECONDS", "10"))
# Pages: each page in rounds, the bare view after each round (`pages`).
PAGE_ROUNDS = int(os.environ.get("BENCH_PAGE_ROUNDS", "3"))
PAGE_ROUND_SECONDS = int(os.environ.get("BENCH_PAGE_ROUND_SECONDS", "5"))
POST_SECONDS = float(os.environ.get("BENCH_POST_SECONDS", "20"))
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
PY = str(ROOT / ".venv" / "bin" / "python")
ADMIN = ("admin", "karo-admin-demo")
BRANCH_USER = post.BRANCH_USER
CASHIER = ("accountant", "karo-accountant-demo")

rows: list[dict[str, Any]] = []
notes: list[str] = []


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC):%H:%M:%S}] {message}", flush=True)


def result(name: str, value: str, baseline: str, ratio: str, target: str, met: bool | None) -> None:
    rows.append(
        {"name": name, "value": value, "baseline": baseline, "ratio": ratio, "target": target,
         "met": met}
    )  # fmt: skip


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(
    path: str,
    cookies: list[str],
    seconds: int = WRK_SECONDS,
    *,
    lua: str = "cookies.lua",
    env: dict[str, str] | None = None,
    warm: bool = True,
) -> dict[str, Any]:
    env = {**os.environ, "BENCH_COOKIES": "|".join(cookies), **(env or {})}
    url = f"{BASE}{path}"
    script = str(ROOT / "bench" / lua)
    if warm:
        warm_up = ["wrk", "-t2", "-c8", "-d2s", "--timeout", "10s", "-s", script, url]
        subprocess.run(warm_up, env=env, capture_output=True, check=True)
    # A 10 s timeout (wrk's default is 2 s) so that a slow page shows its real latency
    # instead of dropping out of the percentiles as a socket timeout.
    cmd = ["wrk", "-t2", "-c8", f"-d{seconds}s", "--timeout", "10s", "--latency", "-s", script]
    cmd.append(url)
    text = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    (OUT / f"wrk{path.replace('/', '_').replace('?', '_')}.txt").write_text(text)
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", text).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"99%\s+([\d.]+(?:us|ms|s))", text).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"50%\s+([\d.]+(?:us|ms|s))", text).group(1))  # type: ignore[union-attr]
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    socket_errors = sum(int(x) for x in socket.groups()) if socket else 0
    non200 = int(re.search(r"NON_200 (\d+)", text).group(1))  # type: ignore[union-attr]
    return {"rps": rps, "p50": p50, "p99": p99, "errors": socket_errors + non200}


def _medians(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Several wrk runs of one path as one: the median of each figure, errors summed."""
    return {
        "rps": statistics.median(r["rps"] for r in runs),
        "p50": statistics.median(r["p50"] for r in runs),
        "p99": statistics.median(r["p99"] for r in runs),
        "errors": sum(r["errors"] for r in runs),
    }


def page_check(session: requests.Session, path: str) -> None:
    answer = session.get(f"{BASE}{path}", allow_redirects=False, timeout=60)
    if answer.status_code != 200:
        raise SystemExit(f"{path} answered {answer.status_code}, not 200: is the page there?")


def cookie_of(session: requests.Session) -> str:
    return "; ".join(f"{k}={v}" for k, v in session.cookies.items())


def pages(prep: dict[str, Any]) -> None:
    sessions = [post.login(BASE, *BRANCH_USER) for _ in range(8)]
    cookies = [cookie_of(s) for s in sessions]
    targets = [
        ("dashboard /", "/"),
        ("loan list /loans/", "/loans/"),
        ("loan list ?status=active", "/loans/?status=active"),
        ("loan detail, 12 installments", f"/loans/{prep['loan12']}/"),
        ("loan detail, 480 installments (rows around today)", f"/loans/{prep['loan480']}/"),
        (
            "loan detail, 480 installments, all rows ?schedule=all",
            f"/loans/{prep['loan480']}/?schedule=all",
        ),
        ("loan detail, 700 repayments", f"/loans/{prep['loan700']}/"),
        (f"borrower search ?q={prep['search']}", f"/borrowers/?q={prep['search']}"),
    ]
    for _, path in [("bare", "/bench/bare/"), *targets]:
        page_check(sessions[0], path)
    # This machine's speed drifts by a fifth or more within a run, and by as much from one
    # 10 s window to the next. So each page runs in PAGE_ROUNDS rounds (after one 2 s warm-up),
    # the bare view after each round and once before the first, and a page is compared with
    # the bare view beside it by medians: its rounds' requests/s and p99 against those of the
    # bare runs around them.
    seconds = PAGE_ROUND_SECONDS
    log(f"pages: bare view ({PAGE_ROUNDS} rounds of {seconds} s a page)")
    bares = [wrk("/bench/bare/", cookies, seconds)]
    measured, beside = {}, {}
    for label, path in targets:
        log(f"pages: {label}, the bare view after each round")
        rounds, around = [], [bares[-1]]
        for n in range(PAGE_ROUNDS):
            rounds.append(wrk(path, cookies, seconds, warm=n == 0))
            around.append(wrk("/bench/bare/", cookies, seconds, warm=False))
        bares.extend(around[1:])
        measured[label], beside[label] = _medians(rounds), _medians(around)
    rates = [b["rps"] for b in bares]
    result(
        "bare view (1 query), 8 clients",
        f"{min(rates):.0f}-{max(rates):.0f} req/s over {len(rates)} runs of {seconds} s, "
        f"p99 up to {max(b['p99'] for b in bares):.1f} ms",
        "-", "-", "baseline (run before the first round and after every round of a page)", None,
    )  # fmt: skip
    ratios = {}
    for label, m in measured.items():
        bare = beside[label]
        ratio = ratios[label] = m["rps"] / bare["rps"]
        p99_ratio = m["p99"] / bare["p99"]
        met = ratio >= 0.5 and p99_ratio <= 2 and m["errors"] == 0
        result(
            label,
            f"{m['rps']:.0f} req/s, p50 {m['p50']:.1f} ms, p99 {m['p99']:.1f} ms, "
            f"{m['errors']} errors (medians of {PAGE_ROUNDS} rounds)",
            f"{bare['rps']:.0f} req/s, p99 {bare['p99']:.1f} ms",
            f"{ratio:.2f} (p99 {p99_ratio:.2f}x)",
            ">= 0.50, p99 <= 2x the bare view's, 0 errors",
            met,
        )
    # Each against its own neighbouring baselines, for the same reason.
    d12, d700 = "loan detail, 12 installments", "loan detail, 700 repayments"
    slower = ratios[d12] / ratios[d700]
    result(
        "loan detail: 700 repayments vs none",
        f"{ratios[d700]:.2f} of the bare view",
        f"{ratios[d12]:.2f} of the bare view",
        f"{slower:.2f}x",
        "<= 1.20x slower",
        slower <= 1.2,
    )
    # Server time of the dashboard: one client, one request at a time (no queueing), as the
    # branch user and as the head office's admin (the whole portfolio).
    branch = Office.objects.get(pk=user_office_id(User.objects.get(username=BRANCH_USER[0])))
    loans = Loan.objects.count()
    for who, session, scope in (
        (
            BRANCH_USER[0],
            sessions[0],
            f"{branch.name}, {Loan.objects.filter(office=branch).count():,} of {loans:,}",
        ),
        (ADMIN[0], post.login(BASE, *ADMIN), f"head office, all {loans:,}"),
    ):
        times = []
        for _ in range(30):
            answer = session.get(f"{BASE}/", timeout=60)
            assert answer.status_code == 200
            times.append(answer.elapsed.total_seconds() * 1000)
        median = statistics.median(times)
        p95 = sorted(times)[int(len(times) * 0.95)]
        result(
            f"dashboard server time as {who} ({scope} loans)",
            f"median {median:.1f} ms, p95 {p95:.1f} ms",
            "-", "-", "< 100 ms", p95 < 100,
        )  # fmt: skip
        # After a change (any posting renews the portfolio generation) the next view computes
        # the figures again: what the first dashboard after a payment costs.
        cold = []
        for _ in range(5):
            forget_portfolio()
            answer = session.get(f"{BASE}/", timeout=120)
            assert answer.status_code == 200
            cold.append(answer.elapsed.total_seconds() * 1000)
        result(
            f"dashboard server time as {who} right after a change (figures computed afresh)",
            f"median {statistics.median(cold):.0f} ms (min {min(cold):.0f}, max {max(cold):.0f})",
            "-", "-", "-", None,
        )  # fmt: skip


def api_reads(prep: dict[str, Any]) -> None:
    """The API read of a loan's history as a client does it (the loan, its schedule, a page of
    100 repayments, a page of 100 transactions, in turn, bench/api.lua) on a loan with 300
    repayments and on the same loan shape with none. The two alternate (none, 300, none, 300,
    none) and each 300 run is compared with the mean of the runs beside it, as the pages are
    with the bare view: p99 latency, whose ratio must stay within 1.2."""
    answer = requests.post(
        f"{BASE}/api/auth/token", json={"username": ADMIN[0], "password": ADMIN[1]}, timeout=60
    )
    answer.raise_for_status()
    token = answer.json()["access"]

    def paths(loan: int) -> list[str]:
        return [
            f"/api/loans/{loan}",
            f"/api/loans/{loan}/schedule",
            f"/api/loans/{loan}/repayments?page_size=100",
            f"/api/loans/{loan}/transactions?page_size=100",
        ]

    loans = {"none": prep["loan12"], "300": prep["loan300"]}
    for loan in loans.values():
        for path in paths(loan):
            got = requests.get(
                f"{BASE}{path}", headers={"Authorization": f"Bearer {token}"}, timeout=60
            )
            if got.status_code != 200:
                raise SystemExit(f"{path} answered {got.status_code}, not 200")
    runs: list[tuple[str, dict[str, Any]]] = []
    for label in ("none", "300", "none", "300", "none"):
        log(f"API read of a loan with {label} repayments")
        env = {"BENCH_TOKEN": token, "BENCH_PATHS": "|".join(paths(loans[label]))}
        runs.append((label, wrk(paths(loans[label])[0], [], lua="api.lua", env=env)))
    empty = [m for label, m in runs if label == "none"]
    full = [m for label, m in runs if label == "300"]
    ratios = [f["p99"] / ((empty[i]["p99"] + empty[i + 1]["p99"]) / 2) for i, f in enumerate(full)]
    ratio = statistics.mean(ratios)
    errors = sum(m["errors"] for _, m in runs)
    result(
        "API read of a loan's history: 300 repayments vs none (loan, schedule, 100-row "
        "pages of repayments and transactions)",
        ", ".join(f"p99 {m['p99']:.1f} ms ({m['rps']:.0f} req/s)" for m in full)
        + f"; {errors} errors",
        ", ".join(f"p99 {m['p99']:.1f} ms ({m['rps']:.0f} req/s)" for m in empty),
        f"{ratio:.2f}x (" + ", ".join(f"{r:.2f}" for r in ratios) + ")",
        "p99 <= 1.20x, 0 errors",
        ratio <= 1.2 and errors == 0,
    )


def pgbench() -> float:
    db = f"{PG}/karo_pgbench"
    subprocess.run(
        ["psql", f"{PG}/postgres", "-q", "-c", "DROP DATABASE IF EXISTS karo_pgbench",
         "-c", "CREATE DATABASE karo_pgbench"],
        check=True, capture_output=True,
    )  # fmt: skip
    subprocess.run(["pgbench", "-i", "-s", "10", "-q", db], check=True, capture_output=True)
    text = subprocess.run(
        ["pgbench", "-c", "8", "-j", "2", "-T", "20", db],
        check=True, capture_output=True, text=True,
    ).stdout  # fmt: skip
    (OUT / "pgbench.txt").write_text(text)
    return float(re.search(r"tps = ([\d.]+)", text).group(1))  # type: ignore[union-attr]


def check_money(label: str) -> bool:
    out = io.StringIO()
    try:
        call_command("check_money", stdout=out)
        ok = True
    except CommandError as exc:
        out.write(f"\n{exc}\n")
        ok = False
    (OUT / f"check_money_{label}.txt").write_text(out.getvalue())
    log(f"check_money ({label}): {'ok' if ok else 'VIOLATIONS, see bench/out'}")
    return ok


def postings(prep: dict[str, Any]) -> None:
    def phase(loans: list[int], name: str) -> dict[str, Any]:
        # A reused database holds earlier runs' postings under the same references.
        before = Repayment.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        return {**post.run(BASE, *CASHIER, loans, POST_SECONDS, name, OUT), "after_pk": before}

    log("posting: across loans")
    across = phase(prep["many"], "across")
    log("posting: one hot loan")
    hot = phase([prep["hot"]], "hot")
    log("pgbench TPC-B (scale 10, 8 clients, 2 threads, 20 s)")
    tps = pgbench()
    for run, target, label in (
        (across, 0.10, f"repayment posting across {len(prep['many'])} loans"),
        (hot, 0.05, "repayment posting on one hot loan"),
    ):
        stored = Repayment.objects.filter(
            pk__gt=run["after_pk"], reference__startswith=f"bench-{run['phase']}-"
        )
        stored_ids = set(stored.values_list("pk", flat=True))
        answered = set(run["ids"])
        lost = len(answered - stored_ids)
        # wrk stops mid-request: each cashier may have one form posted whose answer it did
        # not wait for. More recorded than that, or one repayment answered for two forms, is
        # a doubled payment.
        unanswered = len(stored_ids - answered)
        doubled = (run["ok"] - run["distinct_ids"]) + max(0, unanswered - post.CASHIERS)
        met = (
            run["per_s"] / tps >= target and run["errors"] == 0 and lost == 0 and doubled == 0
            and run["doubles_bad"] == 0
        )  # fmt: skip
        result(
            label,
            f"{run['per_s']:.0f} postings/s (p50 {run['p50_ms']:.1f} ms, p99 "
            f"{run['p99_ms']:.1f} ms), {run['ok']} ok, {run['errors']} errors, {lost} lost, "
            f"{doubled} doubled, double submits {run['doubles_ok']} ok / "
            f"{run['doubles_bad']} bad; {unanswered} recorded as wrk stopped (answer not awaited)",
            f"pgbench TPC-B {tps:.0f} tps",
            f"{run['per_s'] / tps:.2f}",
            f">= {target:.2f} of pgbench, 0 errors, 0 lost",
            met,
        )
        if run["error_samples"]:
            notes.append(f"{label}: first errors: {run['error_samples']}")
    receipts_ok = check_money("after_posting")
    result(
        "reconciliation after posting (check_money: totals, allocations, receipts gapless)",
        "all invariants hold" if receipts_ok else "VIOLATIONS (bench/out/check_money_*.txt)",
        "-", "-", "exact", receipts_ok,
    )  # fmt: skip


def _books_fingerprint() -> dict[str, Any]:
    """What a close may change: transactions and their splits, journal lines, installments'
    penalties, loans' balances and days past due."""
    money = {
        "transactions": LoanTransaction.objects.aggregate(n=Count("pk"), p=Sum("penalties")),
        "journal lines": JournalLine.objects.aggregate(n=Count("pk"), d=Sum("debit")),
        "installments": Installment.objects.aggregate(
            p=Sum("penalties"), paid=Sum("penalties_paid")
        ),
        "loans": Loan.objects.aggregate(
            o=Sum("outstanding"), dpd=Sum("days_past_due"), n=Count("pk", filter=Q(status="active"))
        ),
    }
    return {k: {f: str(v) for f, v in d.items()} for k, d in money.items()}


def close_day() -> None:
    """The daily close on the whole portfolio (its overdue installments' penalties repeat,
    bench products in lending/demo_bulk.py), then the same day again: the rerun must change
    nothing."""
    active = Loan.objects.filter(status=Loan.Status.ACTIVE).count()
    on = timezone.localdate().isoformat()
    total = Loan.objects.count()
    before = Installment.objects.aggregate(p=Sum("penalties"))["p"]
    runs = []
    for label in ("first", "second"):
        ahead = _books_fingerprint()
        started = time.monotonic()
        done = subprocess.run(
            [PY, "manage.py", "close_day", "--date", on], cwd=ROOT, capture_output=True, text=True
        )
        runs.append((time.monotonic() - started, done.returncode == 0, ahead))
        (OUT / f"close_day_{label}.txt").write_text(done.stdout + done.stderr)
    (first, first_ok, _), (second, second_ok, after_first) = runs
    charged = Installment.objects.aggregate(p=Sum("penalties"))["p"] - before
    penalties = LoanTransaction.objects.filter(kind="charge", penalties__gt=0, reversed_at=None)
    repeated = penalties.values("loan_id").annotate(n=Count("pk")).filter(n__gt=1).count()
    result(
        f"close_day on {total:,} loans ({active:,} active), penalties repeating",
        f"{first:.1f} s = {active / first:,.0f} active loans/s; {charged:,} penalties charged, "
        f"{repeated:,} loans with more than one penalty" if first_ok else "FAILED",
        "-", "-", "< 60 s", first_ok and first < 60,
    )  # fmt: skip
    unchanged = _books_fingerprint() == after_first
    result(
        "close_day again for the same day",
        f"{second:.1f} s; " + ("nothing changed" if unchanged else "CHANGED the books")
        if second_ok else "FAILED",
        "-", "-", "changes nothing", second_ok and unchanged,
    )  # fmt: skip
    ok = check_money("after_close_day")
    result("check_money after close_day", "all invariants hold" if ok else "VIOLATIONS", "-", "-",
           "exact", ok)  # fmt: skip


def close_on_workers() -> None:
    """The figures `bench.close_workers` measured before gunicorn started (run.sh)."""
    path = OUT / "close_workers.json"
    if not path.exists():
        return
    data = json.loads(path.read_text())
    for run in (data["one"], data["two"]):
        n = run["active_loans"]
        result(
            f"close_day on Celery workers ({run['workers']} worker process"
            f"{'es' if run['workers'] > 1 else ''}, a copy of the portfolio)",
            f"{run['seconds']:.1f} s = {n / run['seconds']:,.0f} active loans/s "
            f"(command {run['wall_seconds']:.1f} s)",
            "-", "-", "-", None,
        )  # fmt: skip
    result(
        "close_day with 2 workers against 1 (same rows, same day)",
        f"{data['speedup']:.2f}x as fast",
        f"1 worker: {data['one']['seconds']:.1f} s",
        f"{data['speedup']:.2f}",
        "> 1 (2 cores, shared with PostgreSQL)",
        data["speedup"] > 1,
    )


def seeding() -> None:
    log_text = (OUT / "seed.log").read_text()
    found = re.search(r"Bulk portfolio: ([\d,]+) rows in ([\d.]+) s = ([\d,]+) rows/s", log_text)
    base = json.loads((OUT / "seed_baseline.json").read_text())
    if not found:
        result("seeding", "no bulk seed line in bench/out/seed.log", "-", "-", "", False)
        return
    rate = float(found.group(3).replace(",", ""))
    ratio = rate / base["rows_per_s"]
    result(
        "seeding (schedules + replay + ledger + COPY)",
        f"{found.group(1)} rows in {found.group(2)} s = {rate:,.0f} rows/s",
        f"plain bulk_create of {base['rows']:,} Installment rows: {base['rows_per_s']:,} rows/s",
        f"{ratio:.2f}",
        ">= 0.50",
        ratio >= 0.5,
    )


def reversal(prep: dict[str, Any]) -> None:
    """Server time of `repayment_reverse` (in process, no HTTP) on the first payment of a loan
    with 700 later repayments: a fresh loan of the "700 repayments" shape, its payments
    reversed one after another from the first, each a full replay of every later one. The
    statements of each are counted (CaptureQueriesContext, inside the timing), and those of
    the same reversal on a loan with 40 later repayments (past the first due date, as the 700
    are): the count must not depend on how many follow."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from bench.prepare import _loan
    from lending.services.repayments import repayment_record, repayment_reverse

    officer = User.objects.get(username="officer")
    officer2 = User.objects.get(username="officer2")
    cashier = User.objects.get(username=CASHIER[0])
    borrower = Loan.objects.get(pk=prep["loan700"]).borrower
    start = timezone.localdate() - timedelta(days=730)

    def loan_with(payments: int, tag: str) -> list[Repayment]:
        loan = _loan(
            borrower, officer, officer2, start, principal=Decimal("12000.00"), installments=12,
            annual_interest_rate=Decimal("12"), frequency="monthly",
        )  # fmt: skip
        return [
            repayment_record(
                loan=loan,
                user=cashier,
                amount=Decimal("10.00"),
                paid_on=start + timedelta(days=k + 1),
                method="cash",
                reference=f"{tag}-{k}",
            )
            for k in range(payments)
        ]

    epoch_checks: list[int] = []

    def reverse(repayment: Repayment) -> tuple[float, int]:
        with CaptureQueriesContext(connection) as ctx:
            started = time.monotonic()
            repayment_reverse(repayment=repayment, user=cashier, reason="Bench reversal")
            ms = (time.monotonic() - started) * 1000
        # The cache's periodic epoch check (karo/cache_backend.py, at most once every
        # KARO_CACHE_CHECK_SECONDS per process) may fall in any request: counted apart.
        epoch = sum("karo_cacheepoch" in q["sql"] for q in ctx.captured_queries)
        epoch_checks.append(epoch)
        return ms, len(ctx.captured_queries) - epoch

    log("reversal: a loan with 701 repayments through the services")
    payments = loan_with(701, "rev")
    runs = [reverse(r) for r in payments[:7]]  # later repayments: 700, 699, ... 694
    times = [ms for ms, _ in runs]
    counts = sorted({n for _, n in runs})
    few = loan_with(41, "rev40")
    few_ms, few_count = reverse(few[0])
    fixed = counts == [few_count]
    median = statistics.median(times)
    result(
        "reversing the first payment, 700 later repayments (full replay, in process)",
        f"median {median:.0f} ms (min {min(times):.0f}, max {max(times):.0f}) over "
        f"{len(times)} reversals with 700 down to {700 - len(times) + 1} later; "
        f"{'/'.join(map(str, counts))} queries ({sum(epoch_checks)} periodic cache epoch checks "
        "counted apart)",
        f"40 later repayments: {few_ms:.0f} ms, {few_count} queries",
        f"{median / few_ms:.1f}x the time",
        "<= 250 ms, same query count",
        median <= 250 and fixed,
    )


def trial_balance() -> None:
    """Server time of the trial balance as of today on the bench portfolio (in process: the
    selector's own time, no HTTP); the median of five runs after one warm-up."""
    from ledger.models import JournalLine
    from ledger.selectors import trial_balance as build

    today = timezone.localdate()
    build(today)
    times = []
    for _ in range(5):
        started = time.monotonic()
        tb = build(today)
        times.append((time.monotonic() - started) * 1000)
    lines = JournalLine.objects.count()
    balanced = tb.total_debit == tb.total_credit
    median = statistics.median(times)
    result(
        f"trial balance as of today ({lines:,} journal lines, {len(tb.rows)} accounts)",
        f"median {median:.0f} ms (min {min(times):.0f}, max {max(times):.0f})"
        + ("" if balanced else ", DEBITS != CREDITS"),
        "-", "-", "< 1 s server time, balanced", balanced and median < 1000,
    )  # fmt: skip


def seeding_journal() -> None:
    """Seeding with the journal against seeding without it, on the scratch database of
    `seed-journal` (run.sh), from bench/out/seed_journal.json."""
    path = OUT / "seed_journal.json"
    if not path.exists():
        return
    runs = json.loads(path.read_text())
    with_j, without = runs["journal"], runs["no_journal"]
    result(
        f"seeding {runs['loans']:,} loans with the journal (transactions + entries + lines)",
        f"{with_j['rows']:,} rows in {with_j['seconds']} s = {with_j['rows_per_s']:,} rows/s",
        f"without journal entries: {without['rows']:,} rows in {without['seconds']} s = "
        f"{without['rows_per_s']:,} rows/s",
        f"{with_j['seconds'] / without['seconds']:.2f} x the time",
        "-",
        None,
    )


def seed_journal(loans: int) -> None:
    """`python -m bench.bench seed-journal N` on an empty, migrated database with users:
    seed N loans with and without the journal, each rolled back (the commit's deferred
    checks are run before timing stops); prints JSON."""
    from django.db import connection, transaction

    from lending.demo_bulk import seed_bulk_portfolio

    class Rollback(Exception):
        pass

    out: dict[str, Any] = {"loans": loans}
    for label, journal in (("journal", True), ("no_journal", False)):
        try:
            with transaction.atomic():
                started = time.monotonic()
                r = seed_bulk_portfolio(borrowers=loans // 2, loans=loans, journal=journal)
                with connection.cursor() as cursor:
                    cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                seconds = time.monotonic() - started
                out[label] = {
                    "rows": r.rows,
                    "seconds": round(seconds, 1),
                    "rows_per_s": round(r.rows / seconds),
                    "journal_lines": r.journal_lines,
                }
                raise Rollback
        except Rollback:
            pass
    json.dump(out, sys.stdout)


def machine() -> str:
    cpu = "?"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    mem = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    load = os.getloadavg()
    return (
        f"{os.cpu_count()} CPUs ({cpu}), {int(mem) / 1024 / 1024:.1f} GiB RAM, "
        f"{platform.platform()}, Python {platform.python_version()}; load average at the end "
        f"{load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}"
    )


def write_report(started: datetime) -> None:
    counts = {
        "loans": Loan.objects.count(),
        "installments": Installment.objects.count(),
        "repayments": Repayment.objects.count(),
        "receipts": Receipt.objects.count(),
    }
    header = "| measurement | value | baseline (same run) | ratio | target | met |"
    lines = [header, "|---|---|---|---|---|---|"]
    for r in rows:
        met = {True: "yes", False: "**no**", None: ""}[r["met"]]
        lines.append(
            f"| {r['name']} | {r['value']} | {r['baseline']} | {r['ratio']} "
            f"| {r['target']} | {met} |"
        )
    table = "\n".join(lines)
    print("\n" + table + "\n")
    size = ", ".join(f"{v:,} {k}" for k, v in counts.items())
    workers = os.environ.get("GUNICORN_WORKERS", str((os.cpu_count() or 1) * 2 + 1))
    threads = os.environ.get("GUNICORN_THREADS", "1")
    body = [
        "# Benchmark results (`make bench`)",
        "",
        f"Run {started:%Y-%m-%d %H:%M} UTC, finished {datetime.now(UTC):%H:%M} UTC. "
        f"Portfolio: {size}.",
        f"Machine: {machine()}.",
        f"Server: gunicorn (gunicorn.conf.py, {workers} workers x {threads} threads), DEBUG off, "
        "PostgreSQL 127.0.0.1 (database karo_bench), Redis cache and sessions (cached_db). "
        f"Pages: wrk, 2 threads, 8 connections, {PAGE_ROUNDS} rounds of {PAGE_ROUND_SECONDS} s "
        "a page after a 2 s warm-up, the bare view after each round, "
        f"8 logged-in sessions of {BRANCH_USER[0]} (one branch of the portfolio's "
        f"{Office.objects.count() - 1}). Posting: wrk, 8 threads x 1 connection, 8 signed-in "
        "cashier sessions, each POST a payment form with its CSRF token and a new "
        f"idempotency key (every 20th sent twice), {POST_SECONDS:.0f} s per phase, amount 1.00.",
        "",
        table,
        "",
        *[f"- {n}" for n in notes],
        "",
        "Client, server and database share the same CPUs, so every figure includes the load "
        "generator's own CPU use; compare ratios, which are taken in the same run.",
        "",
    ]
    (ROOT / "bench" / "results.md").write_text("\n".join(body))


def main() -> None:
    started = datetime.now(UTC)
    load = os.getloadavg()
    notes.append(f"Load average when the measurements started: {load[0]:.2f} / {load[1]:.2f}.")
    OUT.mkdir(exist_ok=True)
    prep = json.loads((OUT / "prepare.json").read_text())
    notes.append(
        "700 repayments posted through `repayment_record` in the set-up: "
        f"{prep['prep_700_service_postings_per_s']} postings/s (one process, no HTTP)."
    )
    seeding()
    seeding_journal()
    trial_balance()
    parts = "reversal,pages,api,posting,collections,close_day"
    only = os.environ.get("BENCH_ONLY", parts).split(",")
    if "reversal" in only:
        reversal(prep)
    if "pages" in only:
        pages(prep)
    if "api" in only:
        api_reads(prep)
    if "posting" in only:
        postings(prep)
    # Payments dated today come before today's close: one dated on a day already closed
    # that changed the loan asks the cashier to confirm the re-split (a page, not a posting).
    if "collections" in only:
        log("collections: a 500-row sheet against single forms, a 10,000-row payment file")
        from bench import collecting

        for row in [
            *collecting.sheet_vs_single(BASE, CASHIER),
            *collecting.payment_file(CASHIER),
        ]:
            result(*row)
    if "close_day" in only:
        close_day()
        close_on_workers()
    write_report(started)
    if any(r["met"] is False for r in rows):
        print("Some targets are not met (see the table).", file=sys.stderr)


if __name__ == "__main__":
    if sys.argv[1:2] == ["seed-journal"]:
        seed_journal(int(sys.argv[2]))
    else:
        main()
