"""The collection sheet in the API: the rows with what is due, posting with a sheet key (each
row's repayment or error), a resent sheet posting nothing twice, strict input."""

from __future__ import annotations

import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from lending.models import Loan, Repayment
from tests.api.conftest import ApiClient
from tests.factories import ActiveLoanFactory, OfficerFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def loans(db: Any) -> list[Loan]:
    officer = OfficerFactory(username="round")
    return [ActiveLoanFactory(submitted_by=officer, disbursed_days_ago=75) for _ in range(2)]


def _sheet(loans: list[Loan], key: str, amount: str = "120.00") -> dict[str, Any]:
    return {
        "date": timezone.localdate().isoformat(),
        "key": key,
        "rows": [
            {"loan_id": loan.pk, "amount": amount, "method": "mobile_money"} for loan in loans
        ],
    }


def test_the_sheet_lists_rows_with_what_is_due(officer_api: ApiClient, loans: list[Loan]) -> None:
    officer: User = loans[0].submitted_by
    response = officer_api.get("/api/collection-sheet", {"officer_id": officer.pk})
    assert response.status_code == 200
    body = response.json()
    assert {r["loan_id"] for r in body["rows"]} == {loan.pk for loan in loans}
    row = body["rows"][0]
    assert set(row) >= {"loan_id", "loan_number", "borrower", "due"}
    assert Decimal(row["due"]) > 0 and isinstance(row["due"], str)


def test_the_sheet_follows_the_loan_officer_a_loan_is_assigned_to(
    officer_api: ApiClient, loans: list[Loan]
) -> None:
    from lending.services.officers import officers_reassign
    from tests.factories import AdminFactory

    newcomer = OfficerFactory(username="newcomer")
    officers_reassign(user=AdminFactory(), officer=newcomer, borrower_ids=[loans[0].borrower_id])
    rows = officer_api.get("/api/collection-sheet", {"officer_id": newcomer.pk}).json()["rows"]
    assert [(r["loan_id"], r["officer"]) for r in rows] == [(loans[0].pk, "newcomer")]
    old = officer_api.get("/api/collection-sheet", {"officer_id": loans[1].submitted_by_id})
    assert [r["loan_id"] for r in old.json()["rows"]] == [loans[1].pk]


def test_an_unknown_officer_is_a_422_naming_it(officer_api: ApiClient) -> None:
    response = officer_api.get("/api/collection-sheet", {"officer_id": 999999})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "officer_id"


def test_posting_answers_each_row_and_a_resend_posts_nothing_twice(
    accountant_api: ApiClient, loans: list[Loan]
) -> None:
    key = uuid.uuid4().hex
    first = accountant_api.post("/api/collection-sheet", _sheet(loans, key))
    assert first.status_code == 200, first.content
    body = first.json()
    assert body["posted"] == 2 and body["refused"] == 0
    assert all(r["repayment_id"] and r["receipt_number"] for r in body["rows"])
    again = accountant_api.post("/api/collection-sheet", _sheet(loans, key)).json()
    assert again["posted"] == 0 and again["already_posted"] == 2
    assert [r["repayment_id"] for r in again["rows"]] == [r["repayment_id"] for r in body["rows"]]
    assert Repayment.objects.filter(loan__in=loans).count() == 2


def test_a_refused_row_has_its_error(accountant_api: ApiClient, loans: list[Loan]) -> None:
    body = _sheet(loans, uuid.uuid4().hex)
    body["rows"][1]["amount"] = f"{loans[1].outstanding + 1:.2f}"
    answer = accountant_api.post("/api/collection-sheet", body).json()
    assert answer["posted"] == 1 and answer["refused"] == 1
    assert answer["rows"][1]["repayment_id"] is None
    assert "outstanding balance" in answer["rows"][1]["error"]


def test_a_misspelt_field_is_a_422_and_posts_nothing(
    accountant_api: ApiClient, loans: list[Loan]
) -> None:
    body = _sheet(loans, uuid.uuid4().hex)
    body["rows"][0]["ammount"] = body["rows"][0].pop("amount")
    response = accountant_api.post("/api/collection-sheet", body)
    assert response.status_code == 422
    assert not Repayment.objects.exists()


def test_a_future_date_is_a_422_naming_it(accountant_api: ApiClient, loans: list[Loan]) -> None:
    body = _sheet(loans, uuid.uuid4().hex)
    body["date"] = (timezone.localdate() + timedelta(days=1)).isoformat()
    response = accountant_api.post("/api/collection-sheet", body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "date"
    assert not Repayment.objects.exists()


def test_a_loan_twice_is_a_422(accountant_api: ApiClient, loans: list[Loan]) -> None:
    body = _sheet([loans[0], loans[0]], uuid.uuid4().hex)
    response = accountant_api.post("/api/collection-sheet", body)
    assert response.status_code == 422
    assert "twice" in response.json()["detail"][0]["message"]
    assert not Repayment.objects.exists()
