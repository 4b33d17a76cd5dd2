"""gunicorn settings for production (read by `gunicorn karo.wsgi`); override with env vars."""

import gc
import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("GUNICORN_THREADS", "1"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 30
keepalive = 5
# Workers fork from a master that has already imported Django and the project, so starting
# (or recycling) a worker costs a fork, not a second of imports. Nothing connects to the
# database at import time, so no connection is shared across the fork.
preload_app = True
# Recycle a worker now and then (a guard against slow leaks), staggered by the jitter.
max_requests = 20000
max_requests_jitter = 2000
accesslog = os.environ.get("GUNICORN_ACCESSLOG", "-")
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")


# The objects the master loads (Django, the app, its compiled templates: some 160,000) live as
# long as every worker. Left to the collector, each worker walks them all in every full
# collection, a pause of 100-150 ms that shows as a page's worst latency. So the master does
# not collect (no freed holes in the pages the workers share), freezes what it loaded right
# before forking (`gc.freeze`: never traversed again) and each worker collects as usual what
# it makes itself (Python's documented recipe for a forking server).
gc.disable()


def when_ready(server):  # type: ignore[no-untyped-def]
    """In the master, before the first worker is forked: import the views and compile the
    templates once (karo/warmup.py), so no worker's first request pays for it; then freeze
    what was loaded."""
    from karo.warmup import warm_up

    server.log.info("warmed up: %d templates compiled", warm_up())
    gc.freeze()


def post_fork(server, worker):  # type: ignore[no-untyped-def]
    gc.enable()
