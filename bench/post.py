"""Concurrent repayment posting over HTTP, as cashiers do it: log in (session + CSRF), open
the payment form (a fresh idempotency key), post it, follow nothing. Plain `requests` in
separate processes (so the client is not one GIL), no Django import.

Every 20th posting is submitted twice with the same form (a double click): the second answer
must point at the same repayment. Returns JSON with the counts, latencies and the ids.
"""

from __future__ import annotations

import json
import re
import sys
import time
from datetime import date
from multiprocessing import Pool
from typing import Any

import requests

TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
KEY = re.compile(r'name="idempotency_key" value="([^"]+)"')
LOCATION = re.compile(r"/repayments/(\d+)/")


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


def worker(args: tuple[str, str, str, list[int], float, str, int, int]) -> dict[str, Any]:
    base, username, password, loans, seconds, phase, index, workers = args
    session = login(base, username, password)
    today = date.today().isoformat()
    ok = errors = doubles_ok = doubles_bad = 0
    latencies: list[float] = []
    post_latencies: list[float] = []
    ids: list[int] = []
    error_samples: list[str] = []
    deadline = time.monotonic() + seconds
    n = 0
    while time.monotonic() < deadline:
        loan = loans[(index + n * workers) % len(loans)]
        n += 1
        started = time.monotonic()
        try:
            form = session.get(f"{base}/loans/{loan}/repayments/new/", timeout=30)
            token, key = TOKEN.search(form.text), KEY.search(form.text)
            if form.status_code != 200 or not token or not key:
                raise RuntimeError(f"form {form.status_code}")
            data = {
                "csrfmiddlewaretoken": token.group(1),
                "idempotency_key": key.group(1),
                "amount": "1.00",
                "paid_on": today,
                "method": "cash",
                "reference": f"bench-{phase}-{index}-{n}",
            }
            url = f"{base}/loans/{loan}/repayments/new/"
            headers = {"Referer": url}
            posted = time.monotonic()
            answer = session.post(
                url, data=data, headers=headers, allow_redirects=False, timeout=30
            )
            post_latencies.append(time.monotonic() - posted)
            found = LOCATION.search(answer.headers.get("Location", ""))
            if answer.status_code != 302 or not found:
                raise RuntimeError(f"post {answer.status_code}")
            latencies.append(time.monotonic() - started)
            ids.append(int(found.group(1)))
            ok += 1
            if n % 20 == 0:
                again = session.post(
                    url, data=data, headers=headers, allow_redirects=False, timeout=30
                )
                same = LOCATION.search(again.headers.get("Location", ""))
                if again.status_code == 302 and same and same.group(1) == found.group(1):
                    doubles_ok += 1
                else:
                    doubles_bad += 1
        except Exception as exc:
            errors += 1
            if len(error_samples) < 5:
                error_samples.append(f"loan {loan}: {exc}")
    return {
        "ok": ok,
        "errors": errors,
        "doubles_ok": doubles_ok,
        "doubles_bad": doubles_bad,
        "latencies": latencies,
        "post_latencies": post_latencies,
        "ids": ids,
        "error_samples": error_samples,
    }


def run(
    base: str, username: str, password: str, loans: list[int], seconds: float, phase: str,
    workers: int = 8,
) -> dict[str, Any]:  # fmt: skip
    jobs = [(base, username, password, loans, seconds, phase, i, workers) for i in range(workers)]
    started = time.monotonic()
    with Pool(workers) as pool:
        parts = pool.map(worker, jobs)
    elapsed = time.monotonic() - started
    latencies = sorted(x for p in parts for x in p["latencies"])
    post_only = sorted(x for p in parts for x in p["post_latencies"])
    ids = [x for p in parts for x in p["ids"]]
    ok = sum(p["ok"] for p in parts)
    return {
        "phase": phase,
        "ok": ok,
        "errors": sum(p["errors"] for p in parts),
        "doubles_ok": sum(p["doubles_ok"] for p in parts),
        "doubles_bad": sum(p["doubles_bad"] for p in parts),
        "distinct_ids": len(set(ids)),
        "ids": ids,
        # Login takes a moment per worker; the rate uses the posting window itself.
        "seconds": seconds,
        "wall_seconds": round(elapsed, 2),
        "per_s": round(ok / seconds, 1),
        "p50_ms": round(latencies[len(latencies) // 2] * 1000, 1) if latencies else None,
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 1) if latencies else None,
        "post_p50_ms": round(post_only[len(post_only) // 2] * 1000, 1) if post_only else None,
        "error_samples": [s for p in parts for s in p["error_samples"]][:10],
    }


if __name__ == "__main__":
    base, user, password, phase, seconds = sys.argv[1:6]
    loan_ids = [int(x) for x in sys.argv[6].split(",")]
    print(json.dumps(run(base, user, password, loan_ids, float(seconds), phase)))
