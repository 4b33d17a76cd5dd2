"""The office and loan-officer filter of the dashboard, the reports and their CSVs (DESIGN.md
"Offices, loan officers, holidays and origination"), and PAR30 by office on the aging report
(the API summary's filter: tests/api/test_reports.py). Two branches under the head office;
North has two officers."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from lending.models import Loan
from lending.receivers import forget_portfolio
from reporting.selectors import Narrow, aging_report
from tests.factories import ActiveLoanFactory, BorrowerFactory
from tests.offices import Branch, branch
from tests.reporting.helpers import pay, today
from tests.reporting.test_dashboard import chart_json

pytestmark = pytest.mark.django_db


@dataclass
class World:
    north: Branch
    south: Branch
    loans: dict[str, Loan]


def _loan(b: Branch, officer: User, name: str, days_ago: int, principal: str) -> Loan:
    borrower = BorrowerFactory(created_by=officer, full_name=name)
    return ActiveLoanFactory(
        borrower=borrower,
        submitted_by=officer,
        approved_by=b.admin,
        disbursed_days_ago=days_ago,
        principal=Decimal(principal),
    )


def make_world() -> World:
    north, south = branch("North branch"), branch("South branch")
    loans = {
        "north1": _loan(north, north.officer, "Nora North", 100, "1000.00"),  # in PAR30
        "north2": _loan(north, north.officer2, "Ned North", 3, "2000.00"),
        "south": _loan(south, south.officer, "Sam South", 100, "4000.00"),  # in PAR30
    }
    pay(loans["north2"], "50.00", user=north.accountant)
    pay(loans["south"], "70.00", user=south.accountant)
    return World(north=north, south=south, loans=loans)


@pytest.fixture
def world(db: Any) -> World:
    return make_world()


def client_of(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _active(response: Any) -> int:
    assert response.status_code == 200, response.content[:500]
    data = chart_json(response)["loans_by_status"]
    return dict(zip(data["keys"], data["counts"], strict=True))["active"]


# --- dashboard ------------------------------------------------------------------------------


def test_the_dashboard_narrows_to_an_office_and_to_an_officer(
    world: World, admin_client: Client
) -> None:
    assert _active(admin_client.get("/")) == 3
    assert _active(admin_client.get("/", {"office": world.north.office.pk})) == 2
    assert _active(admin_client.get("/", {"office": world.south.office.pk})) == 1
    assert _active(admin_client.get("/", {"officer": world.north.officer2.pk})) == 1
    both = {"office": world.south.office.pk, "officer": world.north.officer.pk}
    assert _active(admin_client.get("/", both)) == 0
    # Each filter has its own cached copy: the whole portfolio is unchanged after them.
    assert _active(admin_client.get("/")) == 3


def test_a_bad_filter_is_a_form_error_and_the_figures_stay_whole(world: World) -> None:
    head = branch("Head region")  # North under it: its Admin sees two offices
    from accounts.offices import office_create

    sub = office_create(name="Region sub", parent=head.office)
    client = client_of(head.admin)
    response = client.get("/", {"office": world.south.office.pk})  # not theirs
    assert response.status_code == 200
    assert "Choose one of your offices." in response.content.decode()
    assert _active(response) == 0  # their own (empty) scope, unfiltered
    assert client.get("/", {"office": sub.pk}).status_code == 200
    response = client_of(world.north.admin).get("/", {"officer": "nobody"})
    assert "Choose one of the officers listed." in response.content.decode()
    assert _active(response) == 2
    # South's officer has no loans in North: not a choice there.
    response = client_of(world.north.admin).get("/", {"officer": world.south.officer.pk})
    assert "Choose one of the officers listed." in response.content.decode()
    assert _active(response) == 2


def test_a_one_office_user_is_offered_no_office_filter(world: World) -> None:
    page = client_of(world.north.officer).get("/").content.decode()
    assert 'name="office"' not in page
    assert 'name="officer"' in page


def test_a_filter_adds_no_query_to_the_dashboard(world: World, admin_client: Client) -> None:
    """The filter's two choice lists (offices, officers) are read again after any change,
    filtered or not (DASHBOARD_MAX_QUERIES counts them); the narrowed figures cost what the
    whole do."""
    admin_client.get("/")

    def count(params: dict[str, Any]) -> int:
        forget_portfolio()
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get("/", params).status_code == 200
        return len(ctx.captured_queries)

    whole = count({})
    assert count({"office": world.north.office.pk}) == whole
    assert count({"office": world.north.office.pk, "officer": world.north.officer.pk}) <= whole


def test_a_warm_dashboard_reads_its_filter_choices_from_the_cache(
    world: World, admin_client: Client
) -> None:
    """Offices and officers are kept with the dashboard under the portfolio generation: served
    from the cache, the page reads no office and no officer list."""
    admin_client.get("/")
    with CaptureQueriesContext(connection) as ctx:
        page = admin_client.get("/").content.decode()
    tables = " ".join(q["sql"] for q in ctx.captured_queries)
    assert "accounts_office" not in tables and "lending_loan" not in tables, tables
    assert "North branch" in page and world.north.officer.get_full_name() in page


def test_an_office_created_or_renamed_is_offered_at_once(
    world: World, admin_client: Client
) -> None:
    from accounts.offices import office_create

    admin_client.get("/")  # choices cached
    office_create(name="East branch", parent=None)
    assert "East branch" in admin_client.get("/").content.decode()
    world.north.office.name = "Northern branch"
    world.north.office.save()
    page = admin_client.get("/").content.decode()
    assert "Northern branch" in page and ">North branch<" not in page


def test_the_most_overdue_list_keeps_to_the_scope_and_the_filter(world: World) -> None:
    from reporting.selectors import most_overdue_loans

    north, south = world.loans["north1"], world.loans["south"]
    assert [loan.pk for loan in most_overdue_loans(user=world.north.admin)] == [north.pk]
    assert [loan.pk for loan in most_overdue_loans(user=world.south.accountant)] == [south.pk]
    everyone = {loan.pk for loan in most_overdue_loans()}
    assert everyone == {north.pk, south.pk}
    narrowed = Narrow(officer_id=world.north.officer2.pk)  # Ned's loan is 3 days old
    assert most_overdue_loans(narrow=narrowed) == []


# --- reports --------------------------------------------------------------------------------


def _csv(response: Any) -> list[list[str]]:
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def test_aging_shows_par30_by_office(world: World, admin_client: Client) -> None:
    offices = [(world.north.office.pk, "North branch"), (world.south.office.pk, "South branch")]
    report = aging_report(offices=offices)
    by_office = {o.name: o for o in report.by_office}
    assert set(by_office) == {"North branch", "South branch"}
    north = aging_report(narrow=Narrow(office_id=1, office_path=world.north.office.path))
    assert by_office["North branch"].par30 == north.par30 > 0
    assert by_office["North branch"].outstanding.principal == north.total.outstanding.principal
    assert by_office["North branch"].loans == 2
    assert by_office["South branch"].par30_percent > by_office["North branch"].par30_percent
    assert sum((o.par30 for o in report.by_office), Decimal(0)) == report.par30

    page = admin_client.get("/reports/aging/")
    assert page.status_code == 200
    assert 'id="par-by-office"' in page.content.decode()
    rows = _csv(admin_client.get("/reports/aging/", {"format": "csv"}))
    start = next(i for i, r in enumerate(rows) if r and r[0] == "By office")
    names = [r[0] for r in rows[start + 1 :]]
    assert names == ["North branch", "South branch"]
    assert rows[start][-2:] == ["PAR30 (principal)", "PAR30 %"]

    narrowed = admin_client.get("/reports/aging/", {"office": world.south.office.pk})
    assert narrowed.context["report"].total.loans == 1
    rows = _csv(
        admin_client.get("/reports/aging/", {"office": world.south.office.pk, "format": "csv"})
    )
    start = next(i for i, r in enumerate(rows) if r and r[0] == "By office")
    assert [r[0] for r in rows[start + 1 :]] == ["South branch"]


def test_a_branch_user_gets_no_by_office_table(world: World) -> None:
    page = client_of(world.north.admin).get("/reports/aging/").content.decode()
    assert 'id="par-by-office"' not in page


def test_officers_disbursements_and_collections_narrow(world: World, admin_client: Client) -> None:
    # A year back, counted in days (29 February has no day in the year before).
    span = {"date_from": (today() - timedelta(days=365)).isoformat(), "date_to": ""}
    span["date_to"] = today().isoformat()
    north = {**span, "office": world.north.office.pk}
    officers = admin_client.get("/reports/officers/", north).context["report"]
    assert {r.user_id for r in officers.rows} == {world.north.officer.pk, world.north.officer2.pk}
    rows = _csv(admin_client.get("/reports/officers/", {**north, "format": "csv"}))
    assert {r[1] for r in rows[1:-1]} == {"north_officer", "north_officer2"}

    one = {**span, "officer": world.north.officer2.pk}
    page = admin_client.get("/reports/disbursements/", one)
    assert [loan.pk for loan in page.context["page_obj"]] == [world.loans["north2"].pk]
    rows = _csv(admin_client.get("/reports/disbursements/", {**one, "format": "csv"}))
    assert [r[0] for r in rows[1:]] == [world.loans["north2"].number]

    recent = {"date_from": today().replace(day=1).isoformat(), "date_to": today().isoformat()}
    whole = admin_client.get("/reports/collections/", recent).context["report"]
    assert whole.total == Decimal("120.00")
    south = {**recent, "office": world.south.office.pk}
    assert admin_client.get("/reports/collections/", south).context["report"].total == Decimal(
        "70.00"
    )
    by_officer = {**recent, "officer": world.north.officer2.pk}
    report = admin_client.get("/reports/collections/", by_officer).context["report"]
    assert report.total == Decimal("50.00")
    rows = _csv(admin_client.get("/reports/collections/", {**by_officer, "format": "csv"}))
    assert rows[-1][-1] == "50.00"


@pytest.mark.parametrize("url", ["aging", "collections", "disbursements", "officers"])
def test_a_report_filter_adds_no_query(world: World, admin_client: Client, url: str) -> None:
    """The choices are read on every view (REPORT_MAX_QUERIES counts them); narrowing, and the
    aging report's PAR by office, cost nothing more."""
    path = f"/reports/{url}/"
    admin_client.get(path)

    def count(params: dict[str, Any]) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert admin_client.get(path, params).status_code == 200
        return len(ctx.captured_queries)

    whole = count({})
    assert count({"office": world.north.office.pk, "officer": world.north.officer.pk}) <= whole


def test_a_bad_report_filter_is_a_field_error(world: World) -> None:
    client = client_of(world.north.admin)
    for url in ("/reports/aging/", "/reports/officers/", "/reports/collections/"):
        response = client.get(url, {"officer": world.south.officer.pk, "format": "csv"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        assert "Choose one of the officers listed." in response.content.decode()
        assert response.context["report"] is None
