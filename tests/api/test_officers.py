"""Reassigning loan officers through the API: what moved, bad input on its field, Admins only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from lending.models import AuditLog, Borrower
from tests.api.conftest import ApiClient
from tests.factories import AccountantFactory, ActiveLoanFactory, BorrowerFactory

pytestmark = pytest.mark.django_db


def moves() -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=AuditLog.Action.OFFICERS_REASSIGNED))


def test_api_reassigns_and_reports_what_moved(
    admin_api: ApiClient, officer: User, officer2: User
) -> None:
    loan = ActiveLoanFactory(submitted_by=officer)
    answer = admin_api.post(
        "/api/officers/reassign", {"officer_id": officer2.pk, "borrower_ids": [loan.borrower_id]}
    )
    assert answer.status_code == 200, answer.json()
    assert answer.json() == {"officer_id": officer2.pk, "borrowers": 1, "loans": 1}
    read = admin_api.get(f"/api/loans/{loan.pk}").json()
    assert read["officer_id"] == officer2.pk
    assert admin_api.get(f"/api/borrowers/{loan.borrower_id}").json()["officer_id"] == officer2.pk


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"officer_id": 999999, "borrower_ids": [1]}, "officer_id"),
        ({"borrower_ids": []}, "borrower_ids"),
        ({"borrower_ids": [999999]}, "borrower_ids"),
        ({"accountant": True}, "officer_id"),
    ],
)
def test_api_refuses_bad_input_on_its_field(
    admin_api: ApiClient, officer: User, officer2: User, body: dict[str, Any], field: str
) -> None:
    borrower = BorrowerFactory(created_by=officer)
    if body.get("accountant"):
        body = {"officer_id": AccountantFactory().pk, "borrower_ids": [borrower.pk]}
    body = {"officer_id": officer2.pk, **body}
    answer = admin_api.post("/api/officers/reassign", body)
    assert answer.status_code == 422, answer.json()
    assert field in {e["field"] for e in answer.json()["detail"]}, answer.json()
    assert Borrower.objects.get().officer == officer
    assert moves() == []


def test_api_reassign_is_for_admins_only(
    officer_api: ApiClient, accountant_api: ApiClient, officer: User
) -> None:
    borrower = BorrowerFactory(created_by=officer)
    for client in (officer_api, accountant_api):
        answer = client.post(
            "/api/officers/reassign", {"officer_id": officer.pk, "borrower_ids": [borrower.pk]}
        )
        assert answer.status_code == 403
    assert moves() == []
