"""Parallel guesses and parallel refreshes on PostgreSQL: a throttle that counts after the
password check, or a refresh token read without a lock, would let these through.

SQLite serialises every writer on its file, so the races cannot happen there and the tests
are skipped with the reason printed (`-ra`).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.db import connection
from django.test import Client

from accounts import throttle
from accounts.models import LoginFailure, RefreshToken
from lending.models import AuditLog
from tests.factories import PASSWORD, OfficerFactory
from tests.lending.test_concurrency_pg import run_at_once

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _postgres_and_roles(transactional_db: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite serialises writers on its file, so parallel sign-ins "
            "cannot race there (run with DATABASE_URL=postgres://...)"
        )
    from accounts.roles import sync_roles

    sync_roles()


def post_json(path: str, body: dict[str, str]) -> Any:
    response = Client(REMOTE_ADDR="198.51.100.7").post(
        path, json.dumps(body), content_type="application/json"
    )
    return response.status_code


def test_parallel_guesses_get_no_more_password_checks_than_the_limit() -> None:
    OfficerFactory(username="olu")
    guesses = [
        lambda: post_json("/api/auth/token", {"username": "olu", "password": "guess"})
        for _ in range(12)
    ]
    statuses = run_at_once(guesses)
    assert set(statuses) <= {401, 429}, statuses
    # Each guess is counted before its password is checked: at most PAIR_LIMIT were checked.
    assert LoginFailure.objects.count() <= throttle.PAIR_LIMIT
    checked = AuditLog.objects.filter(action=AuditLog.Action.LOGIN_FAILED).exclude(
        details__has_key="refused"
    )
    assert checked.count() <= throttle.PAIR_LIMIT
    right = post_json("/api/auth/token", {"username": "olu", "password": PASSWORD})
    assert right in {200, 429}
    if LoginFailure.objects.count() == throttle.PAIR_LIMIT:
        assert right == 429


def test_a_refresh_token_sent_twice_at_once_works_at_most_once_and_revokes() -> None:
    OfficerFactory(username="olu")
    tokens = Client().post(
        "/api/auth/token",
        json.dumps({"username": "olu", "password": PASSWORD}),
        content_type="application/json",
    )
    refresh = tokens.json()["refresh"]
    statuses = run_at_once(
        [lambda: post_json("/api/auth/token/refresh", {"refresh": refresh}) for _ in range(4)]
    )
    assert sorted(statuses) == [200, 401, 401, 401], statuses
    assert not RefreshToken.objects.filter(revoked_at__isnull=True).exists()
