"""Borrowers through the API: register, validation, search, pagination, read."""

from __future__ import annotations

from typing import Any

import pytest

from lending.models import AuditLog, Borrower
from tests.api.conftest import ApiClient
from tests.factories import BorrowerFactory

pytestmark = pytest.mark.django_db

FIELDS = {
    "id",
    "number",
    "full_name",
    "national_id",
    "date_of_birth",
    "phone",
    "email",
    "address",
    "employer",
    "monthly_income",
}


def body(**overrides: Any) -> dict[str, Any]:
    data = {
        "full_name": "Ama Mensah",
        "national_id": "gh-123 456",
        "date_of_birth": "1990-01-02",
        "phone": "+233 20 123 4567",
        "email": "ama@example.org",
        "address": "4 Station Road, Kumasi",
        "employer": "Kumasi Market",
        "monthly_income": "1200.50",
    }
    data.update(overrides)
    return data


def test_register_a_borrower(officer_api: ApiClient) -> None:
    response = officer_api.post("/api/borrowers", body())
    assert response.status_code == 201, response.json()
    out = response.json()
    assert set(out) >= FIELDS
    borrower = Borrower.objects.get(pk=out["id"])
    assert out["number"] == borrower.number
    assert out["national_id"] == "GH123456"  # stored normalised
    assert out["monthly_income"] == "1200.50"
    assert out["date_of_birth"] == "1990-01-02"
    assert AuditLog.objects.filter(action=AuditLog.Action.BORROWER_CREATED).count() == 1


def test_only_the_required_fields(officer_api: ApiClient) -> None:
    minimal = {
        k: v
        for k, v in body().items()
        if k in {"full_name", "national_id", "date_of_birth", "phone"}
    }
    response = officer_api.post("/api/borrowers", minimal)
    assert response.status_code == 201
    assert response.json()["monthly_income"] == "0.00"
    assert response.json()["email"] == ""


def test_duplicate_national_id_is_422_on_the_field(officer_api: ApiClient) -> None:
    assert officer_api.post("/api/borrowers", body()).status_code == 201
    again = officer_api.post("/api/borrowers", body(national_id="GH 123-456"))
    assert again.status_code == 422
    assert again.json()["detail"][0]["field"] == "national_id"
    assert Borrower.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("full_name", ""),
        ("full_name", None),
        ("national_id", ""),
        ("date_of_birth", "1990-02-30"),
        ("date_of_birth", None),
        ("phone", ""),
        ("email", "not-an-email"),
        ("monthly_income", "-1"),
        ("monthly_income", "12.345"),
        ("monthly_income", "lots"),
        ("full_name", "A\x00B"),
        ("full_name", "x" * 201),
    ],
)
def test_invalid_fields_are_422_naming_them(officer_api: ApiClient, field: str, value: Any) -> None:
    data = body()
    if value is None:
        data.pop(field)
    else:
        data[field] = value
    response = officer_api.post("/api/borrowers", data)
    assert response.status_code == 422, response.json()
    assert field in [error["field"] for error in response.json()["detail"]]
    assert not Borrower.objects.exists()


def test_read_a_borrower(accountant_api: ApiClient) -> None:
    borrower = BorrowerFactory(full_name="Kojo Antwi")
    response = accountant_api.get(f"/api/borrowers/{borrower.pk}")
    assert response.status_code == 200
    assert response.json()["full_name"] == "Kojo Antwi"
    assert response.json()["id"] == borrower.pk


def test_search_and_pagination(admin_api: ApiClient) -> None:
    for i in range(6):
        BorrowerFactory(full_name=f"Mensah {i}")
    BorrowerFactory(full_name="Kojo Antwi", national_id="XY-99")
    everyone = admin_api.get("/api/borrowers").json()
    assert everyone["count"] == 7
    found = admin_api.get("/api/borrowers", {"q": "antwi"}).json()
    assert [b["full_name"] for b in found["items"]] == ["Kojo Antwi"]
    by_id = admin_api.get("/api/borrowers", {"q": "xy 99"}).json()
    assert by_id["count"] == 1
    page = admin_api.get("/api/borrowers", {"q": "mensah", "page_size": 4, "page": 2}).json()
    assert page["count"] == 6
    assert [b["full_name"] for b in page["items"]] == ["Mensah 4", "Mensah 5"]
    newest = admin_api.get("/api/borrowers", {"sort": "-created", "page_size": 1}).json()
    assert newest["items"][0]["full_name"] == "Kojo Antwi"
    assert admin_api.get("/api/borrowers", {"sort": "income"}).status_code == 422


def test_borrower_list_runs_a_fixed_number_of_queries(
    admin_api: ApiClient, django_assert_max_num_queries: Any
) -> None:
    BorrowerFactory()
    with django_assert_max_num_queries(5) as few:
        admin_api.get("/api/borrowers")
    baseline = len(few.captured_queries)
    for _ in range(15):
        BorrowerFactory()
    with django_assert_max_num_queries(baseline):
        assert admin_api.get("/api/borrowers").json()["count"] == 16


def test_opt_out_at_registration(officer_api: ApiClient) -> None:
    response = officer_api.post("/api/borrowers", body(reminders_opt_out=True))
    assert response.status_code == 201, response.json()
    assert response.json()["reminders_opt_out"] is True
    assert Borrower.objects.get(pk=response.json()["id"]).reminders_opt_out is True


def test_patch_opts_a_borrower_out_of_reminders(officer_api: ApiClient) -> None:
    borrower = BorrowerFactory(email="old@example.org")
    response = officer_api.call(
        "PATCH", f"/api/borrowers/{borrower.pk}", {"reminders_opt_out": True}
    )
    assert response.status_code == 200, response.json()
    assert response.json()["reminders_opt_out"] is True
    borrower.refresh_from_db()
    assert borrower.reminders_opt_out is True
    assert borrower.email == "old@example.org"  # what was not sent keeps its value
    entry = AuditLog.objects.get(action=AuditLog.Action.BORROWER_UPDATED)
    assert entry.details["changes"]["reminders_opt_out"] == [False, True]


def test_patch_refuses_bad_input_and_changes_nothing(officer_api: ApiClient) -> None:
    borrower = BorrowerFactory(phone="+254712345678")
    response = officer_api.call(
        "PATCH", f"/api/borrowers/{borrower.pk}", {"phone": "12", "reminders_opt_out": True}
    )
    assert response.status_code in (400, 422)
    assert "phone" in str(response.json())
    borrower.refresh_from_db()
    assert borrower.reminders_opt_out is False
    unknown = officer_api.call("PATCH", f"/api/borrowers/{borrower.pk}", {"opt_out": True})
    assert unknown.status_code == 422
    assert "opt_out" in str(unknown.json())


def test_patch_needs_the_right_to_edit_borrowers(accountant_api: ApiClient) -> None:
    borrower = BorrowerFactory()
    response = accountant_api.call(
        "PATCH", f"/api/borrowers/{borrower.pk}", {"reminders_opt_out": True}
    )
    assert response.status_code == 403
    borrower.refresh_from_db()
    assert borrower.reminders_opt_out is False
    missing = accountant_api.call("PATCH", "/api/borrowers/999999", {"reminders_opt_out": True})
    assert missing.status_code in (403, 404)


@pytest.mark.parametrize(
    "field",
    [
        *("full_name", "national_id", "date_of_birth", "phone", "email", "address"),
        *("employer", "monthly_income", "reminders_opt_out"),
    ],
)
def test_patch_null_is_422_on_the_field(officer_api: ApiClient, field: str) -> None:
    borrower = BorrowerFactory()
    response = officer_api.call("PATCH", f"/api/borrowers/{borrower.pk}", {field: None})
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == field
    assert not AuditLog.objects.filter(action=AuditLog.Action.BORROWER_UPDATED).exists()
