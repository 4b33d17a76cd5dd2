"""Writing a loan off and taking the write-off back through the API (Admin only: the role
matrix is in test_permissions)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.conftest import ApiClient
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db


def test_write_off_and_undo(admin_api: ApiClient) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    refused = admin_api.post(f"/api/loans/{loan.pk}/undo-write-off", {"reason": "not yet"})
    assert refused.status_code == 409
    blank = admin_api.post(f"/api/loans/{loan.pk}/write-off", {"reason": " "})
    assert blank.status_code == 422
    assert blank.json()["detail"][0]["field"] == "reason"
    off = admin_api.post(f"/api/loans/{loan.pk}/write-off", {"reason": "Gone"})
    assert off.status_code == 200
    assert (off.json()["status"], off.json()["status_reason"]) == ("written_off", "Gone")
    missing = admin_api.post(f"/api/loans/{loan.pk}/undo-write-off", {})
    assert missing.status_code == 422
    back = admin_api.post(f"/api/loans/{loan.pk}/undo-write-off", {"reason": "Found"})
    assert back.status_code == 200
    assert (back.json()["status"], back.json()["status_reason"]) == ("active", "")
    assert back.json()["outstanding"] == off.json()["outstanding"]


def test_an_unknown_loan_is_404(admin_api: ApiClient) -> Any:
    response = admin_api.post("/api/loans/999999/undo-write-off", {"reason": "x"})
    assert response.status_code == 404
