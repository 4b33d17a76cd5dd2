from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.caches import clear_own_caches
from tests.factories import AccountantFactory, AdminFactory, OfficerFactory

ROLES = ["admin", "officer", "accountant"]

# The audit tables refuse TRUNCATE on PostgreSQL (migration 0009), and a test that uses real
# transactions is emptied by TRUNCATE of every table. Test teardown, and only it, switches the
# refusing triggers off for its flush, as the tables' owner (the test role owns them).
NO_TRUNCATE_TRIGGERS = {
    "lending_auditlog": "lending_auditlog_no_truncate",
    "lending_auditcheckpoint": "lending_auditcheckpoint_no_truncate",
}


def _flush_past_audit_triggers() -> None:
    from django.db.backends.postgresql.operations import DatabaseOperations

    original = DatabaseOperations.sql_flush
    if getattr(original, "past_audit_triggers", False):
        return

    def sql_flush(self: Any, style: Any, tables: Any, **kwargs: Any) -> list[str]:
        sql = original(self, style, tables, **kwargs)
        guarded = [(t, NO_TRUNCATE_TRIGGERS[t]) for t in tables if t in NO_TRUNCATE_TRIGGERS]
        if not sql or not guarded:
            return sql
        off = [f'ALTER TABLE "{t}" DISABLE TRIGGER "{name}";' for t, name in guarded]
        on = [f'ALTER TABLE "{t}" ENABLE TRIGGER "{name}";' for t, name in guarded]
        return off + sql + on

    sql_flush.past_audit_triggers = True  # type: ignore[attr-defined]
    DatabaseOperations.sql_flush = sql_flush  # type: ignore[method-assign]


_flush_past_audit_triggers()


@pytest.fixture(autouse=True)
def _clear_cache() -> Any:
    clear_own_caches()
    yield
    clear_own_caches()


@pytest.fixture
def admin_user(db: Any) -> User:
    return AdminFactory(username="admin_a")


@pytest.fixture
def officer(db: Any) -> User:
    return OfficerFactory(username="officer_a")


@pytest.fixture
def officer2(db: Any) -> User:
    return OfficerFactory(username="officer_b")


@pytest.fixture
def accountant(db: Any) -> User:
    return AccountantFactory(username="accountant_a")


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user: User) -> Client:  # overrides pytest-django's superuser client
    return login(admin_user)


@pytest.fixture
def officer_client(officer: User) -> Client:
    return login(officer)


@pytest.fixture
def officer2_client(officer2: User) -> Client:
    return login(officer2)


@pytest.fixture
def accountant_client(accountant: User) -> Client:
    return login(accountant)


@pytest.fixture(params=ROLES)
def role_client(request: pytest.FixtureRequest) -> tuple[str, Client]:
    """(role name, logged-in client) for each role in turn."""
    return request.param, request.getfixturevalue(f"{request.param}_client")
