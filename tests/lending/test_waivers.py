"""Waivers of charges and interest (issue 15, bullet 4; DESIGN.md "Charges, penalties and
delinquency"): Admin only, with a reason, a dry run that writes nothing, one waiver
transaction replayed like the others. Weekly interest-free loans (tests/reporting/helpers):
installment k of 1200.00 / 12 asks for 100.00 and falls due 7·k days after disbursement."""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from ledger.models import JournalEntry
from lending.errors import StateConflict
from lending.models import AuditLog, Installment, Loan, LoanTransaction
from lending.services.close_day import day_close
from lending.services.loans import loan_write_off
from lending.services.repayments import repayment_reverse
from lending.services.transactions import replay_differences
from lending.services.waivers import loan_waive
from tests.factories import AccountantFactory, LoanProductFactory, OfficerFactory
from tests.reporting.helpers import D, days_ago, pay, reload, weekly_loan

pytestmark = pytest.mark.django_db


def rows(loan: Loan) -> list[Installment]:
    return list(Installment.objects.filter(loan=loan).order_by("number"))


def check(loan: Loan) -> None:
    assert replay_differences(reload(loan)) == []
    call_command("check_money", stdout=StringIO())


def penalised_loan() -> Loan:
    """Installment 1 (due 13 days ago) is late: one flat 10.00 penalty charged 12 days ago."""
    product = LoanProductFactory(penalty_type="flat", penalty_amount=D("10.00"))
    loan = weekly_loan(product=product, disbursed_days_ago=20)
    day_close(on=days_ago(12))
    assert rows(loan)[0].penalties == D("10.00")
    return reload(loan)


def test_admin_waives_a_penalty(admin_user: Any) -> None:
    loan = penalised_loan()
    before = reload(loan)
    result = loan_waive(loan=loan, user=admin_user, penalties="10.00", reason="Goodwill")
    loan = reload(loan)
    assert rows(loan)[0].penalties == D("0.00")  # stored net of the waiver
    assert loan.total_repayable == before.total_repayable - D("10.00")
    assert loan.outstanding == before.outstanding - D("10.00")
    assert loan.total_waived == D("0.00")  # interest only
    waiver = LoanTransaction.objects.get(loan=loan, kind="waiver")
    assert result.transaction == waiver
    assert (waiver.amount, waiver.penalties, waiver.repayment_id) == (D("10.00"), D("10.00"), None)
    entry = AuditLog.objects.filter(action=AuditLog.Action.CHARGES_WAIVED).get()
    assert entry.details["reason"] == "Goodwill"
    assert entry.details["penalties"] == "10.00"
    assert entry.details["lines"] == [
        {"installment": 1, "penalties": "10.00", "fees": "0.00", "interest": "0.00"}
    ]
    # Cash basis: a charge was never income, so its waiver books nothing.
    assert not JournalEntry.objects.filter(transaction_id=waiver.pk).exists()
    check(loan)


def test_dry_run_writes_nothing(admin_user: Any) -> None:
    loan = penalised_loan()
    txns, audits = LoanTransaction.objects.count(), AuditLog.objects.count()
    result = loan_waive(
        loan=loan, user=admin_user, penalties="4.00", reason="Goodwill", dry_run=True
    )
    assert result.dry_run and result.transaction is None
    answer = result.as_dict()
    assert answer["penalties"] == "4.00"
    assert D(answer["loan_after"]["outstanding"]) == loan.outstanding - D("4.00")
    assert (LoanTransaction.objects.count(), AuditLog.objects.count()) == (txns, audits)
    assert reload(loan).outstanding == loan.outstanding


def test_interest_waiver_spreads_oldest_first(admin_user: Any) -> None:
    loan = weekly_loan(annual_interest_rate=D("52"), n=4, principal="400.00")
    interest = [i.interest for i in rows(loan)]
    amount = interest[0] + D("0.01")
    loan_waive(loan=loan, user=admin_user, interest=amount, reason="Hardship")
    loan = reload(loan)
    waived = [i.interest_waived for i in rows(loan)]
    assert waived[:2] == [interest[0], D("0.01")]
    assert loan.total_waived == amount
    check(loan)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"penalties": "10.01"}, "penalties"),
        ({"fees": "1.00"}, "fees"),
        ({"penalties": "-1"}, "penalties"),
        ({"penalties": "1.001"}, "penalties"),
        ({"penalties": "abc"}, "penalties"),
        ({}, "interest"),
        ({"penalties": "5.00", "reason": "  "}, "reason"),
    ],
)
def test_bad_input_is_refused_with_nothing_written(
    admin_user: Any, kwargs: dict[str, Any], field: str
) -> None:
    loan = penalised_loan()
    txns, audits = LoanTransaction.objects.count(), AuditLog.objects.count()
    args = {"reason": "Goodwill", **kwargs}
    with pytest.raises(ValidationError) as exc:
        loan_waive(loan=loan, user=admin_user, **args)
    assert field in exc.value.message_dict
    assert (LoanTransaction.objects.count(), AuditLog.objects.count()) == (txns, audits)


def test_waiving_more_than_left_says_how_much_is_left(admin_user: Any) -> None:
    loan = penalised_loan()
    with pytest.raises(ValidationError) as exc:
        loan_waive(loan=loan, user=admin_user, penalties="11.00", reason="Goodwill")
    assert "At most USD 10.00 of penalties" in exc.value.message_dict["penalties"][0]


@pytest.mark.parametrize("factory", [OfficerFactory, AccountantFactory])
def test_only_an_admin_waives(factory: Any) -> None:
    loan = penalised_loan()
    with pytest.raises(PermissionDenied):
        loan_waive(loan=loan, user=factory(), penalties="10.00", reason="Goodwill")
    assert not LoanTransaction.objects.filter(kind="waiver").exists()


def test_a_loan_not_active_cannot_be_waived(admin_user: Any) -> None:
    loan = penalised_loan()
    loan_write_off(loan=loan, user=admin_user, reason="Gone")
    with pytest.raises(StateConflict):
        loan_waive(loan=loan, user=admin_user, penalties="10.00", reason="Goodwill")


def test_a_payment_backdated_before_the_waiver_cannot_pay_what_was_waived(
    admin_user: Any,
) -> None:
    loan = penalised_loan()
    loan_waive(loan=loan, user=admin_user, penalties="10.00", reason="Goodwill")
    # Paid 5 days ago (after the penalty, before the waiver): it pays installment 1's 100.00,
    # not the waived penalty, and the penalty stays charged and waived.
    pay(loan, "100.00", on=days_ago(5))
    loan = reload(loan)
    first = rows(loan)[0]
    assert (first.penalties, first.penalties_paid, first.principal_paid) == (
        D("0.00"),
        D("0.00"),
        D("100.00"),
    )
    check(loan)


def test_a_waived_penalty_is_never_taken_back_nor_charged_again(admin_user: Any) -> None:
    loan = penalised_loan()
    loan_waive(loan=loan, user=admin_user, penalties="10.00", reason="Goodwill")
    # Paid in time (before the penalty day): a replay would take the penalty back, but it was
    # waived, so it stays charged and waived; the close of later days does not charge it again.
    pay(loan, "100.00", on=days_ago(14))
    penalty = LoanTransaction.objects.get(loan=loan, kind="charge")
    assert penalty.reversed_at is None
    day_close(on=days_ago(1))
    first = rows(loan)[0]
    charges = LoanTransaction.objects.filter(
        kind="charge", reversed_at=None, allocations__installment=first
    )
    assert charges.count() == 1  # installment 2, late since, has its own
    assert (first.penalties, first.status) == (D("0.00"), Installment.Status.PAID)
    check(loan)


def test_reversing_a_payment_made_after_a_waiver_keeps_the_waiver(admin_user: Any) -> None:
    loan = penalised_loan()
    loan_waive(loan=loan, user=admin_user, penalties="10.00", reason="Goodwill")
    repayment = pay(loan, "100.00")
    repayment_reverse(repayment=repayment, user=AccountantFactory(), reason="Wrong loan")
    loan = reload(loan)
    assert rows(loan)[0].penalties == D("0.00")
    assert LoanTransaction.objects.get(loan=loan, kind="waiver").reversed_at is None
    check(loan)


def test_accrual_basis_takes_a_waived_penalty_back_from_income(admin_user: Any) -> None:
    product = LoanProductFactory(
        penalty_type="flat", penalty_amount=D("10.00"), accounting_basis="accrual"
    )
    loan = weekly_loan(product=product, disbursed_days_ago=20)
    day_close(on=days_ago(12))
    result = loan_waive(loan=loan, user=admin_user, penalties="6.00", reason="Goodwill")
    entry = JournalEntry.objects.get(transaction_id=result.transaction.pk)
    lines = {(line.account.code, line.debit, line.credit) for line in entry.lines.all()}
    assert lines == {("4030", D("6.00"), D("0.00")), ("1130", D("0.00"), D("6.00"))}
    check(loan)
