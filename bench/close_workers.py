"""`close_day` on Celery workers: the same day closed on two identical copies of the bench
portfolio, once with one worker process and once with two (issue 17: "close_day on the
100,000-loan portfolio with 1 and with 2 workers (ratio)").

Run by `bench/run.sh` before gunicorn starts (a database can be copied only while nobody is
connected to it), or alone once `karo_bench` is seeded: `python -m bench.close_workers`.
Each copy is `CREATE DATABASE ... TEMPLATE karo_bench`, so both closes start from the same
rows; the broker is Redis (`BENCH_CLOSE_BROKER`, default db 10, emptied first), each worker a
separate `celery worker --pool=solo` process as a separate machine would run it. The time is
the run's own, from its row (`started_at` to `finished_at`), and the command's wall time.

Prints one JSON object (`bench/run.sh` keeps it in bench/out/close_workers.json, which
`bench.bench` turns into rows of bench/results.md).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PG = os.environ.get("BENCH_PG", "postgres://postgres@127.0.0.1:5432")
SOURCE = os.environ.get("BENCH_CLOSE_SOURCE", "karo_bench")
BROKER = os.environ.get("BENCH_CLOSE_BROKER", "redis://127.0.0.1:6379/10")
PY = str(ROOT / ".venv" / "bin" / "python")


def _psql(sql: str, db: str = "postgres") -> str:
    return subprocess.run(
        ["psql", f"{PG}/{db}", "-qtA", "-c", sql], check=True, capture_output=True, text=True
    ).stdout.strip()


def _close_with(workers: int, on: str) -> dict[str, Any]:
    copy = f"{SOURCE}_close{workers}"
    _psql(f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")
    _psql(f"CREATE DATABASE {copy} TEMPLATE {SOURCE}")
    subprocess.run(["redis-cli", "-u", BROKER, "flushdb"], check=True, capture_output=True)
    env = os.environ | {"DATABASE_URL": f"{PG}/{copy}", "CELERY_BROKER_URL": BROKER}
    procs = [
        subprocess.Popen(
            [
                PY,
                "-m",
                "celery",
                "-A",
                "karo",
                "worker",
                "--pool=solo",
                "-n",
                f"bench{i}@%h",
                "--without-gossip",
                "--without-mingle",
                "--loglevel=WARNING",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for i in range(workers)
    ]
    try:
        time.sleep(3)  # the workers connect to the broker
        started = time.monotonic()
        done = subprocess.run(
            [PY, "manage.py", "close_day", "--date", on],
            cwd=ROOT, env=env, capture_output=True, text=True,
        )  # fmt: skip
        wall = time.monotonic() - started
        if done.returncode != 0:
            raise SystemExit(f"close_day with {workers} worker(s) failed:\n{done.stderr}")
        # `on` is the database's own CURRENT_DATE, never outside input.
        sql = "SELECT EXTRACT(EPOCH FROM finished_at - started_at) FROM collecting_daycloserun "
        sql += f"WHERE \"on\" = '{on}' ORDER BY id DESC LIMIT 1"
        run_seconds = float(_psql(sql, copy))
        active = int(_psql("SELECT COUNT(*) FROM lending_loan WHERE status = 'active'", copy))
        return {
            "workers": workers,
            "seconds": round(run_seconds, 2),
            "wall_seconds": round(wall, 2),
            "active_loans": active,
            "output": done.stdout.strip().splitlines()[-1:],
        }
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
        _psql(f"DROP DATABASE IF EXISTS {copy} WITH (FORCE)")


def main() -> None:
    on = _psql("SELECT CURRENT_DATE")
    one = _close_with(1, on)
    two = _close_with(2, on)
    figures = {"on": on, "one": one, "two": two}
    figures["speedup"] = round(one["seconds"] / two["seconds"], 2)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
