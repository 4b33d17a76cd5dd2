"""The daily close page (/collections/daily-close/): Admin only, when the close last ran, the
latest runs with their chunks and results in a fixed number of queries, and a button that
runs the close through the command's service, refused for a day running or done."""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from django.utils.timezone import localtime

from collecting.models import DayCloseChunk, DayCloseRun
from karo.inputs import INVALID_DATE
from lending.models import AuditLog, DayClose
from tests.factories import LoanProductFactory
from tests.reporting.helpers import D, days_ago, today, weekly_loan

pytestmark = pytest.mark.django_db

PAGE = "/collections/daily-close/"
RUN = "/collections/daily-close/run/"


def _late_portfolio(n: int = 1) -> None:
    product = LoanProductFactory(
        penalty_type="flat", penalty_amount=D("10.00"), penalty_grace_days=0
    )
    for _ in range(n):
        weekly_loan(disbursed_days_ago=28, product=product)  # 3 installments late by today


def _day(on: Any) -> str:
    return on.strftime("%d/%m/%Y")


def test_the_addresses_are_stable() -> None:
    assert reverse("day_close") == PAGE and reverse("day_close_run") == RUN


@pytest.mark.parametrize("role", ["officer_client", "accountant_client"])
def test_only_an_admin_may_see_or_run_the_close(request: pytest.FixtureRequest, role: str) -> None:
    client: Client = request.getfixturevalue(role)
    assert client.get(PAGE).status_code == 403
    response = client.post(RUN, {"on": _day(today())})
    assert response.status_code == 403
    assert not DayCloseRun.objects.exists() and not DayClose.objects.exists()


def test_anonymous_is_sent_to_sign_in(client: Client) -> None:
    for response in (client.get(PAGE), client.post(RUN, {"on": _day(today())})):
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert not DayCloseRun.objects.exists()


def test_running_it_is_a_post(admin_client: Client) -> None:
    assert admin_client.get(RUN).status_code == 405
    assert not DayCloseRun.objects.exists()


def test_a_day_never_closed_says_so(admin_client: Client) -> None:
    html = admin_client.get(PAGE).content.decode()
    assert "The daily close has never run." in html and "Not closed yet" in html
    assert f'name="on" value="{_day(today())}"' in html  # today, day first
    assert ">Run the daily close</button>" in html


def test_an_admin_runs_the_close_of_today(admin_client: Client, admin_user: User) -> None:
    _late_portfolio()
    response = admin_client.post(RUN, {"on": _day(today())}, follow=True)
    assert response.redirect_chain == [(PAGE, 302)]
    html = response.content.decode()
    assert f"{today():%d %b %Y} is closed: 1 active loans checked, 1 overdue, 3 late " in html
    assert "(USD 30.00)" in html
    run = DayCloseRun.objects.get()
    assert run.on == today() and run.started_by == admin_user and run.finished_at is not None
    assert DayClose.objects.filter(on=today()).exists()
    entry = AuditLog.objects.get(action=AuditLog.Action.DAY_CLOSED)
    assert entry.user == admin_user and entry.details["penalties_applied"] == 3
    # The page now shows the day closed and the run with its chunks and penalties.
    row = html.split('<table id="day-close-runs">')[1].split("</tbody>")[0]
    cells = [re.sub(r"<[^>]+>", "", c).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", row)]
    assert cells == [
        f"{today():%a %d %b %Y}", f"{localtime(run.started_at):%d %b %Y %H:%M}",
        f"{localtime(run.finished_at):%d %b %Y %H:%M}", "Done", "1 / 1", "1", "1", "3 (USD 30.00)",
        admin_user.get_full_name() or admin_user.get_username(),
    ]  # fmt: skip
    assert "Closed</span>" in html.split('id="day-close-status"')[1].split("</dl>")[0]


def test_a_missed_day_can_be_closed(admin_client: Client) -> None:
    _late_portfolio()
    admin_client.post(RUN, {"on": _day(days_ago(1))})
    assert DayCloseRun.objects.get().on == days_ago(1)
    assert list(DayClose.objects.values_list("on", flat=True)) == [days_ago(1)]


def test_a_day_already_closed_is_refused_and_nothing_runs(admin_client: Client) -> None:
    _late_portfolio()
    call_command("close_day", stdout=StringIO())  # the command closed today
    runs, entries = DayCloseRun.objects.count(), AuditLog.objects.count()
    response = admin_client.post(RUN, {"on": _day(today())})
    assert response.status_code == 200
    assert f"{today():%d %b %Y} is already closed" in response.content.decode()
    assert DayCloseRun.objects.count() == runs and AuditLog.objects.count() == entries


def test_a_day_whose_close_is_running_is_refused(admin_client: Client) -> None:
    _late_portfolio()
    run = DayCloseRun.objects.create(on=today(), batch_size=500)  # a worker took it, unfinished
    DayCloseChunk.objects.create(run=run, number=0, first_loan_id=1, last_loan_id=9, loans=4)
    response = admin_client.post(RUN, {"on": _day(today())})
    html = response.content.decode()
    assert f"The close of {today():%d %b %Y} started at " in html and "is still running" in html
    assert "(0 of 4 loans done)" in html and "manage.py close_day --date" in html
    assert not DayClose.objects.exists()
    assert DayCloseChunk.objects.get().done_at is None  # nothing was resumed by the click
    page = admin_client.get(PAGE).content.decode()
    assert "Running</span>" in page and "0 of 1 chunk (0 of 4 loans) done" in page


def test_a_future_day_or_a_bad_date_is_refused(admin_client: Client) -> None:
    future = admin_client.post(RUN, {"on": _day(today() + timedelta(days=1))})
    assert "A day in the future cannot be closed." in future.content.decode()
    bad = admin_client.post(RUN, {"on": "12/31/2026"})
    assert INVALID_DATE in bad.content.decode()
    empty = admin_client.post(RUN, {})
    assert "Enter the day to close." in empty.content.decode()
    assert not DayCloseRun.objects.exists() and not DayClose.objects.exists()


def test_the_page_runs_a_fixed_number_of_queries(
    admin_client: Client, django_assert_num_queries: Any
) -> None:
    _late_portfolio(3)
    admin_client.get(PAGE)  # the user's access cached
    with django_assert_num_queries(3):  # the user, the runs with their chunks, the last day
        admin_client.get(PAGE)
    for n in range(1, 8):
        call_command("close_day", "--date", days_ago(n).isoformat(), "--batch-size", "1",
                     stdout=StringIO())  # fmt: skip
    with django_assert_num_queries(3):
        response = admin_client.get(PAGE)
    runs = response.context["runs"]
    assert len(runs) == 7 and {(r.chunks_done, r.chunks, r.loans) for r in runs} == {(3, 3, 3)}


def test_days_closed_in_one_process_are_not_called_never_run(admin_client: Client) -> None:
    """The demo's history closes its days with the one-process close (no run rows): the page
    says so instead of "has not run yet" beside a last day closed."""
    from lending.services.close_day import day_close

    day_close(on=days_ago(1))
    html = admin_client.get(PAGE).content.decode()
    assert "has not run yet" not in html
    assert "were closed directly" in html
