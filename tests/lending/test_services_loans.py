"""Loan transitions: one service each, in a transaction, one audit entry with before and after,
wrong states and wrong people refused with nothing written."""

from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lending.errors import StateConflict
from lending.models import AuditLog, Installment, Loan
from lending.services.loans import (
    loan_approve,
    loan_reject,
    loan_submit,
    loan_withdraw,
    loan_write_off,
)
from tests.caches import clear_own_caches
from tests.factories import (
    ActiveLoanFactory,
    BorrowerFactory,
    LoanFactory,
    LoanProductFactory,
)

pytestmark = pytest.mark.django_db
D = Decimal

TERMS: dict[str, Any] = {
    "principal": D("5000.00"),
    "annual_interest_rate": D("12"),
    "installments": 12,
    "frequency": "monthly",
    "interest_method": "declining",
    "amortization": "equal_installments",
}


def audit_rows(loan: Loan) -> list[AuditLog]:
    return list(AuditLog.objects.filter(object_type="loan", object_id=str(loan.pk)).order_by("id"))


def test_submit_makes_a_numbered_pending_application(officer: Any) -> None:
    loan = loan_submit(user=officer, borrower=BorrowerFactory(), **TERMS)
    year = timezone.localdate().year
    assert loan.number == f"L-{year}-000001"
    assert loan.status == Loan.Status.PENDING
    assert not Installment.objects.filter(loan=loan).exists()
    [entry] = audit_rows(loan)
    assert entry.action == AuditLog.Action.LOAN_SUBMITTED
    assert entry.details["after"]["status"] == "pending"


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"principal": D("0")}, "principal"),
        ({"principal": D("-100.00")}, "principal"),
        ({"installments": 0}, "installments"),
        ({"installments": 481}, "installments"),
        ({"annual_interest_rate": D("61")}, "annual_interest_rate"),  # product max is 60
        ({"first_due_date": date(2000, 1, 1)}, "first_due_date"),
        ({"grace_periods": 12}, "grace_periods"),
    ],
)
def test_submit_refuses_bad_terms_and_writes_nothing(
    officer: Any, overrides: dict[str, Any], field: str
) -> None:
    borrower = BorrowerFactory()
    product = LoanProductFactory(max_interest_rate=D("60"), max_installments=480)
    before = AuditLog.objects.count()
    with pytest.raises(ValidationError) as caught:
        loan_submit(user=officer, borrower=borrower, product=product, **(TERMS | overrides))
    assert field in caught.value.message_dict
    assert not Loan.objects.exists()
    assert AuditLog.objects.count() == before


def test_submit_without_a_borrower_is_refused(officer: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        loan_submit(user=officer, borrower=None, **TERMS)  # type: ignore[arg-type]
    assert "borrower" in caught.value.message_dict
    assert not Loan.objects.exists()


def test_submit_against_a_retired_product_is_refused(officer: Any) -> None:
    product = LoanProductFactory(is_active=False)
    with pytest.raises(ValidationError) as caught:
        loan_submit(user=officer, borrower=BorrowerFactory(), product=product, **TERMS)
    assert "product" in caught.value.message_dict


def test_approve_stores_the_schedule_and_totals(officer: Any, officer2: Any) -> None:
    loan = LoanFactory(submitted_by=officer)
    day = timezone.localdate() - timedelta(days=3)
    loan = loan_approve(loan=loan, user=officer2, disbursement_date=day)
    assert loan.status == Loan.Status.ACTIVE and loan.disbursement_date == day
    rows = list(loan.schedule.order_by("number"))
    assert len(rows) == 12
    assert sum(r.principal for r in rows) == loan.principal
    assert loan.total_repayable == loan.outstanding == sum(r.total for r in rows)
    assert loan.decided_by == officer2
    entry = audit_rows(loan)[-1]
    assert entry.action == AuditLog.Action.LOAN_APPROVED
    assert entry.details["before"] == {"status": "pending"}
    assert entry.details["after"]["status"] == "active"
    assert entry.details["after"]["disbursement_date"] == day.isoformat()


def test_a_month_end_first_due_date_keeps_due_dates_at_month_end(
    officer: Any, officer2: Any
) -> None:
    loan = LoanFactory(submitted_by=officer, installments=3, first_due_date=date(2099, 1, 31))
    Loan.objects.filter(pk=loan.pk).update(first_due_date=date(2024, 1, 31))
    loan.refresh_from_db()
    loan = loan_approve(loan=loan, user=officer2, disbursement_date=date(2023, 12, 31))
    dates = list(loan.schedule.order_by("number").values_list("due_date", flat=True))
    assert dates == [date(2024, 1, 31), date(2024, 2, 29), date(2024, 3, 31)]


def test_disbursed_on_31_january_falls_due_at_each_month_end(officer: Any, officer2: Any) -> None:
    loan = loan_approve(
        loan=LoanFactory(submitted_by=officer, installments=3),
        user=officer2,
        disbursement_date=date(2024, 1, 31),
    )
    dates = list(loan.schedule.order_by("number").values_list("due_date", flat=True))
    assert dates == [date(2024, 2, 29), date(2024, 3, 31), date(2024, 4, 30)]


def test_officer_cannot_approve_own_application(officer: Any) -> None:
    loan = LoanFactory(submitted_by=officer)
    before = AuditLog.objects.count()
    with pytest.raises(PermissionDenied):
        loan_approve(loan=loan, user=officer)
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING
    assert not Installment.objects.filter(loan=loan).exists()
    assert AuditLog.objects.count() == before


def test_admin_who_submitted_cannot_approve_either(admin_user: Any) -> None:
    with pytest.raises(PermissionDenied):
        loan_approve(loan=LoanFactory(submitted_by=admin_user), user=admin_user)


def test_accountant_cannot_approve(accountant: Any) -> None:
    with pytest.raises(PermissionDenied):
        loan_approve(loan=LoanFactory(), user=accountant)


def test_approving_twice_is_a_state_conflict(officer2: Any) -> None:
    loan = loan_approve(loan=LoanFactory(), user=officer2)
    before = (AuditLog.objects.count(), Installment.objects.count())
    with pytest.raises(StateConflict, match="only pending loans can be approved"):
        loan_approve(loan=loan, user=officer2)
    assert (AuditLog.objects.count(), Installment.objects.count()) == before


def test_disbursement_in_the_future_is_refused(officer2: Any) -> None:
    loan = LoanFactory()
    with pytest.raises(ValidationError) as caught:
        loan_approve(
            loan=loan, user=officer2, disbursement_date=timezone.localdate() + timedelta(days=1)
        )
    assert "disbursement_date" in caught.value.message_dict
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING


def test_disbursement_after_the_first_due_date_is_refused(officer2: Any) -> None:
    today = timezone.localdate()
    loan = LoanFactory(first_due_date=today + timedelta(days=10))
    loan.first_due_date = today - timedelta(days=1)  # as if the application waited too long
    Loan.objects.filter(pk=loan.pk).update(first_due_date=loan.first_due_date)
    with pytest.raises(ValidationError) as caught:
        loan_approve(loan=loan, user=officer2, disbursement_date=today)
    assert "first_due_date" in caught.value.message_dict
    assert not Installment.objects.filter(loan=loan).exists()


def _approve_queries(n: int, officer: Any, approver: Any) -> tuple[int, int]:
    """(queries other than installment inserts, installment INSERT statements)."""
    loan = LoanFactory(
        submitted_by=officer, installments=n, frequency="weekly", product=LoanProductFactory()
    )
    approver = User.objects.get(pk=approver.pk)
    clear_own_caches()  # a cold permission cache each time
    with CaptureQueriesContext(connection) as ctx:
        loan_approve(loan=loan, user=approver)
    inserts = [
        q for q in ctx.captured_queries if q["sql"].startswith('INSERT INTO "lending_installment"')
    ]
    return len(ctx.captured_queries) - len(inserts), len(inserts)


def test_approval_stores_the_schedule_in_one_bulk_insert(officer: Any, officer2: Any) -> None:
    small_other, small_inserts = _approve_queries(12, officer, officer2)
    big_other, big_inserts = _approve_queries(480, officer, officer2)
    assert small_inserts == 1
    # + the disbursement, its journal entry and lines; + 1: the product's fees, frozen on the
    # loan; + 2: the working-day calendar (the weekdays off and the holidays)
    assert big_other == small_other <= 19
    # One bulk_create. PostgreSQL takes it in one statement; SQLite's driver limit of 999
    # parameters makes Django split it into batches of 999 // fields rows.
    fields = len([f for f in Installment._meta.concrete_fields if not f.primary_key])
    limit = connection.features.max_query_params
    expected = 1 if limit is None else math.ceil(480 / (limit // fields))
    assert big_inserts == expected
    assert Installment.objects.filter(loan__installments=480).count() == 480


def test_reject_needs_a_reason_and_records_it(officer: Any, officer2: Any) -> None:
    loan = LoanFactory(submitted_by=officer)
    with pytest.raises(ValidationError) as caught:
        loan_reject(loan=loan, user=officer2, reason="  ")
    assert "reason" in caught.value.message_dict
    loan = loan_reject(loan=loan, user=officer2, reason="Income too low")
    assert loan.status == Loan.Status.REJECTED and loan.status_reason == "Income too low"
    entry = audit_rows(loan)[-1]
    assert entry.action == AuditLog.Action.LOAN_REJECTED
    assert entry.details["before"] == {"status": "pending"}
    assert entry.details["after"] == {"status": "rejected"}
    assert len(audit_rows(loan)) == 2


def test_submitter_cannot_reject_own_application(officer: Any) -> None:
    loan = LoanFactory(submitted_by=officer)
    with pytest.raises(PermissionDenied):
        loan_reject(loan=loan, user=officer, reason="changed my mind")
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING


def test_only_the_submitter_withdraws(officer: Any, officer2: Any) -> None:
    loan = LoanFactory(submitted_by=officer)
    with pytest.raises(PermissionDenied):
        loan_withdraw(loan=loan, user=officer2)
    loan = loan_withdraw(loan=loan, user=officer, reason="Borrower found cheaper credit")
    assert loan.status == Loan.Status.WITHDRAWN
    entry = audit_rows(loan)[-1]
    assert entry.action == AuditLog.Action.LOAN_WITHDRAWN
    assert entry.details["before"] == {"status": "pending"}
    assert entry.details["after"] == {"status": "withdrawn"}
    with pytest.raises(StateConflict):
        loan_withdraw(loan=loan, user=officer)


def test_write_off_is_for_admins_and_active_loans(admin_user: Any, officer: Any) -> None:
    loan = ActiveLoanFactory()
    with pytest.raises(PermissionDenied):
        loan_write_off(loan=loan, user=officer, reason="gone")
    loan = loan_write_off(loan=loan, user=admin_user, reason="Borrower deceased")
    assert loan.status == Loan.Status.WRITTEN_OFF
    entry = audit_rows(loan)[-1]
    assert entry.action == AuditLog.Action.LOAN_WRITTEN_OFF
    assert entry.details["before"] == {"status": "active"}
    assert entry.details["after"] == {"status": "written_off"}
    assert D(entry.details["written_off"]) == loan.outstanding
    with pytest.raises(StateConflict):
        loan_write_off(loan=LoanFactory(), user=admin_user, reason="pending loans cannot")


def test_each_transition_writes_exactly_one_audit_entry(
    officer: Any, officer2: Any, admin_user: Any
) -> None:
    loan = LoanFactory(submitted_by=officer)
    assert len(audit_rows(loan)) == 1
    loan = loan_approve(loan=loan, user=officer2)
    assert len(audit_rows(loan)) == 2
    loan = loan_write_off(loan=loan, user=admin_user, reason="fraud")
    assert [e.action for e in audit_rows(loan)] == [
        AuditLog.Action.LOAN_SUBMITTED,
        AuditLog.Action.LOAN_APPROVED,
        AuditLog.Action.LOAN_WRITTEN_OFF,
    ]


def test_terms_whose_total_would_not_fit_are_refused_at_submission(officer: Any) -> None:
    with pytest.raises(ValidationError) as exc:
        LoanFactory(
            submitted_by=officer,
            principal=Decimal("999999999999.99"),
            annual_interest_rate=Decimal("999.9999"),
            installments=480,
            interest_method="flat",
        )
    assert "principal" in exc.value.message_dict
    assert not Loan.objects.exists()


def test_services_refuse_a_role_without_the_permission(accountant: User) -> None:
    from lending.services.borrowers import borrower_create

    with pytest.raises(PermissionDenied):
        LoanFactory(submitted_by=accountant)
    with pytest.raises(PermissionDenied):
        borrower_create(
            user=accountant,
            full_name="Ama Osei",
            national_id="X1",
            date_of_birth=date(1990, 1, 1),
            phone="+233200000000",
        )
    assert not Loan.objects.exists()


def test_custom_terms_bounds_hold_in_the_service_too(officer: Any) -> None:
    """The API and every other caller of `loan_submit` meet the custom bounds."""
    from lending.services.loans import loan_submit

    borrower = BorrowerFactory()
    with pytest.raises(ValidationError) as caught:
        loan_submit(
            user=officer, borrower=borrower, principal=D("100.00"), annual_interest_rate=D("0"),
            installments=480, frequency="weekly", interest_method="declining",
            amortization="equal_installments", grace_periods=0, first_due_date=None,
            installment_multiple=D("0.01"), installment_rounding="nearest",
            interest_period="per_period", days_in_year=365,
        )  # fmt: skip
    assert set(caught.value.message_dict) == {"installments"}
    with pytest.raises(ValidationError) as caught:
        LoanFactory(submitted_by=officer, installment_multiple=D("1000"))
    message = caught.value.message_dict["installment_multiple"][0]
    assert "larger than the installment it rounds (444.24)" in message
    assert not Loan.objects.exists()


def test_a_multiple_is_compared_with_the_installments_after_the_grace_periods(
    officer: Any,
) -> None:
    """At 0 % a grace period is a 0.00 installment: it is not the installment the multiple
    rounds, and it is not a row the rounding emptied (found by the money state machine)."""
    loan = LoanFactory(
        submitted_by=officer, principal=D("100.00"), annual_interest_rate=D("0"),
        installments=2, grace_periods=1, installment_multiple=D("1"),
    )  # fmt: skip
    assert Loan.objects.filter(pk=loan.pk).exists()
    with pytest.raises(ValidationError, match=r"rounds \(100\.00\)"):
        LoanFactory(
            submitted_by=officer, principal=D("100.00"), annual_interest_rate=D("0"),
            installments=2, grace_periods=1, installment_multiple=D("200"),
        )  # fmt: skip
