"""Bad input is a 400 or 422 with a JSON `detail`, never a 500, and writes nothing."""

from __future__ import annotations

from typing import Any

import pytest

from lending.models import AuditLog, Borrower, Loan
from tests.api.conftest import ApiClient
from tests.factories import BorrowerFactory

pytestmark = pytest.mark.django_db

BORROWER = '{"full_name": "A", "national_id": "N1", "date_of_birth": "1990-01-01", "phone": "1"}'


@pytest.mark.parametrize(
    "raw",
    [
        "{",
        "not json",
        "[]",
        "[1, 2]",
        '"a string"',
        "42",
        "null",
        BORROWER.replace('"A"', '"\\ud800"'),  # a lone surrogate: not storable text
        BORROWER.replace('"1990-01-01"', '"0000-01-01"'),
        BORROWER.replace('"1990-01-01"', "19900101"),
        BORROWER.replace('"A"', "NaN"),
        BORROWER.replace('"A"', '{"nested": true}'),
        BORROWER.replace('"1"}', '"1", "monthly_income": 1e99999}'),
        BORROWER.replace('"1"}', '"1", "monthly_income": ' + "9" * 5000 + "}"),
    ],
)
def test_malformed_bodies_are_client_errors(officer_api: ApiClient, raw: str) -> None:
    before = AuditLog.objects.count()
    response = officer_api.post("/api/borrowers", raw=raw)
    assert response.status_code in (400, 422), response.content
    assert response["Content-Type"].startswith("application/json")
    assert "detail" in response.json()
    assert not Borrower.objects.exists()
    assert AuditLog.objects.count() == before


def test_empty_body_where_one_is_required_is_422(officer_api: ApiClient) -> None:
    response = officer_api.post("/api/loans")
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"field": None, "message": "Send a JSON object as the request body."}
    ]


@pytest.mark.parametrize(
    "path",
    [
        "/api/loans/99999999999999999999999",
        "/api/loans/-1",
        "/api/loans/0/schedule",
        "/api/borrowers/abc",
    ],
)
def test_impossible_ids_are_client_errors(admin_api: ApiClient, path: str) -> None:
    response = admin_api.get(path)
    assert response.status_code in (404, 422)


@pytest.mark.parametrize(
    "params",
    [
        {"page": "99999999999999999999"},
        {"page": "100000", "page_size": "100"},
        {"borrower_id": "9" * 30},
        {"officer": "a\x00b"},
        {"q": "\x00"},
    ],
)
def test_odd_query_strings_never_fail(admin_api: ApiClient, params: dict[str, Any]) -> None:
    BorrowerFactory()
    response = admin_api.get("/api/loans", params)
    assert response.status_code in (200, 422), response.content


@pytest.mark.parametrize("query", ["status=%ED%A0%80", "q=%FF%FE", "officer=%C0%80", "q=%00"])
def test_undecodable_query_strings_never_fail(admin_api: ApiClient, query: str) -> None:
    assert admin_api.get(f"/api/loans?{query}").status_code in (200, 422)
    assert admin_api.get(f"/api/borrowers?{query}").status_code in (200, 422)


def test_last_page_far_away_is_empty_not_an_error(admin_api: ApiClient) -> None:
    response = admin_api.get("/api/borrowers", {"page": 100000, "page_size": 100})
    assert response.status_code == 200
    assert response.json()["items"] == []


def test_validation_errors_name_every_field(officer_api: ApiClient) -> None:
    response = officer_api.post(
        "/api/loans", {"borrower_id": "x", "principal": "-1", "installments": 0}
    )
    assert response.status_code == 422
    assert sorted(e["field"] for e in response.json()["detail"]) == [
        "borrower_id",
        "installments",
        "principal",
    ]
    assert not Loan.objects.exists()


def test_non_field_service_errors_have_a_null_field(officer_api: ApiClient) -> None:
    from django.core.exceptions import ValidationError

    from lending.api.errors import service_errors

    assert service_errors(ValidationError("Whole request is wrong.")) == [
        {"field": None, "message": "Whole request is wrong."}
    ]
    assert service_errors(ValidationError({"product": "Gone."})) == [
        {"field": "product_id", "message": "Gone."}
    ]


def test_a_bug_is_a_logged_json_500(
    admin_api: ApiClient, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(**kwargs: object) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr("lending.api.reports.dashboard", broken)
    response = admin_api.get("/api/reports/summary")
    assert response.status_code == 500
    assert response.json() == {"detail": "Something went wrong on our side; it is logged."}
    assert any(r.exc_info and "boom" in str(r.exc_info[1]) for r in caplog.records)


@pytest.mark.parametrize("number", ["1e999999999", "-1E+999999999", "9.9e12345678"])
def test_huge_exponents_are_refused_quickly(officer_api: ApiClient, number: str) -> None:
    """An exact reading of `1e999999999` must not be expanded into a billion-digit integer."""
    import time

    raw = '{"borrower_id": NUM, "principal": NUM, "installments": NUM}'.replace("NUM", number)
    started = time.monotonic()
    response = officer_api.post("/api/loans", raw=raw)
    assert time.monotonic() - started < 5
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["detail"]} == {
        "borrower_id",
        "principal",
        "installments",
    }
