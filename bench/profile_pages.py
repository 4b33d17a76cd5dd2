"""In-process look at one page: queries, time per request, and the top of a cProfile.

    DATABASE_URL=... .venv/bin/python -m bench.profile_pages /loans/123/ [--profile]

Not part of `make bench`; a tool for finding why a page is slow."""

from __future__ import annotations

import cProfile
import os
import pstats
import statistics
import sys
import time
from collections import Counter

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402


def main() -> None:
    path = sys.argv[1]
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(User.objects.get(username=os.environ.get("BENCH_USER", "admin")))
    client.get(path)
    captured: list[dict[str, object]] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(sql, params, many, context)
        finally:
            captured.append({"sql": sql, "time": time.perf_counter() - started})

    with connection.execute_wrapper(record):
        answer = client.get(path)
    queries = type("Q", (), {"captured_queries": captured, "__len__": lambda self: len(captured)})()
    assert answer.status_code == 200, answer.status_code
    times = []
    for _ in range(10):
        started = time.perf_counter()
        client.get(path)
        times.append((time.perf_counter() - started) * 1000)
    sql_ms = sum(float(q["time"]) for q in queries.captured_queries) * 1000
    print(
        f"{path}: {len(queries)} queries ({sql_ms:.1f} ms in SQL), "
        f"median {statistics.median(times):.1f} ms, {len(answer.content) / 1024:.0f} KiB"
    )
    shapes = Counter(q["sql"][:90] for q in queries.captured_queries)
    for sql, n in shapes.most_common(8):
        print(f"  {n:4d} x {sql}")
    slow = sorted(queries.captured_queries, key=lambda q: -float(q["time"]))[:3]
    for q in slow:
        print(f"  {float(q['time']) * 1000:7.1f} ms {q['sql'][:300]}")
    if "--profile" in sys.argv:
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(5):
            client.get(path)
        profile.disable()
        stats = pstats.Stats(profile).sort_stats(os.environ.get("SORT", "cumulative"))
        stats.print_stats(int(os.environ.get("ROWS", "35")))


if __name__ == "__main__":
    main()
