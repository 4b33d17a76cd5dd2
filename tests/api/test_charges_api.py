"""The API shows a loan's fees (DESIGN.md "Charges"): `charge_terms` and `fees_deducted` on a
loan, the schedule's `fees_deducted`, and the schedule preview with a product's fees. The
numbers are those of tests/lending/test_charges.py: a weekly interest-free 1200.00 / 12 loan
with 2 % deducted (24.00), 10.00 on installment 1 and 1.5 % of each installment (1.50)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.lending.test_charges import product_with_fees
from tests.reporting.helpers import weekly_loan


@pytest.mark.django_db
def test_the_api_gives_the_charge_terms_and_the_fees_deducted(admin_api: Any) -> None:
    product = product_with_fees()
    loan = weekly_loan(product=product)
    body = admin_api.get(f"/api/loans/{loan.pk}").json()
    assert body["fees_deducted"] == "24.00"
    assert [(c["name"], c["time"], c["amount"], c["deducted"]) for c in body["charge_terms"]] == [
        ("Processing", "disbursement", "2", True),
        ("Service", "installment", "1.5", False),
        ("Application", "disbursement", "10", False),
    ]
    schedule = admin_api.get(f"/api/loans/{loan.pk}/schedule").json()
    assert schedule["fees_deducted"] == "24.00"
    assert schedule["totals"]["fees"] == "28.00"
    # The preview with the product: the same fees, nothing stored.
    preview = admin_api.post(
        "/api/schedule/preview",
        {
            "product_id": product.pk, "principal": "1200.00", "annual_interest_rate": "0",
            "installments": 12, "frequency": "weekly", "disbursement_date": "2026-01-05",
        },
    ).json()  # fmt: skip
    assert preview["fees_deducted"] == "24.00"
    assert [r["fees"] for r in preview["installments"]] == ["11.50"] + ["1.50"] * 11
    assert preview["totals"]["total"] == "1228.00"


@pytest.mark.django_db
def test_a_pending_applications_schedule_shows_its_products_fees(admin_api: Any) -> None:
    from tests.factories import LoanFactory
    from tests.reporting.helpers import D

    loan = LoanFactory(
        principal=D("1200.00"), installments=12, frequency="weekly",
        product=product_with_fees(), annual_interest_rate=D("0"),
    )  # fmt: skip
    body = admin_api.get(f"/api/loans/{loan.pk}/schedule").json()
    assert body["projected"] is True
    assert body["fees_deducted"] == "24.00"  # 2 % of 1200.00
    assert body["totals"]["fees"] == "28.00"  # 10.00 + 12 x 1.50
    assert admin_api.get(f"/api/loans/{loan.pk}").json()["charge_terms"] == []  # not approved


@pytest.mark.django_db
def test_a_pending_applications_projected_total_includes_its_products_fees(
    admin_api: Any,
) -> None:
    from tests.factories import LoanFactory
    from tests.reporting.helpers import D

    loan = LoanFactory(
        principal=D("1200.00"), installments=12, frequency="weekly",
        product=product_with_fees(), annual_interest_rate=D("0"),
    )  # fmt: skip
    read = admin_api.get(f"/api/loans/{loan.pk}").json()
    listed = admin_api.get("/api/loans", {"status": "pending"}).json()["items"]
    schedule = admin_api.get(f"/api/loans/{loan.pk}/schedule").json()
    # 1200.00 principal + 10.00 + 12 x 1.50 repaid; the 24.00 deducted is not repaid.
    for answer in (read, listed[0]):
        assert answer["projected"] is True
        assert answer["total_repayable"] == answer["outstanding"] == "1228.00"
    assert schedule["totals"]["total"] == read["total_repayable"]
    # Approved (not disbursed yet): its own fees, frozen at approval, on the approved amount.
    loan.product.disburse_on_approval = False
    loan.product.save()
    assert (
        admin_api.post(f"/api/loans/{loan.pk}/approve", {"approved_amount": "600.00"}).status_code
        == 200
    )
    approved = admin_api.get(f"/api/loans/{loan.pk}").json()
    # 600.00 + 10.00 + 12 x 0.75 (1.5 % of 50.00)
    assert (approved["status"], approved["projected"]) == ("approved", True)
    assert approved["total_repayable"] == "619.00"
    again = admin_api.get(f"/api/loans/{loan.pk}/schedule").json()
    assert again["totals"]["total"] == "619.00"
