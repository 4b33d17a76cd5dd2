"""Two Admins changing the calendars of nested offices at the same moment on PostgreSQL: each
change alone leaves a working day, both together would not. One of them must be refused, as
it would be one after the other (every change that adds a day off takes the same lock).

SQLite serialises every writer on its file, so the race cannot happen there and the test is
skipped with the reason printed (`-ra`)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from lending.models import NonWorkingWeekday
from lending.services.calendar import weekdays_off_set
from tests.factories import AdminFactory
from tests.lending.test_concurrency_pg import run_at_once
from tests.offices import branch

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _postgres_and_roles(transactional_db: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite serialises writers on its file, so two calendar changes "
            "cannot race there (run with DATABASE_URL=postgres://...)"
        )
    from accounts.roles import sync_roles

    sync_roles()


def test_nested_calendar_changes_at_once_never_leave_an_office_without_a_working_day() -> None:
    head, north = AdminFactory(), branch("North branch")
    weekdays_off_set(user=head, weekdays=[0, 1, 2])  # every office: Thursday to Sunday open
    for _ in range(5):  # the race is not certain in one try; five tries, each set back after
        results = run_at_once(
            [
                # Alone: every office open on Sundays only.
                lambda: weekdays_off_set(user=head, weekdays=[0, 1, 2, 3, 4, 5]),
                # Alone: North open Thursday to Saturday.
                lambda: weekdays_off_set(user=north.admin, weekdays=[6], office=north.office),
            ]
        )
        refused = [r for r in results if isinstance(r, ValidationError)]
        assert len(refused) == 1, results
        assert "weekdays" in refused[0].message_dict
        others = [r for r in results if isinstance(r, Exception) and r not in refused]
        assert others == [], others
        north_days = set(
            NonWorkingWeekday.objects.filter(office=None).values_list("weekday", flat=True)
        ) | set(
            NonWorkingWeekday.objects.filter(office=north.office).values_list("weekday", flat=True)
        )
        assert len(north_days) < 7, north_days
        NonWorkingWeekday.objects.filter(office=north.office).delete()
        weekdays_off_set(user=head, weekdays=[0, 1, 2])
