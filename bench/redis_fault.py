"""Fault test: Redis stopped, restarted, hung and resumed under load (`.ci/run`, or
`make bench-fault`: `.venv/bin/python bench/redis_fault.py`, FAULT_PG to use another server).

gunicorn with production settings on a throw-away PostgreSQL database (karo_fault) and a
throw-away redis-server on its own port (never the shared 6379), persisting to an append-only
file so that it comes back holding what it held before, as a restarted production Redis does.
Cashier threads post repayments through the API (a new Idempotency-Key each, retried with the
same key after any failure) and reader threads load pages, through five phases: Redis up,
stopped, restarted, hung (SIGSTOP), resumed. During the stop the officer loses their role.

Asserts, and prints: no 5xx and no failed request; every acknowledged posting is in the
database exactly once (count and sum); after recovery the officer's revoked role is not
served from the cache and every loan page lists its latest receipt. Figures: requests,
errors and p99 per phase.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
PY = str(ROOT / ".venv" / "bin" / "python")
PG = os.environ.get("FAULT_PG", "postgres://postgres@127.0.0.1:5432")
DATABASE = f"{PG}/karo_fault"
PHASES = [("up", 6), ("stopped", 10), ("restarted", 8), ("hung", 8), ("resumed", 8)]
CASHIERS, READERS = 4, 2
ACCOUNTANT = ("accountant", "karo-accountant-demo")
ADMIN = ("admin", "karo-admin-demo")
OFFICER = ("officer", "karo-officer-demo")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class Run:
    def __init__(self) -> None:
        self.phase = "setup"
        self.lock = threading.Lock()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.failures: dict[str, list[str]] = defaultdict(list)
        self.acknowledged: dict[str, tuple[int, Decimal, str]] = {}  # key: loan, amount, receipt
        self.stop = threading.Event()

    def record(self, started: float, ok: bool, what: str) -> None:
        with self.lock:
            self.latencies[self.phase].append(time.monotonic() - started)
            if not ok:
                self.failures[self.phase].append(what)


def manage(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [PY, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.exit(f"manage.py {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}")
    return done.stdout


def sign_in(base: str, username: str, password: str) -> requests.Session:
    session = requests.Session()
    session.get(f"{base}/accounts/login/", timeout=30)
    answer = session.post(
        f"{base}/accounts/login/",
        data={
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": session.cookies["csrftoken"],
        },
        headers={"Referer": f"{base}/accounts/login/"},
        allow_redirects=False,
        timeout=30,
    )
    assert answer.status_code == 302, f"sign-in failed: {answer.status_code}"
    return session


def cashier(run: Run, base: str, loans: list[int], number: int) -> None:
    token = requests.post(
        f"{base}/api/auth/token",
        json={"username": ACCOUNTANT[0], "password": ACCOUNTANT[1]},
        timeout=30,
    ).json()["access"]
    headers = {"Authorization": f"Bearer {token}"}
    sequence = 0
    while not run.stop.is_set():
        sequence += 1
        loan = loans[(number + sequence * CASHIERS) % len(loans)]
        key = f"fault-{number}-{sequence}-{uuid.uuid4().hex[:8]}"
        amount = Decimal("1.00") + Decimal(sequence % 7) / 100
        for _attempt in range(5):  # a failure is counted, then retried with the same key
            started = time.monotonic()
            try:
                answer = requests.post(
                    f"{base}/api/loans/{loan}/repayments",
                    json={"amount": str(amount), "method": "cash"},
                    headers={**headers, "Idempotency-Key": key},
                    timeout=30,
                )
            except requests.RequestException as error:
                run.record(started, False, f"POST {loan}: {error!r}")
                continue
            run.record(started, answer.status_code == 201, f"POST {loan}: {answer.status_code}")
            if answer.status_code == 201:
                with run.lock:
                    run.acknowledged[key] = (loan, amount, answer.json()["receipt_number"])
                break


def reader(run: Run, base: str, loans: list[int], number: int) -> None:
    session = sign_in(base, *ADMIN)
    pages = ["/", "/loans/", "/loans/?status=active", "/borrowers/"]
    sequence = 0
    while not run.stop.is_set():
        sequence += 1
        path = (
            pages[sequence % len(pages)]
            if sequence % 2
            else f"/loans/{loans[sequence % len(loans)]}/"
        )
        started = time.monotonic()
        try:
            answer = session.get(f"{base}{path}", allow_redirects=False, timeout=30)
        except requests.RequestException as error:
            run.record(started, False, f"GET {path}: {error!r}")
            continue
        run.record(started, answer.status_code == 200, f"GET {path}: {answer.status_code}")


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))] * 1000 if ordered else 0.0


def main() -> None:
    redis_server = shutil.which("redis-server")
    gunicorn = ROOT / ".venv" / "bin" / "gunicorn"
    if redis_server is None:
        sys.exit("redis-server is not installed")
    work = Path(tempfile.mkdtemp(prefix="karo-fault-"))
    redis_port, web_port = free_port(), free_port()
    base = f"http://127.0.0.1:{web_port}"
    env = {
        **os.environ,
        "DATABASE_URL": DATABASE,
        "REDIS_URL": f"redis://127.0.0.1:{redis_port}/0",
        "DJANGO_SETTINGS_MODULE": "karo.settings",
        "DEBUG": "false",
        "SECRET_KEY": "fault-only-secret-key-not-for-production-" + uuid.uuid4().hex,
        "KARO_AUDIT_KEY": "fault-only-audit-key-not-for-production-" + uuid.uuid4().hex,
        "ALLOWED_HOSTS": "127.0.0.1",
        "SECURE_SSL_REDIRECT": "false",
        "SESSION_COOKIE_SECURE": "false",
        "CSRF_COOKIE_SECURE": "false",
        "SECURE_HSTS_SECONDS": "0",
        "KARO_PLAIN_STATIC": "true",
        "LOG_LEVEL": "WARNING",
        "AXES_FAILURE_LIMIT": "1000",
        "GUNICORN_BIND": f"127.0.0.1:{web_port}",
        "GUNICORN_WORKERS": os.environ.get("FAULT_WORKERS", "3"),
        "GUNICORN_ACCESSLOG": "/dev/null",
    }
    for name in [k for k in env if k.startswith("PYTEST") or k == "CACHE_KEY_PREFIX"]:
        env.pop(name)
    subprocess.run(
        ["psql", f"{PG}/postgres", "-q", "-c", "DROP DATABASE IF EXISTS karo_fault WITH (FORCE)",
         "-c", "CREATE DATABASE karo_fault"],
        check=True,
    )  # fmt: skip
    redis_command = [
        redis_server, "--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(work),
        "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
    ]  # fmt: skip
    redis = subprocess.Popen(redis_command, stdout=subprocess.DEVNULL)
    web: subprocess.Popen[bytes] | None = None
    try:
        print("[fault] migrate and seed (karo_fault)", flush=True)
        manage(env, "migrate", "--noinput", "-v0")
        manage(env, "seed_demo", "--force", "--borrowers", "20", "--loans", "30")
        loans = [
            int(pk)
            for pk in subprocess.run(
                ["psql", DATABASE, "-tA", "-c",
                 # The largest balances: a few hundred payments of about 1.00 must never
                 # pay one off (a closed loan would refuse the rest, which is not a fault).
                 "SELECT id FROM lending_loan WHERE status = 'active' AND outstanding >= 500 "
                 "ORDER BY outstanding DESC, id LIMIT 12"],
                check=True, capture_output=True, text=True,
            ).stdout.split()
        ]  # fmt: skip
        assert loans, "the seed made no active loan"
        log = (work / "gunicorn.log").open("w")
        web = subprocess.Popen(
            [str(gunicorn), "-c", "gunicorn.conf.py", "karo.wsgi:application"],
            cwd=ROOT, env=env, stdout=log, stderr=log,
        )  # fmt: skip
        for _ in range(120):
            try:
                requests.get(f"{base}/accounts/login/", timeout=2)
                break
            except requests.RequestException:
                time.sleep(0.5)
        officer = sign_in(base, *OFFICER)
        assert officer.get(f"{base}/loans/apply/", timeout=30).status_code == 200

        run = Run()
        threads = [
            threading.Thread(target=cashier, args=(run, base, loans, n)) for n in range(CASHIERS)
        ] + [threading.Thread(target=reader, args=(run, base, loans, n)) for n in range(READERS)]
        for thread in threads:
            thread.start()
        for name, seconds in PHASES:
            run.phase = name
            print(f"[fault] phase {name} ({seconds} s)", flush=True)
            if name == "stopped":
                redis.terminate()
                redis.wait()
                manage(
                    env, "shell", "-c",
                    "from django.contrib.auth.models import User; "
                    "User.objects.get(username='officer').groups.clear()",
                )  # fmt: skip
            elif name == "restarted":
                redis = subprocess.Popen(redis_command, stdout=subprocess.DEVNULL)
            elif name == "hung":
                redis.send_signal(signal.SIGSTOP)
            elif name == "resumed":
                redis.send_signal(signal.SIGCONT)
            time.sleep(seconds)
        run.stop.set()
        for thread in threads:
            thread.join()

        # Nothing stale once Redis answers again (the breaker's trial and the epoch check
        # have long passed in the resumed phase): every worker refuses the revoked role and
        # every loan page lists its latest receipt.
        refused = [officer.get(f"{base}/loans/apply/", timeout=30).status_code for _ in range(12)]
        admin = sign_in(base, *ADMIN)
        latest: dict[int, str] = {}
        for loan, _, receipt in run.acknowledged.values():
            latest[loan] = max(latest.get(loan, ""), receipt)
        stale_pages = [
            loan
            for loan, receipt in latest.items()
            if receipt not in admin.get(f"{base}/loans/{loan}/", timeout=30).text
        ]
        booked = subprocess.run(
            ["psql", DATABASE, "-tA", "-F", " ", "-c",
             "SELECT COUNT(*), COALESCE(SUM(amount), 0) FROM lending_repayment "
             "WHERE idempotency_key LIKE 'api:%:fault-%'"],
            check=True, capture_output=True, text=True,
        ).stdout.split()  # fmt: skip
        count, total = int(booked[0]), Decimal(booked[1])
        server_log = (work / "gunicorn.log").read_text()
        trips = server_log.count("Redis unavailable")
        emptied = server_log.count("Redis missed an invalidation")
        expected = sum((amount for _, amount, _ in run.acknowledged.values()), Decimal(0))
    finally:
        if web is not None:
            web.terminate()
            web.wait()
        if redis.poll() is None:
            redis.send_signal(signal.SIGCONT)
            redis.terminate()
            redis.wait()

    print("\n| phase | seconds | requests | errors | p99 ms |")
    print("|---|---|---|---|---|")
    for name, seconds in PHASES:
        times = run.latencies[name]
        print(
            f"| {name} | {seconds} | {len(times)} | {len(run.failures[name])} | {p99(times):.0f} |"
        )
    print(
        f"\npostings acknowledged {len(run.acknowledged)} (sum {expected}); in the database "
        f"{count} (sum {total}); revoked role after recovery: {sorted(set(refused))}; "
        f"loan pages missing their latest receipt: {len(stale_pages)} of {len(latest)}; "
        f"breaker trips logged by the workers {trips}, Redis emptied on recovery {emptied}"
    )
    failures = [f for name, _ in PHASES for f in run.failures[name]]
    problems = []
    if failures:
        problems.append(f"{len(failures)} failed requests, e.g. {failures[:5]}")
    if (count, total) != (len(run.acknowledged), expected):
        problems.append("postings lost or doubled")
    if set(refused) != {403}:
        problems.append(f"the revoked role was served: {refused}")
    if stale_pages:
        problems.append(f"stale loan pages: {stale_pages}")
    if problems:
        sys.exit("[fault] FAILED: " + "; ".join(problems))
    shutil.rmtree(work, ignore_errors=True)
    subprocess.run(
        ["psql", f"{PG}/postgres", "-q", "-c", "DROP DATABASE karo_fault WITH (FORCE)"],
        check=False,
    )
    print("[fault] passed: no 5xx, every posting once, nothing stale after recovery")


if __name__ == "__main__":
    main()
