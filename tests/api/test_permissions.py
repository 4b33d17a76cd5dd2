"""The permission matrix of DESIGN.md on every endpoint: each role allowed or 403, and 401
without a token, with an expired one, a forged one, or a refresh token used as access."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser, User
from django.utils import timezone

from lending.api.auth import make_token
from lending.models import AuditLog, Loan, Repayment
from lending.services.loans import loan_approve, loan_disburse, loan_write_off
from lending.services.repayments import repayment_record
from tests.api.conftest import ApiClient, token_for
from tests.factories import (
    ActiveLoanFactory,
    AdminFactory,
    BorrowerFactory,
    LoanFactory,
    LoanProductFactory,
    OfficerFactory,
)

pytestmark = pytest.mark.django_db

ROLE_USERS = {"admin": "admin_user", "officer": "officer", "accountant": "accountant"}


@dataclass
class World:
    borrower_id: int
    pending_id: int
    active_id: int
    repayment_id: int
    written_off_id: int
    approved_id: int
    disbursed_id: int


@pytest.fixture
def world(db: Any) -> World:
    """A borrower, a pending application and an active loan with one repayment, submitted
    and paid by users who are none of the users under test (so four eyes never gets in the
    way of the matrix)."""
    someone = OfficerFactory(username="officer_z")
    borrower = BorrowerFactory()
    pending = LoanFactory(borrower=borrower, submitted_by=someone)
    active = ActiveLoanFactory(borrower=borrower, submitted_by=someone, disbursed_days_ago=40)
    repayment = repayment_record(
        loan=active,
        user=AdminFactory(username="admin_z"),
        amount=Decimal("100.00"),
        paid_on=timezone.localdate() - timedelta(days=10),
        method="cash",
    )
    written_off = loan_write_off(
        loan=ActiveLoanFactory(borrower=borrower, submitted_by=someone, disbursed_days_ago=40),
        user=AdminFactory(username="admin_y"),
        reason="Gone",
    )
    # A product that disburses separately: one loan approved, one disbursed (nothing since).
    two_step = LoanProductFactory(name="Two-step", disburse_on_approval=False)
    approver = OfficerFactory(username="officer_y")
    approved = loan_approve(
        loan=LoanFactory(borrower=borrower, submitted_by=someone, product=two_step),
        user=approver,
    )
    disbursed = loan_disburse(
        loan=loan_approve(
            loan=LoanFactory(borrower=borrower, submitted_by=someone, product=two_step),
            user=approver,
        ),
        user=AdminFactory(username="admin_x"),
        method="cash",
    )
    return World(
        borrower.pk, pending.pk, active.pk, repayment.pk, written_off.pk, approved.pk, disbursed.pk
    )


def _borrower_body() -> dict[str, Any]:
    return {
        "full_name": "Kofi Boateng",
        "national_id": uuid.uuid4().hex[:12],
        "date_of_birth": "1988-03-04",
        "phone": "+233 20 000 0000",
    }


@dataclass(frozen=True)
class Endpoint:
    name: str
    method: str
    path: str
    allowed: frozenset[str]
    ok: int
    body: Callable[[World], Any] | None = None


ALL = frozenset(ROLE_USERS)
STAFF = frozenset({"admin", "officer"})
CASHIERS = frozenset({"admin", "accountant"})
LEDGER = frozenset({"admin", "accountant"})
ADMIN = frozenset({"admin"})


def _branch_id() -> int:
    """An office to move a borrower to (created the first time)."""
    from accounts.models import Office
    from accounts.offices import office_create

    office = Office.objects.filter(name="A branch").first()
    return (office or office_create(name="A branch", parent=None)).pk


def _yesterday() -> dict[str, str]:
    return {"through": (timezone.localdate() - timedelta(days=1)).isoformat()}


ENDPOINTS = [
    Endpoint("list borrowers", "get", "/api/borrowers", ALL, 200),
    Endpoint("create borrower", "post", "/api/borrowers", STAFF, 201, lambda w: _borrower_body()),
    Endpoint("read borrower", "get", "/api/borrowers/{borrower_id}", ALL, 200),
    Endpoint(
        "change borrower",
        "patch",
        "/api/borrowers/{borrower_id}",
        STAFF,
        200,
        lambda w: {"reminders_opt_out": True},
    ),
    Endpoint(
        "apply",
        "post",
        "/api/loans",
        STAFF,
        201,
        lambda w: {
            "borrower_id": w.borrower_id,
            "principal": "1000.00",
            "annual_interest_rate": "12",
            "installments": 6,
        },
    ),
    Endpoint(
        "apply (seed alias)",
        "post",
        "/api/create-loans",
        STAFF,
        201,
        lambda w: {"borrower_id": w.borrower_id, "loan_amount": "1000", "repayment_period": 6},
    ),
    Endpoint(
        "move borrower",
        "post",
        "/api/borrowers/{borrower_id}/transfer",
        ADMIN,
        200,
        lambda w: {"office_id": _branch_id(), "reason": "Moved house"},
    ),
    Endpoint("list loans", "get", "/api/loans", ALL, 200),
    Endpoint("read loan", "get", "/api/loans/{active_id}", ALL, 200),
    Endpoint("approve", "post", "/api/loans/{pending_id}/approve", STAFF, 200, lambda w: {}),
    Endpoint(
        "reject", "post", "/api/loans/{pending_id}/reject", STAFF, 200, lambda w: {"reason": "x"}
    ),
    Endpoint(
        "write off",
        "post",
        "/api/loans/{active_id}/write-off",
        ADMIN,
        200,
        lambda w: {"reason": "Borrower gone"},
    ),
    Endpoint(
        "undo write-off",
        "post",
        "/api/loans/{written_off_id}/undo-write-off",
        ADMIN,
        200,
        lambda w: {"reason": "Borrower found"},
    ),
    Endpoint(
        "waive (dry run)",
        "post",
        "/api/loans/{active_id}/waive?dry_run=true",
        ADMIN,
        200,
        lambda w: {"interest": "1.00", "reason": "Goodwill"},
    ),
    Endpoint(
        "waive",
        "post",
        "/api/loans/{active_id}/waive",
        ADMIN,
        200,
        lambda w: {"interest": "1.00", "reason": "Goodwill"},
    ),
    Endpoint(
        "disburse",
        "post",
        "/api/loans/{approved_id}/disburse",
        CASHIERS,
        200,
        lambda w: {"method": "cash", "reference": "VCH-1"},
    ),
    Endpoint(
        "undo approval",
        "post",
        "/api/loans/{approved_id}/undo-approval",
        ADMIN,
        200,
        lambda w: {"reason": "Papers forged"},
    ),
    Endpoint(
        "undo disbursement",
        "post",
        "/api/loans/{disbursed_id}/undo-disbursement",
        ADMIN,
        200,
        lambda w: {"reason": "Wrong account"},
    ),
    Endpoint(
        "record recovery",
        "post",
        "/api/loans/{written_off_id}/recoveries",
        CASHIERS,
        201,
        lambda w: {"amount": "10.00"},
    ),
    Endpoint("schedule", "get", "/api/loans/{active_id}/schedule", ALL, 200),
    Endpoint("approved loan's schedule", "get", "/api/loans/{approved_id}/schedule", ALL, 200),
    Endpoint("status", "get", "/api/loans/{active_id}/status", ALL, 200),
    Endpoint("payoff quote", "get", "/api/loans/{active_id}/payoff", ALL, 200),
    Endpoint(
        "record repayment",
        "post",
        "/api/loans/{active_id}/repayments",
        CASHIERS,
        201,
        lambda w: {"amount": "10.00"},
    ),
    Endpoint("list repayments", "get", "/api/loans/{active_id}/repayments", CASHIERS, 200),
    Endpoint("settle", "post", "/api/loans/{active_id}/settle", CASHIERS, 201, lambda w: {}),
    Endpoint(
        "preview",
        "post",
        "/api/schedule/preview",
        ALL,
        200,
        lambda w: {"principal": "1000", "annual_interest_rate": "12", "installments": 6},
    ),
    Endpoint("summary", "get", "/api/reports/summary", ALL, 200),
    Endpoint("loan transactions", "get", "/api/loans/{active_id}/transactions", ALL, 200),
    Endpoint(
        "reverse repayment",
        "post",
        "/api/repayments/{repayment_id}/reverse",
        CASHIERS,
        200,
        lambda w: {"reason": "bounced"},
    ),
    Endpoint(
        "reverse repayment (dry run)",
        "post",
        "/api/repayments/{repayment_id}/reverse?dry_run=true",
        CASHIERS,
        200,
        lambda w: {"reason": "bounced"},
    ),
    Endpoint("gl accounts", "get", "/api/gl/accounts", LEDGER, 200),
    Endpoint("trial balance", "get", "/api/gl/trial-balance", LEDGER, 200),
    Endpoint("journal entries", "get", "/api/gl/entries", LEDGER, 200),
    Endpoint("close books", "post", "/api/books/close", ADMIN, 200, lambda w: _yesterday()),
    Endpoint(
        "reassign officers",
        "post",
        "/api/officers/reassign",
        ADMIN,
        200,
        lambda w: {
            "officer_id": User.objects.get(username="officer_z").pk,
            "borrower_ids": [w.borrower_id],
        },
    ),
    Endpoint("collection sheet", "get", "/api/collection-sheet", ALL, 200),
    Endpoint(
        "post collection sheet",
        "post",
        "/api/collection-sheet",
        CASHIERS,
        200,
        lambda w: {
            "date": timezone.localdate().isoformat(),
            "key": uuid.uuid4().hex,
            "rows": [{"loan_id": w.active_id, "amount": "10.00"}],
        },
    ),
]


def call(client: ApiClient, endpoint: Endpoint, world: World) -> Any:
    path = endpoint.path.format(**world.__dict__)
    if endpoint.method == "get":
        return client.get(path)
    if endpoint.method != "post":
        return client.call(
            endpoint.method.upper(), path, endpoint.body(world) if endpoint.body else None
        )
    return client.post(path, endpoint.body(world) if endpoint.body else None)


def _footprint() -> tuple[int, int, int]:
    return AuditLog.objects.count(), Loan.objects.count(), Repayment.objects.count()


@pytest.mark.parametrize("role", sorted(ROLE_USERS))
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_role_matrix(
    role: str,
    endpoint: Endpoint,
    world: World,
    api_as: Callable[[AbstractBaseUser | None], ApiClient],
    request: pytest.FixtureRequest,
) -> None:
    user = request.getfixturevalue(ROLE_USERS[role])
    before = _footprint()
    response = call(api_as(user), endpoint, world)
    if role in endpoint.allowed:
        assert response.status_code == endpoint.ok, response.content
    else:
        assert response.status_code == 403, response.content
        assert response.json()["detail"]
        assert _footprint() == before  # a forbidden action changes nothing


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_no_token_is_401(endpoint: Endpoint, world: World, anon_api: ApiClient) -> None:
    before = _footprint()
    response = call(anon_api, endpoint, world)
    assert response.status_code == 401
    assert "Bearer" in response.json()["detail"]
    assert response["WWW-Authenticate"] == "Bearer"
    assert _footprint() == before


@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda e: e.name)
def test_expired_token_is_401(endpoint: Endpoint, world: World, admin_user: Any) -> None:
    response = call(ApiClient(token_for(admin_user, expired=True)), endpoint, world)
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]
    assert "invalid_token" in response["WWW-Authenticate"]


@pytest.mark.parametrize(
    "token",
    [
        "not-a-jwt",
        "eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.",  # alg "none"
        "",
    ],
)
def test_garbage_tokens_are_401(token: str, world: World) -> None:
    response = ApiClient(token).get("/api/loans")
    assert response.status_code == 401


def test_token_signed_with_another_key_is_401(admin_user: Any) -> None:
    import jwt

    forged = jwt.encode(
        {"sub": str(admin_user.pk), "type": "access", "iat": 0, "exp": 2**40, "pwd": "x"},
        "another-secret-key-that-is-long-enough-for-hs256",
        algorithm="HS256",
    )
    assert ApiClient(forged).get("/api/loans").status_code == 401


def test_refresh_token_is_not_an_access_token(admin_user: Any) -> None:
    response = ApiClient(make_token(admin_user, "refresh")).get("/api/loans")
    assert response.status_code == 401
    assert response.json()["detail"] == "This is not an access token."


def test_officer_cannot_approve_own_application(officer: Any, officer_api: ApiClient) -> None:
    loan = LoanFactory(submitted_by=officer)
    response = officer_api.post(f"/api/loans/{loan.pk}/approve", {})
    assert response.status_code == 403
    assert "someone else" in response.json()["detail"]
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING


def test_admin_cannot_approve_own_application_either(admin_user: Any, admin_api: ApiClient) -> None:
    loan = LoanFactory(submitted_by=admin_user)
    assert admin_api.post(f"/api/loans/{loan.pk}/reject", {"reason": "no"}).status_code == 403


def test_unknown_ids_are_404_for_allowed_roles(admin_api: ApiClient) -> None:
    for path in [
        "/api/borrowers/999999",
        "/api/loans/999999",
        "/api/loans/999999/schedule",
        "/api/loans/999999/status",
        "/api/loans/999999/payoff",
        "/api/loans/999999/repayments",
        "/api/loans/999999/transactions",
    ]:
        response = admin_api.get(path)
        assert response.status_code == 404, path
        assert response.json()["detail"]
    assert admin_api.post("/api/loans/999999/approve", {}).status_code == 404
    assert admin_api.post("/api/loans/999999/reject", {"reason": "x"}).status_code == 404
    assert admin_api.post("/api/loans/999999/disburse", {"method": "cash"}).status_code == 404
    for undo in ("undo-approval", "undo-disbursement"):
        assert admin_api.post(f"/api/loans/999999/{undo}", {"reason": "x"}).status_code == 404
    assert admin_api.post("/api/loans/999999/repayments", {"amount": "1.00"}).status_code == 404
    reverse = "/api/repayments/999999/reverse"
    assert admin_api.post(reverse, {"reason": "x"}).status_code == 404
    assert admin_api.post(f"{reverse}?dry_run=true", {"reason": "x"}).status_code == 404


def test_forbidden_role_gets_403_before_404(accountant_api: ApiClient) -> None:
    """A role that may not approve learns nothing about which ids exist."""
    assert accountant_api.post("/api/loans/999999/approve", {}).status_code == 403
    undo = accountant_api.post("/api/loans/999999/undo-approval", {"reason": "x"})
    assert undo.status_code == 403


def test_officer_cannot_reverse_an_unknown_repayment_either(officer_api: ApiClient) -> None:
    response = officer_api.post("/api/repayments/999999/reverse", {"reason": "x"})
    assert response.status_code == 403
