"""Undoing a write-off while nothing was recovered (issue 15, bullet 4; DESIGN.md "Charges,
penalties and delinquency"): the loan is as if it had never been written off, the journal
takes the write-off back with its mirror, and everything else is refused with nothing
written."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from ledger.models import JournalLine
from lending.errors import StateConflict
from lending.models import AuditLog, Loan, LoanTransaction
from lending.services.books import books_close
from lending.services.loans import loan_write_off, loan_write_off_undo
from lending.services.repayments import repayment_record
from lending.services.transactions import replay_differences
from tests.factories import AccountantFactory, ActiveLoanFactory

D = Decimal
pytestmark = pytest.mark.django_db


def _figures(loan: Loan) -> dict[str, Any]:
    loan.refresh_from_db()
    return {
        f: getattr(loan, f)
        for f in ("status", "outstanding", "total_paid", "total_waived", "days_past_due")
    }


def _balances() -> dict[int, Decimal]:
    rows = JournalLine.objects.values("account_id").annotate(d=Sum("debit"), c=Sum("credit"))
    return {r["account_id"]: r["d"] - r["c"] for r in rows if r["d"] != r["c"]}


def _late_loan() -> Loan:
    loan = ActiveLoanFactory(disbursed_days_ago=70, principal=D("1200.00"), installments=6)
    repayment_record(
        loan=loan, user=AccountantFactory(), amount=D("100.00"),
        paid_on=timezone.localdate() - timedelta(days=20), method="cash",
    )  # fmt: skip
    return loan


def test_undo_puts_the_loan_and_the_books_back(admin_user: Any) -> None:
    loan = _late_loan()
    before, books_before = _figures(loan), _balances()
    assert before["status"] == Loan.Status.ACTIVE and before["outstanding"] > 0
    loan_write_off(loan=loan, user=admin_user, reason="Borrower moved away")
    assert _figures(loan)["status"] == Loan.Status.WRITTEN_OFF
    assert _balances() != books_before

    loan = loan_write_off_undo(loan=loan, user=admin_user, reason="Borrower found, paying again")
    assert _figures(loan) == before
    assert loan.status_reason == ""
    assert _balances() == books_before
    write_off = LoanTransaction.objects.get(loan=loan, kind="write_off")
    assert write_off.reversed_at is not None
    assert write_off.reversal_reason == "Borrower found, paying again"
    assert replay_differences(loan) == []
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115

    entry = AuditLog.objects.filter(object_id=str(loan.pk)).latest("id")
    assert entry.action == AuditLog.Action.LOAN_REOPENED
    assert entry.details["undone"] == "write-off"
    assert entry.details["before"]["status"] == "written_off"
    assert entry.details["after"] == {"status": "active", "outstanding": str(before["outstanding"])}
    assert D(entry.details["written_off"]) == before["outstanding"]

    # Active again: it takes payments, and can be written off again.
    repayment_record(
        loan=loan, user=AccountantFactory(), amount=D("50.00"),
        paid_on=timezone.localdate(), method="cash",
    )  # fmt: skip
    loan_write_off(loan=loan, user=admin_user, reason="Gone again")
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_undo_is_refused_with_nothing_written(admin_user: Any, officer: Any) -> None:
    loan = _late_loan()
    with pytest.raises(StateConflict, match="only written off loans"):
        loan_write_off_undo(loan=loan, user=admin_user, reason="not written off")
    loan_write_off(loan=loan, user=admin_user, reason="Gone")
    entries = AuditLog.objects.count()
    with pytest.raises(PermissionDenied):
        loan_write_off_undo(loan=loan, user=officer, reason="not mine to undo")
    with pytest.raises(ValidationError, match="Give a reason"):
        loan_write_off_undo(loan=loan, user=admin_user, reason="  ")
    assert _figures(loan)["status"] == Loan.Status.WRITTEN_OFF
    assert AuditLog.objects.count() == entries
    assert not LoanTransaction.objects.filter(loan=loan).exclude(reversed_at=None).exists()


def test_undo_is_refused_once_the_books_are_closed_through_the_write_off(
    admin_user: Any,
) -> None:
    loan = _late_loan()
    write_off_day = timezone.localdate() - timedelta(days=2)
    with mock.patch("django.utils.timezone.localdate", return_value=write_off_day):
        loan_write_off(loan=loan, user=admin_user, reason="Gone")  # two days ago
    assert LoanTransaction.objects.get(loan=loan, kind="write_off").value_date == write_off_day
    books_close(through=write_off_day, user=admin_user)
    with pytest.raises(ValidationError, match="closed"):
        loan_write_off_undo(loan=loan, user=admin_user, reason="too late")
    assert _figures(loan)["status"] == Loan.Status.WRITTEN_OFF


def test_the_page_undoes_a_write_off(admin_user: Any, admin_client: Any) -> None:
    from django.urls import reverse

    loan = loan_write_off(loan=_late_loan(), user=admin_user, reason="Gone")
    page = admin_client.get(reverse("loan_detail", args=[loan.pk]))
    assert "Undo the write-off…" in page.content.decode()
    url = reverse("loan_write_off_undo", args=[loan.pk])
    form = admin_client.get(url)
    assert "Back into collection" in form.content.decode()
    refused = admin_client.post(url, {"undo-reason": ""})
    assert "Give a reason for undoing the write-off." in refused.content.decode()
    assert _figures(loan)["status"] == Loan.Status.WRITTEN_OFF
    done = admin_client.post(url, {"undo-reason": "Found"}, follow=True)
    assert "is active again" in done.content.decode()
    assert _figures(loan)["status"] == Loan.Status.ACTIVE
    assert "Undo the write-off…" not in done.content.decode()


def test_undoing_an_accrual_basis_write_off_mirrors_the_interest_it_wrote_off() -> None:
    # Accrual basis: 100.00 at 36.5 % over one month, closed for its first day only. The
    # write-off takes out of the interest receivable only what was accrued (a day's interest),
    # not the month's interest; its mirror must put back the same, or the receivable no
    # longer reconciles (check_money: "interest receivable == accrued - paid").
    from lending.services.close_day import day_close
    from tests.factories import AdminFactory, LoanProductFactory

    today = timezone.localdate()
    product = LoanProductFactory(accounting_basis="accrual")
    loan = ActiveLoanFactory(
        product=product, principal=D("100.00"), annual_interest_rate=D("36.5"), installments=1,
        disbursement_date=today - timedelta(days=200),
    )  # fmt: skip
    day_close(on=today - timedelta(days=199))
    admin = AdminFactory()
    loan_write_off(loan=loan, user=admin, reason="Borrower left the country")
    before = _balances()
    loan_write_off_undo(loan=Loan.objects.get(pk=loan.pk), user=admin, reason="Found again")
    assert _balances() != before
    call_command("check_money")
