"""`GET /api/reports/summary`: the dashboard's own figures, in the API's shape."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from reporting.selectors import dashboard_figures
from tests.api.conftest import ApiClient
from tests.factories import ActiveLoanFactory, BorrowerFactory, LoanFactory
from tests.reporting.test_filters import World, make_world

pytestmark = pytest.mark.django_db


def test_summary_matches_the_dashboard(accountant_api: ApiClient) -> None:
    BorrowerFactory()
    LoanFactory()
    loan = ActiveLoanFactory(principal=Decimal("1000.00"), installments=4, disbursed_days_ago=70)
    accountant_api.post(f"/api/loans/{loan.pk}/repayments", {"amount": "100.00"})
    response = accountant_api.get("/api/reports/summary")
    assert response.status_code == 200
    body = response.json()
    figures = dashboard_figures()
    assert body["currency"] == settings.KARO_CURRENCY
    assert body["total_borrowers"] == figures.total_borrowers == 3
    assert body["total_loans"] == figures.total_loans == 2
    assert body["active_principal"] == "1000.00"
    assert body["outstanding"] == f"{figures.outstanding:.2f}"
    assert body["collected_this_month"] == f"{figures.collected_this_month:.2f}"
    assert body["par30"] == f"{figures.par30:.2f}"
    assert Decimal(body["par30"]) > 0  # the first installment is 40 days late
    assert body["loans_by_status"]["pending"] == 1
    assert body["loans_by_status"]["active"] == 1
    days = body["repayments_last_7_days"]
    assert len(days) == 7
    assert days[-1] == {"date": timezone.localdate().isoformat(), "amount": "100.00"}
    assert all(day["amount"] == "0.00" for day in days[:-1])


def test_summary_runs_a_fixed_number_of_queries(
    admin_api: ApiClient, django_assert_max_num_queries: Any
) -> None:
    ActiveLoanFactory()
    with django_assert_max_num_queries(12) as few:
        admin_api.get("/api/reports/summary")
    baseline = len(few.captured_queries)
    for _ in range(5):
        ActiveLoanFactory()
    with django_assert_max_num_queries(baseline):
        assert admin_api.get("/api/reports/summary").json()["total_loans"] == 6


@pytest.fixture
def world(db: Any) -> World:
    return make_world()


def test_the_api_summary_takes_office_and_officer(
    world: World, api_as: Any, admin_user: Any
) -> None:
    api = api_as(admin_user)
    whole = api.get("/api/reports/summary").json()
    assert whole["loans_by_status"]["active"] == 3
    north = api.get("/api/reports/summary", {"office_id": world.north.office.pk})
    assert north.status_code == 200
    assert north.json()["loans_by_status"]["active"] == 2
    assert north.json()["active_principal"] == "3000.00"
    officer = api.get("/api/reports/summary", {"officer_id": world.south.officer.pk}).json()
    assert officer["active_principal"] == "4000.00"
    assert officer["collected_this_month"] == "70.00"  # paid today

    branch_api = api_as(world.north.admin)
    refused = branch_api.get("/api/reports/summary", {"office_id": world.south.office.pk})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "office_id"
    refused = branch_api.get("/api/reports/summary", {"officer_id": world.south.officer.pk})
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "officer_id"
    assert api.get("/api/reports/summary", {"officer_id": 999999}).status_code == 422
