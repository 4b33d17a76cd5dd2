"""The daily close, accrual basis and closed books together (found by review): a close that
books a penalty and an accrual for one day, or replays a loan, stores what a replay gives;
books cannot be closed past the last day closed, so no penalty lands in closed books.
Accrual-basis product with a flat 5.00 penalty, grace 0; 1,200.00 at 12 %, 12 monthly
installments, equal principal, disbursed 1 Jan 2026 (installment 1 due 1 Feb: penalty day
2 Feb)."""

from __future__ import annotations

from datetime import date
from decimal import Decimal as D

import pytest
from django.core.exceptions import ValidationError

from lending.models import Loan, LoanTransaction
from lending.services.books import books_close
from lending.services.close_day import day_close
from lending.services.repayments import repayment_record
from lending.services.transactions import replay_differences
from tests.factories import AccountantFactory, ActiveLoanFactory, AdminFactory, LoanProductFactory

pytestmark = pytest.mark.django_db


def accrual_loan() -> Loan:
    product = LoanProductFactory(
        accounting_basis="accrual",
        max_principal=D("100000"),
        penalty_type="flat",
        penalty_amount=D("5.00"),
        penalty_grace_days=0,
    )
    return ActiveLoanFactory(
        product=product,
        principal=D("1200.00"),
        annual_interest_rate=D("12"),
        installments=12,
        amortization="equal_principal",
        disbursement_date=date(2026, 1, 1),
    )


def accrued(loan: Loan) -> D:
    return sum((t.amount for t in LoanTransaction.objects.filter(loan=loan, kind="accrual")), D(0))


def test_a_penalty_and_an_accrual_of_one_close_replay_as_stored() -> None:
    loan = accrual_loan()
    day_close(on=date(2026, 1, 15))
    day_close(on=date(2026, 2, 2))  # installment 1's penalty and the day's accrual
    loan.refresh_from_db()
    assert replay_differences(loan) == []


def test_a_close_that_replays_a_loan_keeps_its_accrual_and_never_accrues_twice() -> None:
    loan = accrual_loan()
    day_close(on=date(2026, 1, 15))
    repayment_record(
        loan=loan, user=AccountantFactory(), amount=D("10.00"), paid_on=date(2026, 2, 3),
        method="cash",
    )  # fmt: skip
    day_close(on=date(2026, 2, 2))  # the payment is booked after the penalty day: a replay
    loan.refresh_from_db()
    assert loan.interest_accrued == accrued(loan)
    assert replay_differences(loan) == []
    day_close(on=date(2026, 2, 3))
    loan.refresh_from_db()
    assert accrued(loan) == loan.interest_accrued == D("12.79")  # 12.00 + 11.00 x 2 / 28


def test_the_books_close_only_through_a_day_the_daily_close_has_reached() -> None:
    loan = accrual_loan()
    day_close(on=date(2026, 1, 15))
    with pytest.raises(ValidationError) as refused:
        books_close(through=date(2026, 2, 5), user=AdminFactory())
    assert "run it through 05 Feb 2026" in str(refused.value)
    day_close(on=date(2026, 2, 5))  # charges installment 1 as of 2 Feb
    books_close(through=date(2026, 2, 5), user=AdminFactory())
    closed_days = LoanTransaction.objects.filter(loan=loan, value_date__lte=date(2026, 2, 5))
    before = closed_days.count()
    day_close(on=date(2026, 2, 10))  # nothing more is dated in the closed days
    assert closed_days.count() == before
    assert LoanTransaction.objects.filter(loan=loan, kind="charge").count() == 1
    loan.refresh_from_db()
    assert replay_differences(loan) == []


def test_a_backdated_payment_never_takes_more_than_the_loan_owes_once_replayed() -> None:
    loan = accrual_loan()
    day_close(on=date(2026, 1, 15))
    day_close(on=date(2026, 2, 2))  # installment 1 late: 5.00 penalty
    loan.refresh_from_db()
    everything = loan.outstanding  # includes the 5.00 penalty
    with pytest.raises(ValidationError) as refused:
        repayment_record(
            loan=loan, user=AccountantFactory(), amount=everything, paid_on=date(2026, 2, 1),
            method="cash",
        )  # fmt: skip
    assert "at most USD" in str(refused.value) and "5.00 less" in str(refused.value)
    assert not LoanTransaction.objects.filter(loan=loan, kind="repayment").exists()
    repayment_record(
        loan=loan, user=AccountantFactory(), amount=everything - D("5.00"),
        paid_on=date(2026, 2, 1), method="cash",
    )  # fmt: skip
    loan.refresh_from_db()
    assert loan.status == Loan.Status.CLOSED and loan.overpaid == 0
    assert replay_differences(loan) == []
