"""Recoveries through the API (Accountant, Admin: the role matrix is in test_permissions)."""

from __future__ import annotations

from typing import Any

import pytest

from lending.models import Repayment
from lending.services.loans import loan_write_off
from tests.api.conftest import ApiClient
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db


def test_record_retry_and_reverse(accountant_api: ApiClient, admin_user: Any) -> None:
    loan = loan_write_off(
        loan=ActiveLoanFactory(disbursed_days_ago=40), user=admin_user, reason="Gone"
    )
    url = f"/api/loans/{loan.pk}/recoveries"
    headers = {"Idempotency-Key": "rec-1"}
    first = accountant_api.post(url, {"amount": "30.00", "method": "cash"}, **headers)
    assert first.status_code == 201, first.content
    answer = first.json()
    assert answer["receipt_number"].startswith("RCT-") and answer["allocations"] == []
    again = accountant_api.post(url, {"amount": "30.00", "method": "cash"}, **headers)
    assert again.status_code == 201 and again.json()["id"] == answer["id"]
    other = accountant_api.post(url, {"amount": "31.00", "method": "cash"}, **headers)
    assert other.status_code == 409
    assert Repayment.objects.filter(is_recovery=True).count() == 1
    too_much = accountant_api.post(url, {"amount": f"{loan.outstanding:.2f}"})
    assert too_much.status_code in (400, 422)
    assert too_much.json()["detail"][0]["field"] == "amount"
    reversed_ = accountant_api.post(
        f"/api/repayments/{answer['id']}/reverse", {"reason": "Wrong loan"}
    )
    assert reversed_.status_code == 200, reversed_.content
    assert reversed_.json()["reversed"] is True


def test_an_active_loan_is_409(accountant_api: ApiClient) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    response = accountant_api.post(f"/api/loans/{loan.pk}/recoveries", {"amount": "1.00"})
    assert response.status_code == 409
    assert not Repayment.objects.exists()
