"""Waiving through the API (Admin only: the role matrix is in test_permissions): a dry run
that stores nothing, the waiver, and bad input named by its field with nothing written."""

from __future__ import annotations

import pytest

from lending.models import AuditLog, Installment, LoanTransaction
from tests.api.conftest import ApiClient
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db


def _interest_left(loan_id: int) -> str:
    first = Installment.objects.filter(loan_id=loan_id).order_by("number").first()
    assert first is not None
    return f"{first.interest:.2f}"


def test_dry_run_then_waive(admin_api: ApiClient) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    amount = _interest_left(loan.pk)
    body = {"interest": amount, "reason": "Hardship"}
    audits = AuditLog.objects.count()
    preview = admin_api.post(f"/api/loans/{loan.pk}/waive?dry_run=true", body)
    assert preview.status_code == 200, preview.content
    answer = preview.json()
    assert (answer["dry_run"], answer["transaction_id"], answer["interest"]) == (True, None, amount)
    assert answer["lines"] == [
        {"installment": 1, "penalties": "0.00", "fees": "0.00", "interest": amount}
    ]
    assert not LoanTransaction.objects.filter(kind="waiver").exists()
    assert AuditLog.objects.count() == audits

    done = admin_api.post(f"/api/loans/{loan.pk}/waive?dry_run=false", body)
    assert done.status_code == 200, done.content
    assert done.json()["dry_run"] is False
    waiver = LoanTransaction.objects.get(kind="waiver")
    assert done.json()["transaction_id"] == waiver.pk
    assert done.json()["loan_after"]["outstanding"] == answer["loan_after"]["outstanding"]
    read = admin_api.get(f"/api/loans/{loan.pk}").json()
    assert read["outstanding"] == answer["loan_after"]["outstanding"]


@pytest.mark.parametrize(
    ("body", "field", "status"),
    [
        ({"interest": "999999.00", "reason": "x"}, "interest", 422),
        ({"penalties": "1.00", "reason": "x"}, "penalties", 422),
        ({"interest": "1.00", "reason": " "}, "reason", 422),
        ({"interest": "1.00"}, "reason", 422),
        ({"interest": "1.00", "reason": "x", "principal": "1.00"}, "principal", 422),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(
    admin_api: ApiClient, body: dict[str, object], field: str, status: int
) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    audits = AuditLog.objects.count()
    response = admin_api.post(f"/api/loans/{loan.pk}/waive", body)
    assert response.status_code in (400, status), response.content
    assert field in {e.get("field") for e in response.json()["detail"]}, response.content
    assert not LoanTransaction.objects.filter(kind="waiver").exists()
    assert AuditLog.objects.count() == audits


def test_a_written_off_loan_is_409(admin_api: ApiClient) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    admin_api.post(f"/api/loans/{loan.pk}/write-off", {"reason": "Gone"})
    response = admin_api.post(f"/api/loans/{loan.pk}/waive", {"interest": "1.00", "reason": "x"})
    assert response.status_code == 409


def test_an_unknown_query_parameter_is_422(admin_api: ApiClient) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    response = admin_api.post(
        f"/api/loans/{loan.pk}/waive?dryrun=true", {"interest": "1.00", "reason": "x"}
    )
    assert response.status_code == 422
    assert not LoanTransaction.objects.filter(kind="waiver").exists()
