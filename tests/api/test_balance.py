"""The outstanding by component in the API: a loan's `balance` (detail and status) and the
summary's split and PAR by product (see tests/reporting/test_portfolio.py for the figures)."""

from __future__ import annotations

from typing import Any

import pytest

from lending.selectors.status import loan_status
from tests.factories import LoanFactory
from tests.reporting.fixtures import review_loan

pytestmark = pytest.mark.django_db


def test_api_loan_detail_and_status_give_the_balance(officer_api: Any) -> None:
    loan = review_loan()
    expected = {
        "principal": "9709.53",
        "interest": "573.60",
        "fees": "0.00",
        "penalties": "0.00",
        "total": "10283.13",
        "not_yet_due": str(loan_status(loan).not_yet_due),
    }
    detail = officer_api.get(f"/api/loans/{loan.pk}")
    assert detail.status_code == 200
    assert detail.json()["balance"] == expected
    assert officer_api.get(f"/api/loans/{loan.pk}/status").json()["balance"] == expected


def test_api_loan_detail_balance_is_null_for_an_application(officer_api: Any) -> None:
    loan = LoanFactory()
    assert officer_api.get(f"/api/loans/{loan.pk}").json()["balance"] is None


def test_api_summary_gives_the_split_and_par_by_product(officer_api: Any) -> None:
    review_loan()
    body = officer_api.get("/api/reports/summary").json()
    assert body["outstanding"] == "10283.13"
    assert body["par30"] == "9709.53" and body["par30_percent"] == "100.00"
    assert body["outstanding_by_component"]["interest"] == "573.60"
    assert body["par_by_product"] == [
        {
            "product_id": None,
            "product": "Custom terms (no product)",
            "active_loans": 1,
            "principal_outstanding": "9709.53",
            "outstanding": "10283.13",
            "par30": "9709.53",
            "par30_percent": "100.00",
        }
    ]
