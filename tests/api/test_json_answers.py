"""Every answer under /api/ is JSON, the wrong method and unknown addresses included, and an
unknown id is worded the same way on every route ("Loan not found.")."""

from __future__ import annotations

import pytest
from django.test import Client

from tests.api.conftest import ApiClient

pytestmark = pytest.mark.django_db


def is_json(response: object) -> bool:
    return response["Content-Type"].startswith("application/json")  # type: ignore[index]


@pytest.mark.parametrize(
    ("method", "path", "allowed"),
    [
        ("DELETE", "/api/loans/1", {"GET"}),
        ("PUT", "/api/borrowers/1", {"GET", "PATCH"}),
        ("PATCH", "/api/loans", {"GET", "POST"}),
        ("GET", "/api/loans/1/approve", {"POST"}),
        ("DELETE", "/api/loans/1/repayments", {"GET", "POST"}),
        ("PUT", "/api/auth/token", {"POST"}),
    ],
)
def test_a_method_the_address_does_not_take_is_a_json_405(
    admin_api: ApiClient, method: str, path: str, allowed: set[str]
) -> None:
    response = admin_api.call(method, path, {"x": 1})
    assert response.status_code == 405
    assert is_json(response)
    assert {m.strip() for m in response["Allow"].split(",")} == allowed
    assert response.json()["detail"].startswith(f"{method} is not allowed here")


def test_a_405_without_a_token_is_json_too() -> None:
    response = Client().delete("/api/loans/1")
    assert response.status_code == 405
    assert is_json(response)


@pytest.mark.parametrize(
    "path", ["/api/", "/api", "/api/nothing", "/api/loans/1/nothing", "/api/loans/", "/api/v2/x"]
)
def test_an_address_with_no_operation_is_a_json_404(anon_api: ApiClient, path: str) -> None:
    for response in (anon_api.get(path), anon_api.post(path, {"a": 1})):
        if path == "/api" and response.status_code == 301:  # Django adds the slash first
            continue
        assert response.status_code == 404, (path, response.content)
        assert is_json(response)
        assert "/api/docs" in response.json()["detail"]


def test_the_docs_and_schema_are_still_served(anon_api: ApiClient) -> None:
    assert anon_api.get("/api/openapi.json").status_code == 200
    assert anon_api.get("/api/docs").status_code == 200


@pytest.mark.parametrize(
    ("method", "path", "body", "detail"),
    [
        ("get", "/api/loans/999999", None, "Loan not found."),
        ("get", "/api/loans/999999/schedule", None, "Loan not found."),
        ("get", "/api/loans/999999/status", None, "Loan not found."),
        ("get", "/api/loans/999999/repayments", None, "Loan not found."),
        ("get", "/api/loans/999999/transactions", None, "Loan not found."),
        ("post", "/api/loans/999999/approve", {}, "Loan not found."),
        ("post", "/api/loans/999999/reject", {"reason": "x"}, "Loan not found."),
        ("post", "/api/loans/999999/repayments", {"amount": "1.00"}, "Loan not found."),
        ("get", "/api/borrowers/999999", None, "Borrower not found."),
        ("post", "/api/repayments/999999/reverse", {"reason": "x"}, "Repayment not found."),
        (
            "post",
            "/api/repayments/999999/reverse?dry_run=true",
            {"reason": "x"},
            "Repayment not found.",
        ),
    ],
)
def test_an_unknown_id_is_worded_the_same_on_every_route(
    admin_api: ApiClient, method: str, path: str, body: object, detail: str
) -> None:
    response = admin_api.call(method.upper(), path, body)
    assert response.status_code == 404
    assert is_json(response)
    assert response.json() == {"detail": detail}


def test_a_shared_selector_404_is_reworded(
    admin_api: ApiClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A selector shared with the pages raises Django's "No Loan matches the given query.";
    the API says it its own way."""
    from django.shortcuts import get_object_or_404

    from lending.models import Loan

    def shared_selector(pk: int) -> object:
        return get_object_or_404(Loan, pk=pk)

    monkeypatch.setattr("lending.api.loans.loan_status", shared_selector)
    response = admin_api.get("/api/loans/999999/status")
    assert response.status_code == 404
    assert response.json() == {"detail": "Loan not found."}
