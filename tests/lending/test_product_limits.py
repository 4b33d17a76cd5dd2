"""A product's default terms fit its own limits (QA: a default rate of 45 % with a maximum of
30 % was saved, so every application for that product opened already refused)."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from lending.models import AuditLog, LoanProduct
from tests.factories import LoanProductFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("rate", ["45", "4.5"])
def test_a_default_rate_outside_the_products_rates_is_refused(rate: str) -> None:
    product = LoanProductFactory.build(
        min_interest_rate=D("5"), max_interest_rate=D("30"), default_interest_rate=D(rate)
    )
    with pytest.raises(ValidationError) as caught:
        product.clean()
    assert caught.value.message_dict == {
        "default_interest_rate": [
            f"The default rate, {rate} %, must be within this product's rates: 5 % to 30 %."
        ]
    }


@pytest.mark.parametrize("rate", ["5", "18", "30"])
def test_a_default_rate_within_the_products_rates_is_accepted(rate: str) -> None:
    LoanProductFactory.build(
        min_interest_rate=D("5"), max_interest_rate=D("30"), default_interest_rate=D(rate)
    ).clean()


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"min_principal": D("500"), "max_principal": D("100")}, "max_principal"),
        ({"min_installments": 12, "max_installments": 6}, "max_installments"),
        ({"min_interest_rate": D("20"), "max_interest_rate": D("10"),
          "default_interest_rate": D("15")}, "max_interest_rate"),
    ],
)  # fmt: skip
def test_a_minimum_above_its_maximum_is_refused(limits: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        LoanProductFactory.build(**limits).clean()
    assert list(caught.value.message_dict) == [field]


def _change_form(admin_client: Any, product: LoanProduct) -> tuple[str, dict[str, Any]]:
    url = reverse("admin:lending_loanproduct_change", args=[product.pk])
    page = admin_client.get(url)
    form = page.context["adminform"].form
    data = {k: (v.pk if hasattr(v, "pk") else v) for k, v in form.initial.items() if v is not None}
    prefixes = [inline.formset.prefix for inline in page.context["inline_admin_formsets"]]
    for prefix in prefixes:  # the fees and the ledger accounts
        data.update({
            f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000",
        })  # fmt: skip
    return url, data


def test_the_admin_names_the_default_rate_and_saves_nothing(admin_client: Any) -> None:
    product = LoanProductFactory(
        min_interest_rate=D("0"), max_interest_rate=D("30"), default_interest_rate=D("12")
    )
    url, data = _change_form(admin_client, product)
    data["default_interest_rate"] = "45"
    response = admin_client.post(url, data)
    assert response.status_code == 200
    assert response.context["adminform"].form.errors == {
        "default_interest_rate": [
            "The default rate, 45 %, must be within this product's rates: 0 % to 30 %."
        ]
    }
    product.refresh_from_db()
    assert product.default_interest_rate == D("12")
    assert not AuditLog.objects.filter(action=AuditLog.Action.PRODUCT_CHANGED).exists()
    data["default_interest_rate"] = "30"
    assert admin_client.post(url, data).status_code == 302
    product.refresh_from_db()
    assert product.default_interest_rate == D("30")
