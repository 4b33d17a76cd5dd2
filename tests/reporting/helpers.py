"""Fixture builders for the dashboard, reports, status and daily-close tests.

Loans are weekly and interest-free so every figure can be worked out by hand: a loan of
`principal` in `n` installments asks for principal / n every 7 days after disbursement.
Everything goes through the services (loan_submit/approve, repayment_record/reverse), so the
fixtures obey the same rules as real data.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.utils import timezone

from lending.models import Loan, LoanProduct, Repayment
from lending.services.loans import loan_approve
from lending.services.repayments import repayment_record, repayment_reverse
from tests.factories import AccountantFactory, AdminFactory, LoanFactory

D = Decimal


def today() -> date:
    return timezone.localdate()


def days_ago(n: int) -> date:
    return today() - timedelta(days=n)


def cashier() -> User:
    """The fixtures' accountant (get-or-create by username)."""
    return AccountantFactory(username="cashier_fixture")


def weekly_loan(
    *,
    principal: str | Decimal = "1200.00",
    n: int = 12,
    disbursed_days_ago: int = 0,
    product: LoanProduct | None = None,
    submitted_by: User | None = None,
    approved_by: User | None = None,
    **extra: Any,
) -> Loan:
    """An active weekly loan, interest-free unless `annual_interest_rate` is given:
    installment k (1..n) is due `7 * k - disbursed_days_ago` days from today and asks for
    principal / n."""
    terms: dict[str, Any] = {"annual_interest_rate": D("0"), **extra}
    loan = LoanFactory(
        principal=D(principal),
        installments=n,
        frequency="weekly",
        product=product,
        **({"submitted_by": submitted_by} if submitted_by else {}),
        **terms,
    )
    return loan_approve(
        loan=loan,
        user=approved_by or AdminFactory(),
        disbursement_date=days_ago(disbursed_days_ago),
    )


def pay(
    loan: Loan,
    amount: str | Decimal,
    *,
    on: date | None = None,
    method: str = Repayment.Method.CASH,
    user: User | None = None,
) -> Repayment:
    return repayment_record(
        loan=loan,
        user=user or cashier(),
        amount=D(amount),
        paid_on=on or today(),
        method=method,
    )


def reverse(repayment: Repayment, *, user: User | None = None) -> Repayment:
    return repayment_reverse(repayment=repayment, user=user or cashier(), reason="Posted twice")


def reload(loan: Loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)
