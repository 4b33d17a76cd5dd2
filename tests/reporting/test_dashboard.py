"""The dashboard: figures against a hand-worked portfolio, the chart JSON, the lists, access,
and a fixed number of queries whatever the portfolio size."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lending.models import Borrower, Loan
from lending.receivers import forget_portfolio
from reporting.selectors import dashboard_figures, installments_due_today, most_overdue_loans
from tests.factories import BorrowerFactory
from tests.reporting.fixtures import build_portfolio
from tests.reporting.helpers import D, days_ago, pay, today, weekly_loan

pytestmark = pytest.mark.django_db

# user, 2 perms, groups, session save (3) + 8 for the figures and lists; the office and
# officer filter's two choice lists (read when the cache has none) fit in the slack, and a
# filter adds nothing more (tests/reporting/test_filters.py).
DASHBOARD_MAX_QUERIES = 16


def chart_json(response: Any) -> dict[str, Any]:
    match = re.search(
        r'<script id="dashboard-data" type="application/json">(.*?)</script>',
        response.content.decode(),
        re.S,
    )
    assert match, "the dashboard must embed its chart data with json_script"
    return json.loads(match.group(1))


def test_empty_database_shows_zeros(admin_client: Client) -> None:
    figures = dashboard_figures()
    assert (figures.total_borrowers, figures.total_loans, figures.active_loans) == (0, 0, 0)
    assert figures.active_principal == figures.outstanding == D("0.00")
    assert figures.collected_this_month == figures.par30 == figures.par30_percent == D("0.00")
    assert set(figures.loans_by_status.values()) == {0}
    assert [d.amount for d in figures.repayments_last_7_days] == [D("0.00")] * 7
    assert installments_due_today() == [] and most_overdue_loans() == []

    response = admin_client.get(reverse("dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "No loans yet." in html
    assert "Nothing falls due today." in html
    assert "No loan is past due." in html
    data = chart_json(response)
    assert data["repayments_last_7_days"]["amounts"] == ["0.00"] * 7


def test_figures_match_the_hand_worked_portfolio() -> None:
    p = build_portfolio()
    f = dashboard_figures()
    assert f.total_borrowers == 7
    assert f.total_loans == 7
    assert f.active_loans == 2
    assert f.active_principal == D("1800.00")
    assert f.outstanding == D("1500.00")
    assert f.collected_this_month == p.collected_since(today().replace(day=1))
    assert f.par30 == D("900.00")
    assert f.par30_percent == D("60.00")
    assert f.overdue_loans == 1
    assert (f.due_today_count, f.due_today_amount) == (2, D("200.00"))
    assert f.loans_by_status == {
        "pending": 1,
        "approved": 0,
        "active": 2,
        "rejected": 1,
        "withdrawn": 1,
        "closed": 1,
        "written_off": 1,
    }
    days = f.repayments_last_7_days
    assert [d.day for d in days] == [days_ago(n) for n in range(6, -1, -1)]
    assert {d.day: d.amount for d in days} == {d.day: p.collected_on(d.day) for d in days}
    assert days[-1].amount == D("300.00")  # today
    assert days[-2].amount == D("0.00")  # yesterday's 40 was reversed
    assert days[-3].amount == D("500.00")
    assert sum(d.count for d in days) == 2


def test_lists_due_today_and_most_overdue() -> None:
    p = build_portfolio()
    due = installments_due_today()
    assert {(i.loan_id, i.number, i.remaining_amount) for i in due} == {
        (p.loans["A"].pk, 10, D("100.00")),
        (p.loans["B"].pk, 1, D("100.00")),
    }
    overdue = most_overdue_loans()
    assert [loan.pk for loan in overdue] == [p.loans["A"].pk]
    assert overdue[0].dpd == 42
    assert overdue[0].overdue_amount == D("600.00")


def test_most_overdue_comes_first_and_the_list_is_limited() -> None:
    loans = [weekly_loan(disbursed_days_ago=days) for days in (10, 40, 25)]
    overdue = most_overdue_loans(limit=2)
    assert [loan.pk for loan in overdue] == [loans[1].pk, loans[2].pk]
    assert [loan.dpd for loan in overdue] == [33, 18]


def test_page_shows_the_figures_and_links_to_the_loans(accountant_client: Client) -> None:
    p = build_portfolio()
    response = accountant_client.get(reverse("dashboard"))
    assert response.status_code == 200
    html = response.content.decode()
    text = re.sub(r"<[^>]+>", "", html)
    assert "USD 1,800.00" in text  # active principal
    assert "USD 1,500.00" in text  # outstanding
    assert "60.00 %" in text and "USD 900.00" in text  # PAR30
    for key in ("A", "B"):
        assert reverse("loan_detail", args=[p.loans[key].pk]) in html
    assert p.loans["A"].number in html


def test_chart_json_shape(officer_client: Client) -> None:
    build_portfolio()
    data = chart_json(officer_client.get(reverse("dashboard")))
    assert data["currency"] == "USD"
    status = data["loans_by_status"]
    assert status["keys"] == [s.value for s in Loan.Status]
    assert status["labels"] == [s.label for s in Loan.Status]
    assert status["counts"] == [1, 0, 2, 1, 1, 1, 1]
    daily = data["repayments_last_7_days"]
    assert daily["dates"] == [days_ago(n).isoformat() for n in range(6, -1, -1)]
    assert len(daily["labels"]) == len(daily["counts"]) == 7
    # Money travels as decimal strings with two places, never floats.
    assert all(isinstance(a, str) and re.fullmatch(r"\d+\.\d{2}", a) for a in daily["amounts"])
    assert daily["amounts"][-1] == "300.00" and daily["amounts"][-3] == "500.00"
    assert daily["counts"][-1] == 1


def test_summary_shape_for_the_api() -> None:
    build_portfolio()
    summary = dashboard_figures().summary()
    assert summary["active_principal"] == "1800.00"
    assert summary["par30"] == "900.00"
    assert summary["loans_by_status"]["active"] == 2
    assert summary["repayments_last_7_days"][-1] == {
        "date": today().isoformat(),
        "amount": "300.00",
    }


def _dashboard_queries(client: Client) -> int:
    """Queries of a dashboard computed afresh (not served from its caches)."""
    forget_portfolio()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    return len(ctx.captured_queries)


def test_query_count_is_fixed_whatever_the_portfolio(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    admin_client.get(reverse("dashboard"))  # warm the session
    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        empty = _dashboard_queries(admin_client)
    build_portfolio()
    small = _dashboard_queries(admin_client)
    for days in range(0, 150, 6):  # 25 more loans, many overdue, some due today
        weekly_loan(disbursed_days_ago=days)
    with django_assert_max_num_queries(DASHBOARD_MAX_QUERIES):
        large = _dashboard_queries(admin_client)
    # No overdue loan: the list's second query (the loans shown) has nothing to read.
    assert empty <= small == large


@pytest.mark.parametrize("role", ["admin", "officer", "accountant"])
def test_every_role_sees_the_dashboard(role: str, request: pytest.FixtureRequest) -> None:
    client = request.getfixturevalue(f"{role}_client")
    assert client.get(reverse("dashboard")).status_code == 200


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_user_without_a_role_is_refused(client: Client) -> None:
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    assert client.get(reverse("dashboard")).status_code == 403


def test_dashboard_is_read_only(admin_client: Client) -> None:
    assert admin_client.post(reverse("dashboard")).status_code == 405


def test_collected_this_month_excludes_last_month() -> None:
    loan = weekly_loan(disbursed_days_ago=60)
    from tests.reporting.helpers import pay

    first = today().replace(day=1)
    pay(loan, "10.00", on=first - timedelta(days=1))
    pay(loan, "20.00", on=first)
    assert dashboard_figures().collected_this_month == D("20.00")


def test_dashboard_is_cached_until_something_changes(
    accountant_client: Client, django_assert_max_num_queries: Any
) -> None:
    from reporting.selectors import dashboard

    loan = weekly_loan(disbursed_days_ago=3)
    accountant_client.get("/")
    # session, user, permissions (the filter's choices are cached too): no aggregates
    with django_assert_max_num_queries(7):
        accountant_client.get("/")
    before = dashboard().figures.collected_this_month
    pay(loan, "20.00")
    assert dashboard().figures.collected_this_month == before + D("20.00")
    BorrowerFactory()
    assert dashboard().figures.total_borrowers == Borrower.objects.count()


def test_a_snapshot_stored_across_a_change_is_not_served() -> None:
    """A request that computed the figures just before a payment committed may store them just
    after the payment dropped the snapshot; they belong to the old generation and are not
    served."""
    from django.core.cache import cache

    from lending.receivers import DASHBOARD_CACHE_KEY
    from reporting.selectors import dashboard

    loan = weekly_loan(disbursed_days_ago=3)
    before = dashboard()
    pay(loan, "20.00")
    cache.set(DASHBOARD_CACHE_KEY, before)  # the late write of the racing request
    after = dashboard()
    assert after.figures.collected_this_month == before.figures.collected_this_month + D("20.00")


def test_an_approved_loan_waits_in_its_own_slice(admin_client: Client) -> None:
    """Approved but not disbursed (a product that disburses separately): counted under
    `approved`, lending nothing yet, so no active principal, outstanding or PAR."""
    from lending.services.loans import loan_approve
    from tests.factories import LoanFactory, LoanProductFactory, OfficerFactory

    product = LoanProductFactory(name="Two-step", disburse_on_approval=False)
    loan_approve(loan=LoanFactory(product=product), user=OfficerFactory())
    f = dashboard_figures()
    assert f.loans_by_status["approved"] == 1 and f.total_loans == 1
    assert (f.active_loans, f.active_principal, f.outstanding) == (0, D("0.00"), D("0.00"))
    data = chart_json(admin_client.get(reverse("dashboard")))
    status = data["loans_by_status"]
    assert status["keys"][1] == "approved" and status["counts"][1] == 1
    assert status["labels"][1] == "Approved"
