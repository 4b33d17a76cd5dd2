"""The app runs as a PostgreSQL role that does not own the tables (README, "Running in
production"): everything it does works, while erasing or rewriting the audit log is refused,
and the tables' owner cannot TRUNCATE the log either without first dropping a trigger.

PostgreSQL only: SQLite has no roles, privileges or triggers here; skipped with the reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

import pytest
from django.db import DatabaseError, connection, transaction
from django.utils import timezone
from psycopg.sql import quote as quote_literal

from lending.audit import audit_checkpoint, audit_record, verify_audit_log
from lending.models import AuditCheckpoint, AuditLog
from lending.services.close_day import day_close
from lending.services.repayments import repayment_record
from tests.factories import AccountantFactory, ActiveLoanFactory

pytestmark = pytest.mark.postgres

# The README's grants for the app's role, run by the owner after `migrate`.
APP_ROLE_GRANTS = [
    "GRANT USAGE ON SCHEMA public TO {role}",
    "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {role}",
    "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {role}",
    "REVOKE UPDATE, DELETE ON lending_auditlog, lending_auditcheckpoint FROM {role}",
]

# What someone holding the app's database credentials might try, and must not manage.
REFUSED = [
    "TRUNCATE lending_auditlog",
    "TRUNCATE lending_auditcheckpoint",
    "DROP TRIGGER lending_auditlog_no_truncate ON lending_auditlog",
    "ALTER TABLE lending_auditlog DISABLE TRIGGER lending_auditlog_no_update_delete",
    "ALTER TABLE lending_auditlog OWNER TO CURRENT_USER",
    "UPDATE lending_auditlog SET username = 'nobody'",
    "DELETE FROM lending_auditlog",
    "UPDATE lending_auditcheckpoint SET row_count = 0",
    "DELETE FROM lending_auditcheckpoint",
]


@pytest.fixture(autouse=True)
def _postgres_only(db: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: roles, table ownership and triggers are PostgreSQL's "
            "(run with DATABASE_URL=postgres://...)"
        )


def role_name(kind: str) -> str:
    return f"karo_test_{kind}_{os.getpid()}"  # roles are cluster-wide: one per test worker


def refused(sql: str) -> str:
    """Run `sql` in a savepoint; return PostgreSQL's refusal (fails the test if it ran)."""
    with pytest.raises(DatabaseError) as caught, transaction.atomic(), connection.cursor() as c:
        c.execute(sql)
    return str(caught.value)


def some_app_work() -> None:
    """Ordinary writes across the app: users and roles, a loan, a payment (receipt numbers,
    allocations, the journal), the daily close and a checkpoint, all audited."""
    cashier = AccountantFactory()
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    repayment_record(
        loan=loan, user=cashier, amount=Decimal("50.00"), paid_on=timezone.localdate(),
        method="cash",
    )  # fmt: skip
    audit_record(action=AuditLog.Action.SETTINGS_CHANGED, user=cashier, details={"x": 1})
    day_close()
    audit_checkpoint(kind=AuditCheckpoint.Kind.MANUAL)


@contextmanager
def as_role(role: str) -> Iterator[None]:
    """Inside the test's transaction, act as `role` (SET LOCAL ROLE): every query the app's
    code makes is checked against that role's privileges, and it all rolls back."""
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        for grant in APP_ROLE_GRANTS:
            cursor.execute(grant.format(role=role))
        cursor.execute(f"SET LOCAL ROLE {role}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def test_the_app_works_as_a_role_that_does_not_own_the_tables() -> None:
    role = role_name("app")
    with as_role(role):
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user")
            assert cursor.fetchone()[0] == role
        some_app_work()
        report = verify_audit_log()
        assert report.intact, [str(p) for p in report.problems]
        assert report.rows >= 3 and report.checkpoints == 2


def test_the_app_role_cannot_erase_or_rewrite_the_audit_log() -> None:
    role = role_name("app")
    some_app_work()
    with as_role(role):
        for sql in REFUSED:
            why = refused(sql)
            assert "permission denied" in why or "must be owner" in why, (sql, why)
    assert verify_audit_log().intact


def test_without_the_revoke_the_triggers_still_refuse_update_and_delete() -> None:
    role = role_name("lax")
    some_app_work()
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role} NOLOGIN")
        for grant in APP_ROLE_GRANTS[:3]:  # a role given everything, the REVOKE forgotten
            cursor.execute(grant.format(role=role))
        cursor.execute(f"GRANT TRUNCATE ON lending_auditlog, lending_auditcheckpoint TO {role}")
        cursor.execute(f"SET LOCAL ROLE {role}")
    try:
        for sql in REFUSED:
            why = refused(sql)
            assert "append-only" in why or "must be owner" in why, (sql, why)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET ROLE")


def test_truncate_is_refused_for_the_tables_owner_too() -> None:
    some_app_work()
    for table in ("lending_auditlog", "lending_auditcheckpoint"):
        assert f"{table} is append-only: TRUNCATE is not allowed" in refused(f"TRUNCATE {table}")
        assert "append-only: DELETE" in refused(f"DELETE FROM {table}")  # noqa: S608
        assert "append-only: UPDATE" in refused(f"UPDATE {table} SET id = id")  # noqa: S608
    assert verify_audit_log().intact


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_app_signs_in_as_its_own_role_over_a_real_connection(
    transactional_db: Any,
) -> None:
    """A separate login as the app's role (as DATABASE_URL would give it), with grants the
    owner committed: the audit path works, the log cannot be truncated."""
    from accounts.roles import sync_roles

    sync_roles()  # transactional tests start from emptied tables
    role, password = role_name("login"), "app-role-test-password"
    with connection.cursor() as cursor:
        # A utility statement takes no bound parameters (they are bound on the server): the
        # password goes in as a quoted literal.
        cursor.execute(f"CREATE ROLE {role} LOGIN PASSWORD {quote_literal(password)}")
        for grant in APP_ROLE_GRANTS:
            cursor.execute(grant.format(role=role))
    owner = dict(connection.settings_dict)
    connection.close()
    connection.settings_dict.update(USER=role, PASSWORD=password)
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_user, session_user")
            assert cursor.fetchone() == (role, role)
        some_app_work()
        assert verify_audit_log().intact
        assert "permission denied" in refused("TRUNCATE lending_auditlog")
        assert "must be owner" in refused(
            "DROP TRIGGER lending_auditlog_no_truncate ON lending_auditlog"
        )
    finally:
        connection.close()
        connection.settings_dict.update(USER=owner["USER"], PASSWORD=owner["PASSWORD"])
        with connection.cursor() as cursor:
            cursor.execute(f"DROP OWNED BY {role}")
            cursor.execute(f"DROP ROLE {role}")
