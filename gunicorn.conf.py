"""gunicorn settings for production (read by `gunicorn karo.wsgi`); override with env vars."""

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


def when_ready(server):  # type: ignore[no-untyped-def]
    """In the master, before the first worker is forked: import the views and compile the
    templates once (karo/warmup.py), so no worker's first request pays for it."""
    from karo.warmup import warm_up

    server.log.info("warmed up: %d templates compiled", warm_up())
