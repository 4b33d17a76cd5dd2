"""The aging bucket limits an Admin changes (DESIGN.md "Repayments": buckets 1-30, 31-60,
61-90, 90+, "an Admin may change the bucket limits"): the aging report and its CSV follow,
PAR30 stays 30 days, bad limits are refused with nothing stored, and the change is audited."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse

from lending.models import AuditLog
from reporting.models import AgingSettings, parse_aging_limits
from reporting.portfolio import aging_buckets
from reporting.selectors import aging_report, dashboard_figures
from tests.reporting.helpers import D, weekly_loan

pytestmark = pytest.mark.django_db

ADD = "/admin/reporting/agingsettings/add/"


def test_buckets_follow_the_limits() -> None:
    assert [k for k, _, _ in aging_buckets()] == ["current", "1-30", "31-60", "61-90", "90+"]
    assert aging_buckets((7, 30)) == [
        ("current", "Current (not past due)", None),
        ("1-7", "1\N{EN DASH}7 days", 0),
        ("8-30", "8\N{EN DASH}30 days", 7),
        ("30+", "30+ days", 30),
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "at least one limit"),
        ("30, 30", "rise"),
        ("60, 30", "rise"),
        ("0, 30", "between 1 and 3,650"),
        ("30, 4000", "between 1 and 3,650"),
        ("30, sixty", "“sixty” is not a whole number"),
        ("-5", "not a whole number"),
        ("1,2,3,4,5,6,7", "At most 6 limits"),
    ],
)
def test_bad_limits_are_refused_with_a_reason(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        parse_aging_limits(text)


def test_an_admin_sets_the_limits_and_the_report_follows(admin_client: Client) -> None:
    weekly_loan(principal="1000.00", n=30, disbursed_days_ago=7 + 10)  # 10 days late
    weekly_loan(principal="2000.00", n=30, disbursed_days_ago=7 + 45)  # 45 days late
    before = dashboard_figures()
    assert [r.key for r in aging_report().rows if r.loans] == ["1-30", "31-60"]

    assert "_addanother" not in admin_client.get(ADD).content.decode()  # one row only
    answer = admin_client.post(ADD, {"limits": "7; 14, 60"})
    assert answer.status_code == 302, answer.content
    assert AgingSettings.objects.get().limits == "7, 14, 60"
    report = aging_report()
    assert [r.key for r in report.rows] == ["current", "1-7", "8-14", "15-60", "60+"]
    rows = {r.key: r for r in report.rows}
    assert rows["8-14"].principal_outstanding == D("1000.00")
    assert rows["15-60"].principal_outstanding == D("2000.00")
    assert rows["15-60"].par_days == 14
    assert (report.par(7), report.par(14)) == (D("3000.00"), D("2000.00"))
    # PAR30 is 30 days whatever the buckets: the dashboard does not move.
    after = dashboard_figures()
    assert (after.par30, after.par30_percent) == (before.par30, before.par30_percent)
    assert report.par30 == D("2000.00")

    page = admin_client.get(reverse("report_aging"))
    assert "8\N{EN DASH}14 days" in page.content.decode()
    csv = admin_client.get(reverse("report_aging"), {"format": "csv"})
    assert "15\N{EN DASH}60 days" in csv.content.decode("utf-8-sig")

    entry = AuditLog.objects.get(action=AuditLog.Action.SETTINGS_CHANGED)
    assert entry.details["changes"] == {"limits": ["30, 60, 90", "7, 14, 60"]}
    assert entry.username == "admin_a"


def test_bad_limits_in_the_admin_store_nothing(admin_client: Client) -> None:
    answer = admin_client.post(ADD, {"limits": "60, 30"})
    assert answer.status_code == 200
    assert "must rise" in answer.content.decode()
    assert not AgingSettings.objects.exists()
    assert not AuditLog.objects.filter(action=AuditLog.Action.SETTINGS_CHANGED).exists()


@pytest.mark.parametrize("role_client", ["officer_client", "accountant_client"])
def test_only_an_admin_changes_the_limits(role_client: str, request: Any) -> None:
    client = request.getfixturevalue(role_client)
    assert client.post(ADD, {"limits": "7"}).status_code in (302, 403)
    assert not AgingSettings.objects.exists()
