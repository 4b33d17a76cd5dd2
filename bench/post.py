"""Concurrent repayment posting over HTTP, as a cashier's browser sends it: a signed-in session
cookie, the CSRF token and a one-time idempotency key with every payment form. Eight cashiers
post at once (wrk, one connection per thread, `bench/post.lua`), so the load generator costs
next to nothing beside the server. Opening the form first is a page view like the others and
is not part of a posting's cost here.

Every 20th form is submitted twice with the same key (a double click): the second answer must
point at the same repayment. Returns the counts, latencies and the repayment ids answered.
"""

from __future__ import annotations

import os
import re
import subprocess
import uuid
from datetime import date
from pathlib import Path
from typing import Any

import requests

ROOT = Path(__file__).resolve().parent.parent
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
CASHIERS = 8
# The pages are measured as a branch's accountant (bench/bench.py), so scoping to the branch
# is part of each page; bench/prepare.py registers the benchmark's borrower in that branch.
BRANCH_USER = ("north_accountant", "karo-north-cash-demo")


def login(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/accounts/login/", timeout=30)
    token = TOKEN.search(page.text)
    assert token, "no CSRF token on the login page"
    answer = session.post(
        f"{base}/accounts/login/",
        data={"username": username, "password": password, "csrfmiddlewaretoken": token.group(1)},
        headers={"Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, f"login failed: {answer.status_code}"
    return session


def _ms(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def run(
    base: str, username: str, password: str, loans: list[int], seconds: float, phase: str,
    out: Path,
) -> dict[str, Any]:  # fmt: skip
    sessions = [login(base, username, password) for _ in range(CASHIERS)]
    # The CSRF cookie's secret is a valid form token, as the masked one in a page would be.
    entries = [
        "; ".join(f"{k}={v}" for k, v in s.cookies.items()) + ";;" + s.cookies["csrftoken"]
        for s in sessions
    ]
    env = {
        **os.environ,
        "BENCH_POST_SESSIONS": "|".join(entries),
        "BENCH_POST_LOANS": ",".join(str(pk) for pk in loans),
        "BENCH_POST_PHASE": phase,
        "BENCH_POST_RUN": f"{phase}-{uuid.uuid4().hex[:12]}",
        "BENCH_POST_DATE": date.today().isoformat(),
    }
    script = str(ROOT / "bench" / "post.lua")
    cmd = [
        "wrk", f"-t{CASHIERS}", f"-c{CASHIERS}", f"-d{seconds:g}s", "--timeout", "30s",
        "--latency", "-s", script, f"{base}/",
    ]  # fmt: skip
    text = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    (out / f"post_{phase}.txt").write_text(re.sub(r"(?m)^IDS .*$", "IDS (omitted)", text))
    counts = re.search(
        r"POSTED ok=(\d+) errors=(\d+) doubles_ok=(\d+) doubles_bad=(\d+) seconds=([\d.]+)", text
    )
    assert counts, f"wrk printed no posting counts:\n{text}"
    ok, errors, doubles_ok, doubles_bad = (int(x) for x in counts.groups()[:4])
    elapsed = float(counts.group(5))
    ids_line = re.search(r"(?m)^IDS (.*)$", text)
    ids = [int(x) for x in ids_line.group(1).split(",") if x] if ids_line else []
    socket = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text
    )
    return {
        "phase": phase,
        "ok": ok,
        "errors": errors + (sum(int(x) for x in socket.groups()) if socket else 0),
        "doubles_ok": doubles_ok,
        "doubles_bad": doubles_bad,
        "distinct_ids": len(set(ids)),
        "ids": ids,
        "seconds": elapsed,
        "per_s": round(ok / elapsed, 1),
        "p50_ms": _ms(re.search(r"50%\s+([\d.]+(?:us|ms|s))", text).group(1)),  # type: ignore[union-attr]
        "p99_ms": _ms(re.search(r"99%\s+([\d.]+(?:us|ms|s))", text).group(1)),  # type: ignore[union-attr]
        "error_samples": re.findall(r"(?m)^ERROR (.*)$", text)[:10],
    }
