"""Accrual basis: the daily close recognises interest day by day (interest receivable ->
interest income), repayments clear the receivable, closing trues it up, a write-off loses
only what was recognised. Worked numbers: 1,200.00 at 12 % a year, 12 monthly installments,
equal principal, disbursed 1 Jan 2026: installment 1 is 100.00 principal + 12.00 interest
(1,200 x 1 %), due 1 Feb 2026 (31 days). Dates are fixed in the past, so the test holds on
any day after them."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import call_command
from django.db.models import Sum

from ledger.models import Account, JournalLine
from lending.models import Loan, LoanTransaction
from lending.services.close_day import day_close
from lending.services.loans import loan_write_off
from lending.services.repayments import repayment_record
from lending.services.transactions import replay_differences
from tests.factories import AccountantFactory, ActiveLoanFactory, AdminFactory, LoanProductFactory

D = Decimal
pytestmark = pytest.mark.django_db


def balance(code: str) -> Decimal:
    """Debit balance of an account (negative: a credit balance)."""
    sums = JournalLine.objects.filter(account=Account.objects.get(code=code)).aggregate(
        d=Sum("debit"), c=Sum("credit")
    )
    return (sums["d"] or D(0)) - (sums["c"] or D(0))


def accrual_loan(**extra: Any) -> Loan:
    product = LoanProductFactory(accounting_basis="accrual", max_principal=D("100000"))
    terms: dict[str, Any] = {
        "principal": D("1200.00"),
        "annual_interest_rate": D("12"),
        "installments": 12,
        "amortization": "equal_principal",
        "disbursement_date": date(2026, 1, 1),
    }
    return ActiveLoanFactory(product=product, **{**terms, **extra})


def test_the_close_accrues_interest_day_by_day_once() -> None:
    loan = accrual_loan()
    assert loan.accounting_basis == "accrual"
    day_close(on=date(2026, 1, 11))  # 10 of 31 days: 12.00 x 10 / 31 = 3.87
    loan.refresh_from_db()
    assert loan.interest_accrued == D("3.87")
    assert balance("1110") == D("3.87") and balance("4010") == D("-3.87")
    day_close(on=date(2026, 1, 11))  # a second run for the day adds nothing
    assert LoanTransaction.objects.filter(loan=loan, kind="accrual").count() == 1
    day_close(on=date(2026, 2, 16))  # 12.00 + 11.00 x 15 / 28 = 5.89 of the second
    loan.refresh_from_db()
    assert loan.interest_accrued == D("17.89")
    assert replay_differences(loan) == []
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_a_repayment_clears_the_receivable_instead_of_crediting_income() -> None:
    loan = accrual_loan()
    day_close(on=date(2026, 2, 1))
    repayment_record(
        loan=loan,
        user=AccountantFactory(),
        amount=D("112.00"),
        paid_on=date(2026, 2, 1),
        method="cash",
    )
    assert balance("1110") == D("0.00")  # 12.00 accrued, 12.00 paid
    assert balance("4010") == D("-12.00")  # income recognised once, by the accrual
    assert balance("1100") == D("1100.00")
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_paying_off_trues_the_accrual_up_to_the_interest_paid() -> None:
    loan = accrual_loan(installments=1)  # one installment of 1,200.00 + 12.00 on 1 Feb
    day_close(on=date(2026, 1, 21))  # 12.00 x 20 / 31 = 7.74
    repayment_record(
        loan=loan,
        user=AccountantFactory(),
        amount=D("1212.00"),
        paid_on=date(2026, 1, 25),
        method="bank_transfer",
    )
    loan.refresh_from_db()
    assert loan.status == Loan.Status.CLOSED
    assert loan.interest_accrued == D("12.00")  # trued up at closing: 4.26 more
    assert balance("1110") == D("0.00") and balance("4010") == D("-12.00")
    assert replay_differences(loan) == []
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_a_write_off_loses_the_principal_and_the_interest_recognised_unpaid() -> None:
    loan = accrual_loan()
    day_close(on=date(2026, 1, 11))  # 3.87 recognised, nothing paid
    loan_write_off(loan=loan, user=AdminFactory(), reason="Borrower gone")
    assert balance("5010") == D("1203.87")
    assert balance("1100") == D("0.00") and balance("1110") == D("0.00")
    call_command("check_money", stdout=open("/dev/null", "w"))  # noqa: SIM115


def test_a_close_run_late_for_a_day_before_a_payment_books_that_days_balance() -> None:
    # A payment of 112.00 on 1 Feb (installment 1: 100.00 + 12.00) is booked before the close
    # runs for 11 Jan. The accrual counts at the end of 11 Jan, when the loan still owed all
    # of its 1,200.00 + 78.00 interest; not the 1,166.00 it owes today (what a replay says).
    loan = accrual_loan()
    repayment_record(
        loan=loan, user=AccountantFactory(), amount=D("112.00"), paid_on=date(2026, 2, 1),
        method="cash",
    )  # fmt: skip
    day_close(on=date(2026, 1, 11))
    accrual = LoanTransaction.objects.get(loan=loan, kind="accrual")
    assert accrual.outstanding_after == D("1278.00")
    loan.refresh_from_db()
    assert replay_differences(loan) == []
