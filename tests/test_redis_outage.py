"""Redis is a cache, never a dependency: with a real Redis stopped, or a server that takes
connections and never answers, pages, sign-in, the API and posting work from the database;
once Redis is back nothing cached before the outage is served (karo/cache_backend.py)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import redis
from django.contrib.auth.models import Group, User
from django.contrib.sessions.backends.cached_db import KEY_PREFIX
from django.core.cache import cache
from django.test import Client
from django.urls import reverse

from karo.cache_backend import EPOCH_KEY, breaker_for
from karo.models import CacheEpoch
from lending.models import Loan, Repayment
from tests.api.conftest import ApiClient
from tests.conftest import login
from tests.factories import PASSWORD, ActiveLoanFactory

REDIS_SERVER = shutil.which("redis-server")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(
        REDIS_SERVER is None, reason="redis-server is not installed: these tests stop a real one"
    ),
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class RedisServer:
    """A throw-away redis-server that keeps its data across a stop and start (an append-only
    file written on every command), as a production Redis restarted or resumed would."""

    def __init__(self, directory: Path) -> None:
        self.port = _free_port()
        self.directory = directory
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [
            str(REDIS_SERVER), "--port", str(self.port), "--bind", "127.0.0.1",
            "--dir", str(self.directory), "--save", "", "--appendonly", "yes",
            "--appendfsync", "always",
        ]  # fmt: skip
        # The fixed-clock runs of .ci/run preload libfaketime into this process; redis-server
        # must not inherit it (it cannot start under it), so it gets the environment without.
        environment = {
            name: value
            for name, value in os.environ.items()
            if name != "LD_PRELOAD" and not name.startswith("FAKETIME")
        }
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, env=environment)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(port=self.port, socket_timeout=0.5).ping():
                    return
            except (redis.ConnectionError, redis.TimeoutError):
                time.sleep(0.05)
        self.stop()
        raise RuntimeError("redis-server did not start within 10 s")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait()

    def raw(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)


class SilentServer:
    """Takes TCP connections and never answers: a hung Redis."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = int(self.listener.getsockname()[1])
        self.connections: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.connections.append(connection)

    def close(self) -> None:
        self.listener.close()
        for connection in self.connections:
            connection.close()


def _use_redis(settings: Any, port: int) -> str:
    location = f"redis://127.0.0.1:{port}/0"
    settings.CACHES = {
        alias: {
            "BACKEND": "karo.cache_backend.ResilientRedisCache",
            "LOCATION": location,
            "KEY_PREFIX": f"outage-{alias}",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.25, "SOCKET_TIMEOUT": 0.25},
        }
        for alias in ("default", "template_fragments")
    }
    settings.KARO_CACHE_ACCESS = True
    return location


@pytest.fixture
def redis_server(settings: Any, tmp_path: Path) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path)
    server.start()
    _use_redis(settings, server.port)
    # A stopped Redis refuses at once, so every call may try it again; Redis is compared with
    # the database's epoch only on the first call after a failure.
    settings.KARO_CACHE_BREAKER_SECONDS = 0
    settings.KARO_CACHE_CHECK_SECONDS = 3600
    yield server
    if server.process is not None and server.process.poll() is None:
        server.stop()


def _sign_in(user: User) -> Client:
    browser = Client()
    answer = browser.post(reverse("login"), {"username": user.username, "password": PASSWORD})
    assert answer.status_code == 302, answer.status_code
    return browser


def _pay(api: ApiClient, loan: Loan, amount: str, key: str) -> Any:
    body = {"amount": amount, "method": "cash"}
    return api.post(f"/api/loans/{loan.pk}/repayments", body, **{"Idempotency-Key": key})


def _pages(loan: Loan) -> list[str]:
    return [reverse("dashboard"), reverse("loan_list"), reverse("loan_detail", args=[loan.pk])]


def test_with_redis_stopped_everything_works_and_nothing_is_stale_once_it_is_back(
    redis_server: RedisServer,
    accountant: User,
    officer: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    loan: Loan = ActiveLoanFactory()
    cashier = _sign_in(accountant)
    clerk = login(officer)
    for url in _pages(loan):  # cached: sections, counts, statuses, the cashier's access
        assert cashier.get(url).status_code == 200
    assert clerk.get(reverse("loan_apply")).status_code == 200  # the officer's access, cached
    assert "123.45" not in cashier.get(reverse("loan_detail", args=[loan.pk])).content.decode()

    redis_server.stop()
    with django_capture_on_commit_callbacks(execute=True):
        for url in _pages(loan):  # the same session, read from the database
            assert cashier.get(url).status_code == 200
        assert _sign_in(accountant).get(reverse("dashboard")).status_code == 200
        token = ApiClient().post(
            "/api/auth/token", {"username": accountant.username, "password": PASSWORD}
        )
        assert token.status_code == 200
        api = ApiClient(token.json()["access"])
        assert api.get(f"/api/loans/{loan.pk}").status_code == 200
        assert _pay(api, loan, "123.45", "outage-1").status_code == 201
        assert _pay(api, loan, "123.45", "outage-1").status_code == 201  # a retry, not a second
        officer.groups.remove(Group.objects.get(name="Loan Officer"))  # revoked meanwhile
    assert Repayment.objects.filter(loan=loan).count() == 1
    assert CacheEpoch.current() != ""  # the missed invalidations renewed the epoch

    redis_server.start()
    raw = redis_server.raw()
    # Redis came back with what it held before: the officer's access among it.
    assert raw.exists(f"outage-default:1:access2:{officer.pk}")
    assert clerk.get(reverse("loan_apply")).status_code == 403  # Redis was emptied first
    assert raw.get(f"outage-default:1:{EPOCH_KEY}") is not None
    page = cashier.get(reverse("loan_detail", args=[loan.pk]))  # still signed in
    assert page.status_code == 200
    assert "123.45" in page.content.decode()
    assert cache.get(EPOCH_KEY) == CacheEpoch.current()


def test_a_sign_out_while_redis_is_down_stands_once_it_is_back(
    redis_server: RedisServer,
    settings: Any,
    accountant: User,
    django_capture_on_commit_callbacks: Any,
) -> None:
    browser = _sign_in(accountant)
    assert browser.get(reverse("dashboard")).status_code == 200
    signed_in = browser.cookies[settings.SESSION_COOKIE_NAME].value
    redis_server.stop()
    with django_capture_on_commit_callbacks(execute=True):
        assert browser.post(reverse("logout")).status_code == 302
    redis_server.start()
    assert redis_server.raw().exists(f"outage-default:1:{KEY_PREFIX}{signed_in}")
    # The signed-out session's cookie, sent again: Redis's copy from before is not read.
    browser.cookies[settings.SESSION_COOKIE_NAME] = signed_in
    assert browser.get(reverse("dashboard")).status_code == 302


def test_a_hung_redis_costs_one_timeout_not_one_per_call(
    settings: Any, accountant: User, django_capture_on_commit_callbacks: Any
) -> None:
    hung = SilentServer()
    try:
        location = _use_redis(settings, hung.port)
        settings.KARO_CACHE_BREAKER_SECONDS = 600  # the whole test inside one open window
        loan: Loan = ActiveLoanFactory()
        with django_capture_on_commit_callbacks(execute=True):
            cashier = _sign_in(accountant)
            for url in _pages(loan):
                assert cashier.get(url).status_code == 200
            token = ApiClient().post(
                "/api/auth/token", {"username": accountant.username, "password": PASSWORD}
            )
            api = ApiClient(token.json()["access"])
            assert api.get(f"/api/loans/{loan.pk}").status_code == 200
            assert _pay(api, loan, "10.00", "hung-1").status_code == 201
        assert Repayment.objects.filter(loan=loan, amount=Decimal("10.00")).count() == 1
        breaker = breaker_for(location)
        assert breaker.failures == 1  # one call waited for the timeout; the rest skipped Redis
        assert len(hung.connections) == 1
        assert CacheEpoch.current() != ""
    finally:
        hung.close()
