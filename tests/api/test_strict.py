"""Strict input on every JSON body: an unknown or misspelt field is a 422 naming it, and a
count or id is a JSON integer (not `true`, not "12"). Every body's schema gets this from one
base class (`lending.api.schemas.StrictIn`); the sweeps below send each operation of the
OpenAPI schema a body it must refuse, so a new operation cannot forget it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from lending.models import AuditLog, Loan
from tests.api.conftest import ApiClient
from tests.factories import BorrowerFactory

pytestmark = pytest.mark.django_db


def body_operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(path with ids filled in, method, body schema) of every operation that takes JSON."""
    found = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {})
            if "application/json" not in content:
                continue
            ref = content["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
            found.append(
                (re.sub(r"\{\w+\}", "1", path), method, schema["components"]["schemas"][ref])
            )
    return found


@pytest.fixture
def openapi(admin_api: ApiClient) -> dict[str, Any]:
    schema: dict[str, Any] = admin_api.get("/api/openapi.json").json()
    return schema


def test_every_body_says_it_takes_no_other_fields(openapi: dict[str, Any]) -> None:
    operations = body_operations(openapi)
    assert len(operations) >= 10
    for path, method, body in operations:
        assert body.get("additionalProperties") is False, (method, path)


def test_every_body_refuses_an_unknown_field_by_name(
    admin_api: ApiClient, openapi: dict[str, Any]
) -> None:
    before = AuditLog.objects.count()
    for path, method, _ in body_operations(openapi):
        response = admin_api.call(method, path, {"frequncy": "weekly"})
        assert response.status_code == 422, (method, path, response.content)
        named = {e["field"]: e["message"] for e in response.json()["detail"]}
        assert "frequncy" in named, (method, path, named)
        assert named["frequncy"].startswith("Unknown field"), named
    assert AuditLog.objects.count() == before


def _integer_fields(body: dict[str, Any]) -> list[str]:
    def integer(prop: dict[str, Any]) -> bool:
        options = prop.get("anyOf", [prop])
        return any(
            o.get("type") == "integer" or all(isinstance(v, int) for v in o.get("enum", [""]))
            for o in options
        )

    return [name for name, prop in body.get("properties", {}).items() if integer(prop)]


@pytest.mark.parametrize("value", [True, "12", 12.0])
def test_every_integer_in_a_body_takes_only_a_json_integer(
    admin_api: ApiClient, openapi: dict[str, Any], value: Any
) -> None:
    checked = 0
    for path, method, body in body_operations(openapi):
        fields = _integer_fields(body)
        if not fields:
            continue
        response = admin_api.call(method, path, dict.fromkeys(fields, value))
        assert response.status_code == 422, (method, path)
        named = {e["field"] for e in response.json()["detail"]}
        assert set(fields) <= named, (method, path, fields, named)
        checked += len(fields)
    assert checked >= 10  # installments, grace_periods, days_in_year, borrower_id, ...


def test_a_misspelt_frequency_creates_nothing(officer_api: ApiClient) -> None:
    borrower = BorrowerFactory()
    body = {
        "borrower_id": borrower.pk,
        "principal": "5000.00",
        "annual_interest_rate": "12",
        "installments": 12,
        "frequncy": "weekly",
    }
    response = officer_api.post("/api/loans", body)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "field": "frequncy",
            "message": "Unknown field: it is not part of this request (check its spelling in "
            "/api/docs).",
        }
    ]
    assert not Loan.objects.exists()


@pytest.mark.parametrize("installments", [True, False, "12", 12.0, 12.5])
def test_installments_must_be_a_json_integer(officer_api: ApiClient, installments: Any) -> None:
    borrower = BorrowerFactory()
    body = {
        "borrower_id": borrower.pk,
        "principal": "5000.00",
        "annual_interest_rate": "12",
        "installments": installments,
    }
    response = officer_api.post("/api/loans", body)
    assert response.status_code == 422
    assert [e["field"] for e in response.json()["detail"]] == ["installments"]
    assert not Loan.objects.exists()


def test_a_boolean_is_not_an_amount_or_an_id(officer_api: ApiClient) -> None:
    body = {"borrower_id": True, "principal": True, "annual_interest_rate": "12", "installments": 3}
    response = officer_api.post("/api/loans", body)
    assert response.status_code == 422
    assert {e["field"] for e in response.json()["detail"]} == {"borrower_id", "principal"}


def test_query_strings_stay_text(admin_api: ApiClient) -> None:
    """Strictness is for JSON bodies: in an address every value is text, "2" is the page 2."""
    response = admin_api.get("/api/loans", {"page": "2", "page_size": "5"})
    assert response.status_code == 200
    assert response.json()["page"] == 2
