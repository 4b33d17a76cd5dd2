"""Disbursement as its own step (issue 16, bullet 4; DESIGN.md "Loan life cycle"): a product
with `disburse_on_approval = False` approves a loan (`approved`, an approved amount, an expected
date), an accountant or administrator disburses it (the disbursement transaction and its
journal entry), and an administrator may undo the approval or the disbursement. Every refusal
writes nothing."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from ledger.models import JournalEntry, JournalLine
from lending.errors import StateConflict
from lending.models import AuditLog, Installment, Loan, LoanTransaction
from lending.services.books import books_close
from lending.services.loans import (
    loan_approval_undo,
    loan_approve,
    loan_disburse,
    loan_disbursement_undo,
)
from lending.services.repayments import repayment_record
from lending.services.transactions import replay_differences
from tests.factories import (
    AccountantFactory,
    ActiveLoanFactory,
    AdminFactory,
    LoanFactory,
    LoanProductFactory,
    OfficerFactory,
)

D = Decimal
pytestmark = pytest.mark.django_db


def _balances() -> dict[int, Decimal]:
    rows = JournalLine.objects.values("account_id").annotate(d=Sum("debit"), c=Sum("credit"))
    return {r["account_id"]: r["d"] - r["c"] for r in rows if r["d"] != r["c"]}


def _written() -> tuple[int, int, int, int]:
    return (
        AuditLog.objects.count(),
        LoanTransaction.objects.count(),
        JournalEntry.objects.count(),
        Installment.objects.count(),
    )


def separate_loan(**kwargs: Any) -> Loan:
    product = LoanProductFactory(name="Two-step", disburse_on_approval=False)
    return LoanFactory(product=product, **{"principal": D("5000.00"), **kwargs})


def approved_loan(amount: Decimal | None = None, **kwargs: Any) -> Loan:
    loan = separate_loan(**kwargs)
    return loan_approve(loan=loan, user=OfficerFactory(), approved_amount=amount)


def _audit(loan: Loan) -> AuditLog:
    return AuditLog.objects.filter(object_type="loan", object_id=str(loan.pk)).latest("id")


def test_default_product_still_disburses_on_approval(officer2: Any) -> None:
    loan = LoanFactory(product=LoanProductFactory())
    loan = loan_approve(loan=loan, user=officer2)
    assert loan.status == Loan.Status.ACTIVE
    assert loan.approved_amount == loan.principal
    assert loan.approved_on == timezone.localdate()
    assert LoanTransaction.objects.filter(loan=loan, kind="disbursement").count() == 1


def test_approval_of_a_separate_product_disburses_nothing(officer2: Any) -> None:
    loan = separate_loan()
    expected = timezone.localdate() + timedelta(days=3)
    before = _balances()
    loan = loan_approve(
        loan=loan, user=officer2, approved_amount=D("4000.00"), expected_disbursement_date=expected
    )
    loan.refresh_from_db()
    assert loan.status == Loan.Status.APPROVED
    assert (loan.approved_amount, loan.expected_disbursement_date) == (D("4000.00"), expected)
    assert loan.approved_on == timezone.localdate()
    assert loan.principal == D("5000.00")  # as applied for, until the disbursement
    assert not Installment.objects.filter(loan=loan).exists()
    assert not LoanTransaction.objects.filter(loan=loan).exists()
    assert _balances() == before
    entry = _audit(loan)
    assert entry.action == AuditLog.Action.LOAN_APPROVED
    assert entry.details["after"]["status"] == "approved"
    assert D(entry.details["after"]["approved_amount"]) == D("4000.00")


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"approved_amount": D("5000.01")}, "approved_amount"),
        ({"approved_amount": D("0.00")}, "approved_amount"),
        ({"expected_disbursement_date": -1}, "expected_disbursement_date"),
        ({"expected_disbursement_date": 400}, "expected_disbursement_date"),
    ],
)
def test_bad_approval_is_refused_on_its_field(officer2: Any, kwargs: Any, field: str) -> None:
    loan = separate_loan()
    if "expected_disbursement_date" in kwargs:
        days = kwargs["expected_disbursement_date"]
        kwargs = {"expected_disbursement_date": timezone.localdate() + timedelta(days=days)}
    before = _written()
    with pytest.raises(ValidationError) as caught:
        loan_approve(loan=loan, user=officer2, **kwargs)
    assert field in caught.value.error_dict
    assert _written() == before
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING


def test_disbursement_books_the_money_and_builds_the_schedule() -> None:
    loan = approved_loan(D("4000.00"))
    accountant = AccountantFactory()
    loan = loan_disburse(
        loan=loan, user=accountant, amount=D("3500.00"), method="cash", reference="VCH-17"
    )
    loan.refresh_from_db()
    today = timezone.localdate()
    assert loan.status == Loan.Status.ACTIVE
    assert (loan.principal, loan.disbursement_date) == (D("3500.00"), today)
    assert loan.disbursement_reference == "VCH-17"
    rows = list(Installment.objects.filter(loan=loan))
    assert len(rows) == 12 and sum(r.principal for r in rows) == D("3500.00")
    assert rows[0].due_date > today
    [txn] = LoanTransaction.objects.filter(loan=loan)
    assert (txn.kind, txn.amount, txn.method, txn.value_date) == (
        "disbursement",
        D("3500.00"),
        "cash",
        today,
    )
    [entry] = JournalEntry.objects.filter(transaction_id=txn.pk)
    lines = list(entry.lines.all())
    assert sum(line.debit for line in lines) == sum(line.credit for line in lines) == D("3500.00")
    audit = _audit(loan)
    assert audit.action == AuditLog.Action.LOAN_DISBURSED
    assert audit.details["after"]["reference"] == "VCH-17"
    assert audit.user == accountant
    assert replay_differences(loan) == []
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_disbursement_defaults_to_the_approved_amount(admin_user: Any) -> None:
    loan = loan_disburse(loan=approved_loan(D("4200.00")), user=admin_user, method="bank_transfer")
    assert loan.principal == D("4200.00")


@pytest.mark.parametrize(
    ("kwargs", "field", "words"),
    [
        ({"amount": D("4000.01")}, "amount", "approved for 4,000.00"),
        ({"amount": D("0.00")}, "amount", "above 0.00"),
        ({"days_ago": 1}, "disbursement_date", "cannot be dated before"),
        ({"days_ago": -1}, "disbursement_date", "future"),
        ({"method": "gold"}, "method", "Choose how"),
    ],
)
def test_bad_disbursement_is_refused_with_nothing_written(
    accountant: Any, kwargs: dict[str, Any], field: str, words: str
) -> None:
    loan = approved_loan(D("4000.00"))
    days_ago = kwargs.pop("days_ago", 0)
    kwargs.setdefault("method", "cash")
    before, books = _written(), _balances()
    with pytest.raises(ValidationError) as caught:
        loan_disburse(
            loan=loan,
            user=accountant,
            disbursement_date=timezone.localdate() - timedelta(days=days_ago),
            **kwargs,
        )
    assert field in caught.value.error_dict
    assert words in " ".join(caught.value.message_dict[field])
    assert (_written(), _balances()) == (before, books)
    loan.refresh_from_db()
    assert loan.status == Loan.Status.APPROVED


def test_only_an_accountant_or_an_admin_disburses(officer: Any) -> None:
    loan = approved_loan()
    before = _written()
    with pytest.raises(PermissionDenied, match="accountant or an administrator"):
        loan_disburse(loan=loan, user=officer, method="cash")
    assert _written() == before


def test_only_an_approved_loan_is_disbursed(accountant: Any) -> None:
    loan = separate_loan()
    with pytest.raises(StateConflict, match="only approved loans"):
        loan_disburse(loan=loan, user=accountant, method="cash")
    active = ActiveLoanFactory()
    with pytest.raises(StateConflict):
        loan_disburse(loan=active, user=accountant, method="cash")


def test_undo_approval_sends_the_loan_back_to_pending(admin_user: Any) -> None:
    loan = approved_loan(D("4000.00"))
    loan = loan_approval_undo(loan=loan, user=admin_user, reason="Borrower's payslip is forged")
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING
    assert loan.approved_amount is None and loan.decided_by is None
    entry = _audit(loan)
    assert entry.action == AuditLog.Action.LOAN_APPROVAL_UNDONE
    assert entry.details["reason"] == "Borrower's payslip is forged"
    assert entry.details["before"]["status"] == "approved"
    # Decided again from scratch.
    loan = loan_approve(loan=loan, user=OfficerFactory(), approved_amount=D("3000.00"))
    assert loan.status == Loan.Status.APPROVED and loan.approved_amount == D("3000.00")


def test_undo_approval_refusals(officer: Any, accountant: Any, admin_user: Any) -> None:
    loan = approved_loan()
    before = _written()
    for user in (officer, accountant):
        with pytest.raises(PermissionDenied, match="administrator"):
            loan_approval_undo(loan=loan, user=user, reason="no")
    with pytest.raises(ValidationError) as caught:
        loan_approval_undo(loan=loan, user=admin_user, reason="  ")
    assert "reason" in caught.value.error_dict
    assert _written() == before
    with pytest.raises(StateConflict):
        loan_approval_undo(loan=separate_loan(), user=admin_user, reason="no")


def test_undo_disbursement_puts_the_loan_and_the_books_back(admin_user: Any) -> None:
    loan = approved_loan(D("4000.00"))
    books = _balances()
    loan = loan_disburse(loan=loan, user=AccountantFactory(), method="mobile_money")
    assert _balances() != books
    loan = loan_disbursement_undo(loan=loan, user=admin_user, reason="Paid to the wrong wallet")
    loan.refresh_from_db()
    assert loan.status == Loan.Status.APPROVED
    assert loan.approved_amount == D("4000.00")
    assert loan.disbursement_date is None and loan.outstanding == 0
    assert not Installment.objects.filter(loan=loan).exists()
    assert _balances() == books
    txn = LoanTransaction.objects.get(loan=loan)
    assert txn.reversed_at is not None and txn.reversal_reason == "Paid to the wrong wallet"
    assert JournalEntry.objects.filter(transaction_id=txn.pk).count() == 2
    assert replay_differences(loan) == []
    entry = _audit(loan)
    assert entry.action == AuditLog.Action.LOAN_DISBURSEMENT_UNDONE
    assert entry.details["installments_removed"] == 12
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115
    # Disbursed again, as any approved loan.
    loan = loan_disburse(loan=loan, user=admin_user, method="cash")
    assert loan.status == Loan.Status.ACTIVE
    assert replay_differences(loan) == []
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_undo_disbursement_refused_once_money_came_back(admin_user: Any) -> None:
    loan = loan_disburse(loan=approved_loan(), user=admin_user, method="cash")
    repayment_record(
        loan=loan, user=AccountantFactory(), amount=D("10.00"),
        paid_on=timezone.localdate(), method="cash",
    )  # fmt: skip
    before, books = _written(), _balances()
    with pytest.raises(StateConflict, match="only transaction"):
        loan_disbursement_undo(loan=loan, user=admin_user, reason="Mistake")
    assert (_written(), _balances()) == (before, books)


def test_undo_disbursement_refusals(officer: Any, accountant: Any, admin_user: Any) -> None:
    loan = approved_loan()
    yesterday = timezone.localdate() - timedelta(days=1)
    Loan.objects.filter(pk=loan.pk).update(approved_on=yesterday)  # approved the day before
    loan = loan_disburse(loan=loan, user=admin_user, method="cash", disbursement_date=yesterday)
    before = _written()
    for user in (officer, accountant):
        with pytest.raises(PermissionDenied, match="administrator"):
            loan_disbursement_undo(loan=loan, user=user, reason="no")
    with pytest.raises(ValidationError) as caught:
        loan_disbursement_undo(loan=loan, user=admin_user, reason="")
    assert "reason" in caught.value.error_dict
    books_close(through=yesterday, user=admin_user)
    with pytest.raises(ValidationError, match="closed"):
        loan_disbursement_undo(loan=loan, user=admin_user, reason="Mistake")
    assert _written()[1:] == before[1:]  # closing the books is audited, nothing else


def test_four_eyes_refusal_names_who_can_approve_instead() -> None:
    submitter = OfficerFactory(username="sam", first_name="Sam", last_name="Submit")
    OfficerFactory(username="olga", first_name="Olga", last_name="Other")
    AdminFactory(username="boss", first_name="", last_name="")
    AccountantFactory(username="cash")  # may not approve: not named
    loan = separate_loan(submitted_by=submitter)
    with pytest.raises(PermissionDenied) as caught:
        loan_approve(loan=loan, user=submitter)
    message = str(caught.value)
    assert "someone else must approve it" in message
    assert "Olga Other (olga)" in message and "boss" in message
    assert "sam" not in message.split(":", 1)[1] and "cash" not in message


def test_an_approved_loan_counts_as_approved_in_the_officers_report() -> None:
    from reporting.selectors import officers_report

    loan = approved_loan()
    today = timezone.localdate()
    report = officers_report(date_from=today, date_to=today)
    [row] = [r for r in report.rows if r.user_id == loan.submitted_by_id]
    assert (row.applications, row.approved, row.pending) == (1, 1, 0)
    assert row.principal_disbursed == 0  # nothing handed over yet


def test_an_approved_loan_counts_in_the_borrowers_exposure() -> None:
    from origination.selectors import application_file

    approved = approved_loan(D("4000.00"))
    application = LoanFactory(borrower=approved.borrower, principal=D("1000.00"))
    file = application_file(loan=application)
    assert file.other_approved_amount == D("4000.00")
    assert file.exposure == D("5000.00")
