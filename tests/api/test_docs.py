"""The OpenAPI schema and the docs page (Swagger UI from our own static files, so it renders
offline and under the strict CSP)."""

from __future__ import annotations

import pytest
from django.test import Client

pytestmark = pytest.mark.django_db

PATHS = {
    "/api/auth/token": {"post"},
    "/api/auth/token/refresh": {"post"},
    "/api/auth/logout": {"post"},
    "/api/borrowers": {"get", "post"},
    "/api/borrowers/{id}": {"get", "patch"},
    "/api/borrowers/{id}/transfer": {"post"},
    "/api/loans": {"get", "post"},
    "/api/create-loans": {"post"},
    "/api/loans/{id}": {"get"},
    "/api/loans/{id}/approve": {"post"},
    "/api/loans/{id}/reject": {"post"},
    "/api/loans/{id}/write-off": {"post"},
    "/api/loans/{id}/undo-write-off": {"post"},
    "/api/loans/{id}/waive": {"post"},
    "/api/loans/{id}/recoveries": {"post"},
    "/api/loans/{id}/disburse": {"post"},
    "/api/loans/{id}/undo-approval": {"post"},
    "/api/loans/{id}/undo-disbursement": {"post"},
    "/api/loans/{id}/schedule": {"get"},
    "/api/loans/{id}/status": {"get"},
    "/api/loans/{id}/payoff": {"get"},
    "/api/loans/{id}/settle": {"post"},
    "/api/loans/{id}/repayments": {"get", "post"},
    "/api/schedule/preview": {"post"},
    "/api/reports/summary": {"get"},
    "/api/loans/{id}/transactions": {"get"},
    "/api/repayments/{id}/reverse": {"post"},
    "/api/gl/accounts": {"get"},
    "/api/gl/trial-balance": {"get"},
    "/api/gl/entries": {"get"},
    "/api/books/close": {"post"},
    "/api/collection-sheet": {"get", "post"},
    "/api/officers/reassign": {"post"},
}


def test_openapi_schema_lists_every_endpoint_of_the_design() -> None:
    response = Client().get("/api/openapi.json")
    assert response.status_code == 200
    schema = response.json()
    assert {path: set(ops) for path, ops in schema["paths"].items()} == PATHS
    assert schema["components"]["securitySchemes"]["JWTAuth"] == {
        "type": "http",
        "scheme": "bearer",
    }
    # The token endpoints are open; everything else needs the bearer token.
    assert "security" not in schema["paths"]["/api/auth/token"]["post"]
    assert "security" not in schema["paths"]["/api/auth/logout"]["post"]
    assert schema["paths"]["/api/loans"]["get"]["security"] == [{"JWTAuth": []}]


def test_amounts_are_strings_in_the_schema() -> None:
    schemas = Client().get("/api/openapi.json").json()["components"]["schemas"]
    assert schemas["LoanOut"]["properties"]["principal"]["type"] == "string"
    assert schemas["RepaymentIn"]["properties"]["amount"]["type"] == "string"
    assert set(schemas["BorrowerOut"]["properties"]) >= {
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


def test_docs_page_loads_only_same_origin_scripts() -> None:
    response = Client().get("/api/docs")
    assert response.status_code == 200
    html = response.content.decode()
    assert "/static/ninja/swagger-ui-bundle.js" in html
    assert "cdn" not in html.lower()
    assert "script-src 'self'" in response["Content-Security-Policy"]


def test_idempotency_keys_are_documented_as_per_user_with_their_409() -> None:
    schema = Client().get("/api/openapi.json").json()
    keyed = [
        (path, method, operation)
        for path, item in schema["paths"].items()
        for method, operation in item.items()
        if any(p["name"] == "Idempotency-Key" for p in operation.get("parameters", []))
    ]
    assert [(path, method) for path, method, _ in keyed] == [
        ("/api/loans/{id}/repayments", "post"),
        ("/api/loans/{id}/settle", "post"),
        ("/api/loans/{id}/recoveries", "post"),
    ]
    for _, _, operation in keyed:
        header = next(p for p in operation["parameters"] if p["name"] == "Idempotency-Key")
        assert "per user" in header["description"]
        assert "different body is a 409" in header["description"]
        assert "Idempotency-Key" in operation["responses"]["409"]["description"]
    assert "per user" in schema["info"]["description"]


def test_an_optional_body_is_its_schema_not_schema_or_null() -> None:
    """openapi-python-client turns "ApproveIn or null" into code that sends its Unset marker."""
    schema = Client().get("/api/openapi.json").json()
    body = schema["paths"]["/api/loans/{id}/approve"]["post"]["requestBody"]
    assert body == {
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ApproveIn"}}},
        "required": False,
    }
