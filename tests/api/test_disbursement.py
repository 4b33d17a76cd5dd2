"""Approval and disbursement as two steps through the API (issue 16, bullet 4): `approved`,
`POST /loans/{id}/disburse`, the undos, and bad input refused on its field with nothing
written. The role matrix is in test_permissions."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.utils import timezone

from lending.models import AuditLog, Loan, LoanTransaction
from tests.api.conftest import ApiClient
from tests.factories import LoanFactory, LoanProductFactory, OfficerFactory

pytestmark = pytest.mark.django_db


def _application(**kwargs: Any) -> Loan:
    product = LoanProductFactory(name="Two-step", disburse_on_approval=False)
    return LoanFactory(product=product, principal=Decimal("5000.00"), **kwargs)


def _footprint() -> tuple[int, int]:
    return AuditLog.objects.count(), LoanTransaction.objects.count()


def test_approve_disburse_and_undo(officer2_api: ApiClient, admin_api: ApiClient) -> None:
    loan = _application()
    expected = (timezone.localdate() + timedelta(days=2)).isoformat()
    approved = officer2_api.post(
        f"/api/loans/{loan.pk}/approve",
        {"approved_amount": "4000.00", "expected_disbursement_date": expected},
    )
    assert approved.status_code == 200, approved.content
    body = approved.json()
    assert (body["status"], body["approved_amount"]) == ("approved", "4000.00")
    assert body["expected_disbursement_date"] == expected
    assert body["approved_on"] == timezone.localdate().isoformat()
    assert body["disbursement_date"] is None and body["projected"] is True
    schedule = admin_api.get(f"/api/loans/{loan.pk}/schedule").json()
    assert schedule["projected"] is True and schedule["totals"]["principal"] == "4000.00"

    disbursed = admin_api.post(
        f"/api/loans/{loan.pk}/disburse",
        {"amount": "3800.00", "method": "bank_transfer", "reference": "TRF 99"},
    )
    assert disbursed.status_code == 200, disbursed.content
    body = disbursed.json()
    assert (body["status"], body["principal"]) == ("active", "3800.00")
    assert body["disbursement_reference"] == "TRF 99"
    assert body["disbursement_date"] == timezone.localdate().isoformat()

    undone = admin_api.post(f"/api/loans/{loan.pk}/undo-disbursement", {"reason": "Wrong IBAN"})
    assert undone.status_code == 200, undone.content
    assert (undone.json()["status"], undone.json()["disbursement_date"]) == ("approved", None)
    back = admin_api.post(f"/api/loans/{loan.pk}/undo-approval", {"reason": "Start again"})
    assert back.status_code == 200, back.content
    assert (back.json()["status"], back.json()["approved_amount"]) == ("pending", None)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"amount": "4000.01", "method": "cash"}, "amount"),
        ({"disbursement_date": "yesterday", "method": "cash"}, "disbursement_date"),
        ({"disbursement_date": "tomorrow", "method": "cash"}, "disbursement_date"),
        ({"disbursement_date": "1999-12-31", "method": "cash"}, "disbursement_date"),
        ({"method": "gold"}, "method"),
        ({}, "method"),
        ({"amount": "-5.00", "method": "cash"}, "amount"),
        ({"method": "cash", "reference": "x" * 101}, "reference"),
    ],
)
def test_bad_disbursement_is_refused_on_its_field(
    officer2: Any, admin_api: ApiClient, body: dict[str, Any], field: str
) -> None:
    from lending.services.loans import loan_approve

    loan = loan_approve(loan=_application(), user=officer2, approved_amount=Decimal("4000.00"))
    today = timezone.localdate()
    words = {"yesterday": today - timedelta(days=1), "tomorrow": today + timedelta(days=1)}
    if body.get("disbursement_date") in words:
        body = {**body, "disbursement_date": words[body["disbursement_date"]].isoformat()}
    before = _footprint()
    response = admin_api.post(f"/api/loans/{loan.pk}/disburse", body)
    assert response.status_code == 422, response.content
    assert field in [e["field"] for e in response.json()["detail"]]
    assert _footprint() == before
    loan.refresh_from_db()
    assert loan.status == Loan.Status.APPROVED


def test_wrong_states_are_409(admin_api: ApiClient, officer2_api: ApiClient) -> None:
    loan = _application()
    assert admin_api.post(f"/api/loans/{loan.pk}/disburse", {"method": "cash"}).status_code == 409
    for undo in ("undo-approval", "undo-disbursement"):
        response = admin_api.post(f"/api/loans/{loan.pk}/{undo}", {"reason": "x"})
        assert response.status_code == 409, undo


def test_four_eyes_refusal_names_who_may_approve(officer: Any, officer_api: ApiClient) -> None:
    OfficerFactory(username="colleague", first_name="Cole", last_name="League")
    loan = _application(submitted_by=officer)
    response = officer_api.post(f"/api/loans/{loan.pk}/approve", {})
    assert response.status_code == 403
    assert "Cole League (colleague)" in response.json()["detail"]
