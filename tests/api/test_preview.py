"""`POST /api/schedule/preview`: terms in, schedule out, nothing stored. The worked examples of
DESIGN.md (Apache Fineract RS01 / RS04) to the cent."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import numpy_financial as npf
import pytest

from lending.models import AuditLog, Installment, Loan
from tests.api.conftest import ApiClient
from tests.factories import LoanProductFactory

pytestmark = pytest.mark.django_db

WORKED = {"principal": "5000", "annual_interest_rate": "12", "installments": 18}


def preview(client: ApiClient, **body: Any) -> Any:
    response = client.post("/api/schedule/preview", {"disbursement_date": "2026-01-15", **body})
    assert response.status_code == 200, response.json()
    return response.json()


def test_flat_with_whole_units(officer_api: ApiClient) -> None:
    body = preview(officer_api, **WORKED, interest_method="flat", installment_multiple="1")
    rows = body["installments"]
    assert len(rows) == 18
    for row in rows[:17]:
        assert (row["principal"], row["interest"], row["total"]) == ("278.00", "50.00", "328.00")
    assert (rows[17]["principal"], rows[17]["interest"], rows[17]["total"]) == (
        "274.00",
        "50.00",
        "324.00",
    )
    assert body["totals"]["interest"] == "900.00"
    assert body["totals"]["principal"] == "5000.00"
    assert body["totals"]["total"] == "5900.00"
    assert body["projected"] is True


def test_declining_equal_principal(accountant_api: ApiClient) -> None:
    body = preview(
        accountant_api, **WORKED, interest_method="declining", amortization="equal_principal"
    )
    rows = body["installments"]
    assert [r["principal"] for r in rows] == ["277.78"] * 17 + ["277.74"]
    assert [r["interest"] for r in rows[:4]] == ["50.00", "47.22", "44.44", "41.67"]
    assert rows[-1]["interest"] == "2.78"
    assert body["totals"]["interest"] == "475.00"
    assert body["totals"]["principal"] == "5000.00"


def test_emi_agrees_with_numpy_financial(admin_api: ApiClient) -> None:
    body = preview(admin_api, principal="15000", annual_interest_rate="8", installments=60)
    emi = Decimal(str(-npf.pmt(0.08 / 12, 60, 15000))).quantize(Decimal("0.01"))
    assert body["installments"][0]["total"] == str(emi) == "304.15"


def test_due_dates_follow_the_disbursement_date(officer_api: ApiClient) -> None:
    body = preview(officer_api, principal="1000", annual_interest_rate="0", installments=3)
    assert [r["due_date"] for r in body["installments"]] == [
        "2026-02-15",
        "2026-03-15",
        "2026-04-15",
    ]
    assert [r["total"] for r in body["installments"]] == ["333.33", "333.33", "333.34"]


def test_preview_stores_nothing(officer_api: ApiClient) -> None:
    before = AuditLog.objects.count()
    preview(officer_api, **WORKED)
    assert not Loan.objects.exists()
    assert not Installment.objects.exists()
    assert AuditLog.objects.count() == before


def test_preview_checks_the_product_limits(officer_api: ApiClient) -> None:
    product = LoanProductFactory(max_installments=12)
    response = officer_api.post(
        "/api/schedule/preview",
        {**WORKED, "product_id": product.pk, "disbursement_date": "2026-01-15"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "installments"


def test_preview_names_the_bad_field(officer_api: ApiClient) -> None:
    response = officer_api.post(
        "/api/schedule/preview",
        {**WORKED, "grace_periods": 18, "disbursement_date": "2026-01-15"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "grace_periods"


def test_schedule_past_year_9999_is_422(officer_api: ApiClient) -> None:
    response = officer_api.post(
        "/api/schedule/preview", {**WORKED, "disbursement_date": "9999-06-01"}
    )
    assert response.status_code == 422
