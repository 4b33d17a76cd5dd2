"""Loans through the API: apply (and the seed alias), validation of every term, list filters,
read, approve, reject, schedule and status."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from lending.models import AuditLog, Installment, Loan
from lending.receivers import loan_status_cache_key
from lending.schedule import build_schedule
from lending.selectors.status import loan_status
from lending.services.loans import terms_for
from tests.api.conftest import ApiClient
from tests.factories import (
    ActiveLoanFactory,
    BorrowerFactory,
    LoanFactory,
    LoanProductFactory,
    OfficerFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def borrower(db: Any) -> Any:
    return BorrowerFactory()


def terms(borrower_id: int, **overrides: Any) -> dict[str, Any]:
    body = {
        "borrower_id": borrower_id,
        "principal": "5000.00",
        "annual_interest_rate": "12",
        "installments": 18,
    }
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def test_apply_creates_a_pending_application(officer_api: ApiClient, borrower: Any) -> None:
    response = officer_api.post("/api/loans", terms(borrower.pk, purpose="Stock for the shop"))
    assert response.status_code == 201
    body = response.json()
    loan = Loan.objects.get(pk=body["id"])
    assert loan.status == Loan.Status.PENDING
    assert body["number"] == loan.number
    assert body["status"] == "pending"
    assert body["borrower_id"] == borrower.pk
    assert body["principal"] == "5000.00"
    assert body["annual_interest_rate"] == "12.0000"
    assert body["frequency"] == "monthly"
    assert body["interest_method"] == "declining"
    assert body["amortization"] == "equal_installments"
    assert body["installment_multiple"] == "0.01"
    assert body["days_in_year"] == 365
    # Nothing is owed yet, but the answer shows what the terms would give (5000 at 12 % over
    # the terms' installments, by the schedule engine), never zeros.
    projection = build_schedule(terms_for(loan, timezone.localdate())).total
    assert body["projected"] is True
    assert body["total_repayable"] == body["outstanding"] == f"{projection:.2f}"
    assert projection > Decimal("5000.00")
    assert body["purpose"] == "Stock for the shop"
    assert AuditLog.objects.filter(action=AuditLog.Action.LOAN_SUBMITTED).count() == 1


def test_every_term_is_accepted(officer_api: ApiClient, borrower: Any) -> None:
    first_due = (timezone.localdate() + timedelta(days=45)).isoformat()
    body = terms(
        borrower.pk,
        principal="1200.50",
        annual_interest_rate="18.25",
        installments=26,
        frequency="biweekly",
        interest_method="flat",
        amortization="equal_principal",
        grace_periods=2,
        first_due_date=first_due,
        installment_multiple="1.00",
        installment_rounding="up",
        interest_period="daily",
        days_in_year=360,
    )
    response = officer_api.post("/api/loans", body)
    assert response.status_code == 201, response.json()
    out = response.json()
    for name, value in body.items():
        if name in {"principal", "installment_multiple"}:
            assert Decimal(out[name]) == Decimal(value)
        elif name == "annual_interest_rate":
            assert out[name] == "18.2500"
        else:
            assert out[name] == value, name


def test_json_numbers_are_read_exactly(officer_api: ApiClient, borrower: Any) -> None:
    raw = json.dumps(terms(borrower.pk, installments=12)).replace('"5000.00"', "1250.10")
    response = officer_api.post("/api/loans", raw=raw)
    assert response.status_code == 201, response.json()
    assert response.json()["principal"] == "1250.10"


def test_product_fills_omitted_options_and_checks_limits(
    officer_api: ApiClient, borrower: Any
) -> None:
    product = LoanProductFactory(
        name="Market women",
        default_interest_rate=Decimal("24"),
        interest_method="flat",
        frequency="weekly",
        installment_multiple=Decimal("1.00"),
        max_principal=Decimal("2000.00"),
    )
    body = {
        "borrower_id": borrower.pk,
        "product_id": product.pk,
        "principal": "1500",
        "installments": 20,
    }
    response = officer_api.post("/api/loans", body)
    assert response.status_code == 201, response.json()
    out = response.json()
    assert out["product_id"] == product.pk
    assert out["annual_interest_rate"] == "24.0000"
    assert out["interest_method"] == "flat"
    assert out["frequency"] == "weekly"
    assert out["installment_multiple"] == "1.00"
    too_big = officer_api.post("/api/loans", {**body, "principal": "2500"})
    assert too_big.status_code == 422
    assert too_big.json()["detail"][0]["field"] == "principal"


INVALID_TERMS = [
    ("borrower_id", None, "borrower_id"),
    ("borrower_id", 0, "borrower_id"),
    ("borrower_id", "abc", "borrower_id"),
    ("borrower_id", 999999, "borrower_id"),
    ("product_id", 999999, "product_id"),
    ("principal", None, "principal"),
    ("principal", "0", "principal"),
    ("principal", "-5", "principal"),
    ("principal", "12.345", "principal"),
    ("principal", "abc", "principal"),
    ("principal", "1e3", "principal"),
    ("principal", "NaN", "principal"),
    ("principal", "9999999999999", "principal"),
    ("principal", True, "principal"),
    ("annual_interest_rate", "-1", "annual_interest_rate"),
    ("annual_interest_rate", "1000", "annual_interest_rate"),
    ("annual_interest_rate", "12.12345", "annual_interest_rate"),
    ("installments", None, "installments"),
    ("installments", 0, "installments"),
    ("installments", 481, "installments"),
    ("installments", "many", "installments"),
    ("frequency", "daily", "frequency"),
    ("interest_method", "compound", "interest_method"),
    ("amortization", "balloon", "amortization"),
    ("grace_periods", -1, "grace_periods"),
    ("grace_periods", 18, "grace_periods"),
    ("first_due_date", "2020-01-01", "first_due_date"),
    ("first_due_date", "2026-13-01", "first_due_date"),
    ("installment_multiple", "0", "installment_multiple"),
    ("installment_multiple", "0.001", "installment_multiple"),
    ("installment_rounding", "down", "installment_rounding"),
    ("interest_period", "yearly", "interest_period"),
    ("days_in_year", 366, "days_in_year"),
    ("purpose", "x" * 201, "purpose"),
]


@pytest.mark.parametrize(("field", "value", "blamed"), INVALID_TERMS)
def test_invalid_terms_are_422_naming_the_field(
    officer_api: ApiClient, borrower: Any, field: str, value: Any, blamed: str
) -> None:
    body = terms(borrower.pk)
    if value is None:
        body.pop(field, None)
    else:
        body[field] = value
    response = officer_api.post("/api/loans", body)
    assert response.status_code == 422, response.json()
    detail = response.json()["detail"]
    assert blamed in [error["field"] for error in detail], detail
    assert all(error["message"] for error in detail)
    assert not Loan.objects.exists()


@pytest.mark.parametrize(
    "raw_principal", ["1e400", "NaN", "Infinity", "-Infinity", "12.555", "0.1e1000"]
)
def test_unreadable_json_numbers_are_refused_on_the_field(
    officer_api: ApiClient, borrower: Any, raw_principal: str
) -> None:
    raw = json.dumps(terms(borrower.pk)).replace('"5000.00"', raw_principal)
    response = officer_api.post("/api/loans", raw=raw)
    assert response.status_code == 422, response.content
    assert response.json()["detail"][0]["field"] == "principal"
    assert not Loan.objects.exists()


def test_seed_alias_creates_a_monthly_loan(officer_api: ApiClient, borrower: Any) -> None:
    response = officer_api.post(
        "/api/create-loans",
        {"borrower_id": borrower.pk, "loan_amount": 1000, "repayment_period": 12},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["principal"] == "1000.00"
    assert body["annual_interest_rate"] == "2.0000"  # the seed's default
    assert body["installments"] == 12
    assert body["frequency"] == "monthly"
    assert body["status"] == "pending"


def test_seed_alias_takes_a_rate_and_validates_its_fields(
    officer_api: ApiClient, borrower: Any
) -> None:
    ok = officer_api.post(
        "/api/create-loans",
        {
            "borrower_id": borrower.pk,
            "loan_amount": "2500.00",
            "interest_rate": "7.5",
            "repayment_period": 6,
        },
    )
    assert ok.status_code == 201
    assert ok.json()["annual_interest_rate"] == "7.5000"
    bad = officer_api.post(
        "/api/create-loans",
        {
            "borrower_id": borrower.pk,
            "loan_amount": "-1",
            "interest_rate": "x",
            "repayment_period": 0,
        },
    )
    assert bad.status_code == 422
    fields = {error["field"] for error in bad.json()["detail"]}
    assert fields == {"loan_amount", "interest_rate", "repayment_period"}


def test_read_a_loan(admin_api: ApiClient) -> None:
    loan = ActiveLoanFactory(principal=Decimal("1000.00"), installments=4)
    response = admin_api.get(f"/api/loans/{loan.pk}")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "active"
    assert body["disbursement_date"] == timezone.localdate().isoformat()
    assert body["total_repayable"] == str(loan.total_repayable)
    assert body["outstanding"] == str(loan.outstanding)
    assert body["total_paid"] == "0.00"


def test_list_filters(admin_api: ApiClient) -> None:
    olu = OfficerFactory(username="olu")
    ama = OfficerFactory(username="ama")
    product = LoanProductFactory()
    b1, b2 = BorrowerFactory(full_name="Kwame Nkrumah"), BorrowerFactory()
    pending = LoanFactory(borrower=b1, submitted_by=olu, product=product)
    active = ActiveLoanFactory(borrower=b2, submitted_by=ama)

    def ids(**params: Any) -> list[int]:
        response = admin_api.get("/api/loans", params)
        assert response.status_code == 200, response.json()
        return [item["id"] for item in response.json()["items"]]

    assert sorted(ids()) == sorted([pending.pk, active.pk])
    assert ids(status="pending") == [pending.pk]
    assert ids(status="active") == [active.pk]
    assert ids(borrower_id=b2.pk) == [active.pk]
    assert ids(product_id=product.pk) == [pending.pk]
    assert ids(officer="ama") == [active.pk]
    assert ids(officer="nobody") == []
    assert ids(q="nkrumah") == [pending.pk]
    assert admin_api.get("/api/loans", {"status": "lost"}).status_code == 422


def test_list_is_paginated(admin_api: ApiClient) -> None:
    borrower = BorrowerFactory()
    officer = OfficerFactory()
    for _ in range(7):
        LoanFactory(borrower=borrower, submitted_by=officer)
    first = admin_api.get("/api/loans", {"page_size": 5}).json()
    second = admin_api.get("/api/loans", {"page_size": 5, "page": 2}).json()
    assert first["count"] == second["count"] == 7
    assert len(first["items"]) == 5 and len(second["items"]) == 2
    assert not {i["id"] for i in first["items"]} & {i["id"] for i in second["items"]}
    assert admin_api.get("/api/loans", {"page_size": 101}).status_code == 422
    assert admin_api.get("/api/loans", {"page": 0}).status_code == 422


def test_loan_list_runs_a_fixed_number_of_queries(
    admin_api: ApiClient, django_assert_max_num_queries: Any
) -> None:
    officer = OfficerFactory()
    for _ in range(3):
        ActiveLoanFactory(submitted_by=officer)
    with django_assert_max_num_queries(5) as few:
        assert admin_api.get("/api/loans").status_code == 200
    baseline = len(few.captured_queries)
    for _ in range(10):
        LoanFactory(borrower=BorrowerFactory(), submitted_by=OfficerFactory())
    with django_assert_max_num_queries(baseline):
        response = admin_api.get("/api/loans")
    assert response.json()["count"] == 13


def test_approve_disburses_and_builds_the_schedule(officer: Any, officer2_api: ApiClient) -> None:
    loan = LoanFactory(submitted_by=officer, installments=6)
    response = officer2_api.post(f"/api/loans/{loan.pk}/approve")  # no body: today
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "active"
    assert body["disbursement_date"] == timezone.localdate().isoformat()
    assert Decimal(body["outstanding"]) == Decimal(body["total_repayable"]) > 0
    assert Installment.objects.filter(loan=loan).count() == 6


def test_approve_with_a_past_disbursement_date(officer: Any, officer2_api: ApiClient) -> None:
    loan = LoanFactory(submitted_by=officer)
    day = timezone.localdate() - timedelta(days=10)
    response = officer2_api.post(
        f"/api/loans/{loan.pk}/approve", {"disbursement_date": day.isoformat()}
    )
    assert response.status_code == 200
    assert response.json()["disbursement_date"] == day.isoformat()


def test_approve_in_the_future_is_422(officer: Any, officer2_api: ApiClient) -> None:
    loan = LoanFactory(submitted_by=officer)
    day = timezone.localdate() + timedelta(days=1)
    response = officer2_api.post(
        f"/api/loans/{loan.pk}/approve", {"disbursement_date": day.isoformat()}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "disbursement_date"
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING


def test_approving_a_loan_that_is_not_pending_is_409(admin_api: ApiClient) -> None:
    loan = ActiveLoanFactory()
    response = admin_api.post(f"/api/loans/{loan.pk}/approve", {})
    assert response.status_code == 409
    assert "only pending" in response.json()["detail"]


def test_reject_needs_a_reason(officer: Any, officer2_api: ApiClient) -> None:
    loan = LoanFactory(submitted_by=officer)
    blank = officer2_api.post(f"/api/loans/{loan.pk}/reject", {"reason": "  "})
    assert blank.status_code == 422
    assert blank.json()["detail"] == [
        {"field": "reason", "message": "Give a reason for the rejection."}
    ]
    missing = officer2_api.post(f"/api/loans/{loan.pk}/reject", {})
    assert missing.status_code == 422
    response = officer2_api.post(f"/api/loans/{loan.pk}/reject", {"reason": "Income too low"})
    assert response.status_code == 200
    assert response.json()["status"] == "rejected"
    assert response.json()["status_reason"] == "Income too low"
    again = officer2_api.post(f"/api/loans/{loan.pk}/reject", {"reason": "again"})
    assert again.status_code == 409


def test_schedule_of_an_active_loan(accountant_api: ApiClient) -> None:
    loan = ActiveLoanFactory(
        principal=Decimal("5000.00"),
        annual_interest_rate=Decimal("12"),
        installments=18,
        interest_method="declining",
        amortization="equal_principal",
        disbursed_days_ago=45,
    )
    response = accountant_api.get(f"/api/loans/{loan.pk}/schedule")
    assert response.status_code == 200
    body = response.json()
    rows = body["installments"]
    assert len(rows) == 18
    assert body["projected"] is False
    assert [r["interest"] for r in rows[:4]] == ["50.00", "47.22", "44.44", "41.67"]
    assert rows[0]["status"] == "overdue"  # due 30 days after a disbursement 45 days ago
    assert rows[1]["status"] == "due"
    assert rows[0]["paid"] == "0.00"
    assert set(rows[0]) >= {
        "number",
        "due_date",
        "principal",
        "interest",
        "fees",
        "penalties",
        "total",
        "paid",
        "status",
    }
    assert body["totals"] == {
        "principal": "5000.00",
        "interest": "475.00",
        "fees": "0.00",
        "penalties": "0.00",
        "total": "5475.00",
    }


def test_schedule_of_a_pending_application_is_projected(officer_api: ApiClient) -> None:
    loan = LoanFactory(installments=6)
    body = officer_api.get(f"/api/loans/{loan.pk}/schedule").json()
    assert body["projected"] is True
    assert len(body["installments"]) == 6
    assert body["totals"]["principal"] == "5000.00"
    assert not Installment.objects.exists()


def test_status_comes_from_the_shared_cache(accountant_api: ApiClient) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40, installments=6)
    response = accountant_api.get(f"/api/loans/{loan.pk}/status")
    assert response.status_code == 200
    body = response.json()
    expected = loan_status(loan)
    assert body["status"] == "behind" == expected.status
    assert body["expected_paid"] == str(expected.expected_paid)
    assert body["paid"] == "0.00"
    assert body["outstanding"] == str(loan.outstanding)
    assert body["days_past_due"] == expected.days_past_due > 0
    assert body["next_due_date"] == expected.next_due_date.isoformat()
    assert body["next_due_amount"] == str(expected.next_due_amount)
    assert cache.get(loan_status_cache_key(loan.pk)) is not None


def test_status_of_a_pending_loan_has_no_verdict(officer_api: ApiClient) -> None:
    loan = LoanFactory()
    body = officer_api.get(f"/api/loans/{loan.pk}/status").json()
    assert body["status"] is None


# --- what a pending or approved loan shows ----------------------------------------------------


def test_a_pending_loan_shows_its_projected_totals_everywhere(admin_api: ApiClient) -> None:
    loan = LoanFactory(principal=Decimal("1200.00"), installments=6)
    projection = build_schedule(terms_for(loan, timezone.localdate()))
    read = admin_api.get(f"/api/loans/{loan.pk}").json()
    listed = admin_api.get("/api/loans", {"status": "pending"}).json()["items"]
    schedule = admin_api.get(f"/api/loans/{loan.pk}/schedule").json()
    for answer in (read, listed[0]):
        assert answer["projected"] is True
        assert answer["total_repayable"] == f"{projection.total:.2f}"
        assert answer["outstanding"] == f"{projection.total:.2f}"
        assert answer["total_paid"] == "0.00"
    assert schedule["totals"]["total"] == read["total_repayable"]  # one projection, not two
    loan.refresh_from_db()
    assert loan.total_repayable == Decimal("0.00")  # reading stores nothing


def test_an_approved_loan_shows_its_stored_totals_and_first_due_date(
    officer: Any, officer2_api: ApiClient
) -> None:
    loan = LoanFactory(submitted_by=officer, installments=6)
    assert officer2_api.get(f"/api/loans/{loan.pk}").json()["first_due_date"] is None
    approved = officer2_api.post(f"/api/loans/{loan.pk}/approve").json()
    first = Installment.objects.filter(loan=loan).order_by("number").first()
    assert first is not None
    assert approved["first_due_date"] == first.due_date.isoformat()
    assert approved["projected"] is False
    loan.refresh_from_db()
    assert approved["total_repayable"] == f"{loan.total_repayable:.2f}"
    read = officer2_api.get(f"/api/loans/{loan.pk}").json()
    listed = officer2_api.get("/api/loans", {"status": "active"}).json()["items"][0]
    assert read["first_due_date"] == listed["first_due_date"] == first.due_date.isoformat()


def test_a_first_due_date_given_in_the_terms_is_kept(officer_api: ApiClient, borrower: Any) -> None:
    first_due = (timezone.localdate() + timedelta(days=40)).isoformat()
    body = officer_api.post("/api/loans", terms(borrower.pk, first_due_date=first_due)).json()
    assert body["first_due_date"] == first_due


def test_a_rejected_application_is_not_projected(officer: Any, officer2_api: ApiClient) -> None:
    loan = LoanFactory(submitted_by=officer)
    body = officer2_api.post(f"/api/loans/{loan.pk}/reject", {"reason": "Income too low"}).json()
    assert body["status"] == "rejected"
    assert body["projected"] is False
    assert body["total_repayable"] == "0.00"


# --- POST /api/create-loans with either names ---------------------------------------------------


def test_seed_alias_takes_the_standard_names(officer_api: ApiClient, borrower: Any) -> None:
    response = officer_api.post(
        "/api/create-loans",
        {
            "borrower_id": borrower.pk,
            "principal": "3000.00",
            "annual_interest_rate": "9",
            "installments": 10,
            "frequency": "weekly",
            "interest_method": "flat",
        },
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["principal"], body["annual_interest_rate"]) == ("3000.00", "9.0000")
    assert (body["installments"], body["frequency"], body["interest_method"]) == (
        10,
        "weekly",
        "flat",
    )


def test_seed_alias_mixes_the_two_kinds_of_names(officer_api: ApiClient, borrower: Any) -> None:
    response = officer_api.post(
        "/api/create-loans",
        {"borrower_id": borrower.pk, "loan_amount": "800", "installments": 4},
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["principal"], body["installments"]) == ("800.00", 4)
    assert body["annual_interest_rate"] == "2.0000"  # the seed's default: no rate, no product


def test_seed_alias_without_a_rate_takes_the_products(
    officer_api: ApiClient, borrower: Any
) -> None:
    product = LoanProductFactory(default_interest_rate=Decimal("15"))
    response = officer_api.post(
        "/api/create-loans",
        {
            "borrower_id": borrower.pk,
            "product_id": product.pk,
            "loan_amount": "1000",
            "repayment_period": 12,
        },
    )
    assert response.status_code == 201, response.json()
    assert response.json()["annual_interest_rate"] == "15.0000"


@pytest.mark.parametrize(
    ("body", "fields"),
    [
        ({"loan_amount": "10", "principal": "10", "installments": 3}, {"loan_amount"}),
        ({"principal": "10", "repayment_period": 3, "installments": 3}, {"repayment_period"}),
        (
            {"principal": "10", "installments": 3, "interest_rate": "1", "annual_interest_rate": 1},
            {"interest_rate"},
        ),
        ({"installments": 3}, {"principal"}),
        ({"loan_amount": "10"}, {"installments"}),
        ({"loan_amount": "10", "repayment_period": 3, "frequency": "weekly"}, {"frequency"}),
        ({"loan_amount": "10", "repayment_period": True}, {"repayment_period"}),
        ({"loan_amount": "10", "repayment_period": 3, "repayment_perod": 3}, {"repayment_perod"}),
    ],
)
def test_seed_alias_refuses_ambiguous_or_missing_terms(
    officer_api: ApiClient, borrower: Any, body: dict[str, Any], fields: set[str]
) -> None:
    response = officer_api.post("/api/create-loans", {"borrower_id": borrower.pk, **body})
    assert response.status_code == 422, response.json()
    assert {e["field"] for e in response.json()["detail"]} == fields
    assert not Loan.objects.exists()


@pytest.mark.parametrize("send", ["nothing", "no content type", "empty object"])
def test_approve_takes_an_empty_or_absent_body(
    officer: Any, officer2_api: ApiClient, send: str
) -> None:
    loan = LoanFactory(submitted_by=officer)
    path = f"/api/loans/{loan.pk}/approve"
    if send == "no content type":
        auth = {"Authorization": f"Bearer {officer2_api.token}"}
        response = officer2_api.client.post(path, headers=auth, content_type="")
    else:
        response = officer2_api.post(path, {} if send == "empty object" else None)
    assert response.status_code == 200, response.content
    assert response.json()["disbursement_date"] == timezone.localdate().isoformat()
