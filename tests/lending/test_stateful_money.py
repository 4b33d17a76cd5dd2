"""Hypothesis state machine over the repayment services: random loans with varied terms,
payments (partial, exact, refused because too large), reversals and early settlements, with
every DESIGN.md "Money" invariant checked after every step:

- sum of scheduled principal == loan principal;
- each installment's amount == principal + interest + fees + penalties, and what is paid and
  waived of each component never exceeds it;
- total paid == sum of non-reversed repayments == sum of their allocations;
- outstanding == total due - total paid, never negative;
- a loan is closed exactly when its outstanding is zero.

Each example runs inside a savepoint that is rolled back afterwards, so examples do not see
each other's loans.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Sum
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    initialize,
    invariant,
    rule,
)

from lending.errors import StateConflict
from lending.models import Allocation, AuditLog, Installment, Loan, Repayment
from lending.services.repayments import loan_settle, repayment_record, repayment_reverse
from tests.factories import AccountantFactory, ActiveLoanFactory, AdminFactory

D = Decimal
ZERO = D("0.00")
CENT = D("0.01")
pytestmark = pytest.mark.django_db

terms = st.fixed_dictionaries(
    {
        "principal": st.decimals(min_value=D("100"), max_value=D("50000"), places=2),
        "annual_interest_rate": st.sampled_from([D("0"), D("7.5"), D("12"), D("24"), D("36.5")]),
        "installments": st.integers(min_value=1, max_value=30),
        "frequency": st.sampled_from(["monthly", "biweekly", "weekly"]),
        "interest_method": st.sampled_from(["declining", "flat"]),
        "amortization": st.sampled_from(["equal_installments", "equal_principal"]),
        "installment_multiple": st.sampled_from([D("0.01"), D("1")]),
        "interest_period": st.sampled_from(["per_period", "daily"]),
        "grace_periods": st.sampled_from([0, 0, 0, 1, 2]),
    }
).map(lambda t: {**t, "grace_periods": min(t["grace_periods"], t["installments"] - 1)})


class MoneyMachine(RuleBasedStateMachine):
    loans = Bundle("loans")
    repayments = Bundle("repayments")

    def __init__(self) -> None:
        super().__init__()
        self._atomic = transaction.atomic()
        self._atomic.__enter__()
        self.cashier = AccountantFactory()
        self.approver = AdminFactory()
        self.loan_ids: list[int] = []
        self.today = timezone.localdate()

    def teardown(self) -> None:
        transaction.set_rollback(True)
        self._atomic.__exit__(None, None, None)

    # --- helpers ----------------------------------------------------------------------

    def _loan(self, loan_id: int) -> Loan:
        return Loan.objects.get(pk=loan_id)

    def _date(self, loan: Loan, pick: int) -> Any:
        assert loan.disbursement_date is not None
        span = (self.today - loan.disbursement_date).days
        return loan.disbursement_date + timedelta(days=pick % (span + 1))

    def _snapshot(self, loan_id: int) -> tuple[Any, ...]:
        loan = self._loan(loan_id)
        return (
            loan.status,
            loan.total_paid,
            loan.total_waived,
            loan.outstanding,
            Repayment.objects.count(),
            Allocation.objects.count(),
            AuditLog.objects.count(),
            tuple(
                Installment.objects.filter(loan_id=loan_id)
                .order_by("number")
                .values_list("principal_paid", "interest_paid", "interest_waived", "status")
            ),
        )

    # --- rules --------------------------------------------------------------------------

    @initialize(target=loans, loan_terms=terms, days_ago=st.integers(0, 400))
    def first_loan(self, loan_terms: dict[str, Any], days_ago: int) -> int:
        return self.new_loan(loan_terms, days_ago)

    @rule(target=loans, loan_terms=terms, days_ago=st.integers(0, 400))
    def new_loan(self, loan_terms: dict[str, Any], days_ago: int) -> int:
        loan = ActiveLoanFactory(
            approved_by=self.approver, disbursed_days_ago=days_ago, **loan_terms
        )
        self.loan_ids.append(loan.pk)
        return int(loan.pk)

    @rule(
        target=repayments,
        loan_id=loans,
        share=st.sampled_from([D("0.01"), D("0.1"), D("0.33"), D("0.5"), D("1")]),
        pick=st.integers(0, 10_000),
        method=st.sampled_from(["cash", "bank_transfer", "mobile_money", "cheque"]),
    )
    def pay(self, loan_id: int, share: Decimal, pick: int, method: str) -> int:
        loan = self._loan(loan_id)
        amount = max((loan.outstanding * share).quantize(CENT), CENT)
        try:
            repayment = repayment_record(
                loan=loan,
                user=self.cashier,
                amount=amount,
                paid_on=self._date(loan, pick),
                method=method,
            )
        except StateConflict:
            assert loan.status != Loan.Status.ACTIVE
            return 0
        assert loan.status == Loan.Status.ACTIVE
        assert repayment.amount == amount
        return int(repayment.pk)

    @rule(loan_id=loans, extra=st.sampled_from([CENT, D("1.00"), D("1000000.00")]))
    def overpay_is_refused_and_writes_nothing(self, loan_id: int, extra: Decimal) -> None:
        before = self._snapshot(loan_id)
        loan = self._loan(loan_id)
        with pytest.raises(ValidationError):  # StateConflict too, on a closed loan
            repayment_record(
                loan=loan,
                user=self.cashier,
                amount=loan.outstanding + extra,
                paid_on=self.today,
                method="cash",
            )
        assert self._snapshot(loan_id) == before

    @rule(repayment_id=consumes(repayments))
    def reverse(self, repayment_id: int) -> None:
        if not repayment_id:
            return
        repayment = Repayment.objects.get(pk=repayment_id)
        was_closed = repayment.loan.status == Loan.Status.CLOSED
        repayment_reverse(repayment=repayment, user=self.cashier, reason="Hypothesis")
        loan = self._loan(repayment.loan_id)
        assert loan.status == Loan.Status.ACTIVE
        assert not was_closed or loan.outstanding > 0

    @rule(target=repayments, loan_id=loans, pick=st.integers(0, 10_000))
    def settle(self, loan_id: int, pick: int) -> int:
        loan = self._loan(loan_id)
        try:
            repayment = loan_settle(
                loan=loan, user=self.cashier, on=self._date(loan, pick), method="cash"
            )
        except StateConflict:
            assert loan.status != Loan.Status.ACTIVE
            return 0
        except ValidationError as exc:
            # Only when nothing but future interest is left (principal paid ahead).
            assert "future interest" in str(exc)
            return 0
        assert self._loan(loan_id).status == Loan.Status.CLOSED
        return int(repayment.pk)

    @rule(repayment_id=repayments)
    def reversing_twice_is_refused(self, repayment_id: int) -> None:
        if not repayment_id:
            return
        repayment = Repayment.objects.get(pk=repayment_id)
        if repayment.is_reversed:
            before = self._snapshot(repayment.loan_id)
            with pytest.raises(StateConflict):
                repayment_reverse(repayment=repayment, user=self.cashier, reason="Again")
            assert self._snapshot(repayment.loan_id) == before

    # --- invariants -----------------------------------------------------------------------

    @invariant()
    def money_invariants_hold(self) -> None:
        for loan in Loan.objects.filter(pk__in=self.loan_ids):
            rows = list(Installment.objects.filter(loan=loan))
            assert sum((i.principal for i in rows), ZERO) == loan.principal
            for i in rows:
                assert i.total == i.principal + i.interest + i.fees + i.penalties
                assert 0 <= i.principal_paid <= i.principal
                assert i.interest_paid >= 0 and i.interest_waived >= 0
                assert i.interest_paid + i.interest_waived <= i.interest
                assert 0 <= i.fees_paid <= i.fees and 0 <= i.penalties_paid <= i.penalties
                if i.remaining > 0:
                    expected = Installment.Status.PARTIAL if i.paid else Installment.Status.DUE
                    assert i.status == expected
                elif i.status != Installment.Status.PAID:
                    # Only a 0.00 row of the schedule that no payment has reached yet.
                    assert i.total == 0 and loan.total_paid == 0
            live = Repayment.objects.filter(loan=loan, reversed_at__isnull=True)
            paid = live.aggregate(s=Sum("amount"))["s"] or ZERO
            allocated = sum((a.total for a in Allocation.objects.filter(repayment__in=live)), ZERO)
            assert loan.total_paid == D(paid).quantize(CENT) == allocated
            assert loan.total_paid == sum((i.paid for i in rows), ZERO)
            assert loan.total_waived == sum((i.interest_waived for i in rows), ZERO)
            assert loan.outstanding == loan.total_repayable - loan.total_waived - loan.total_paid
            assert loan.outstanding >= 0
            assert loan.outstanding == sum((i.remaining for i in rows), ZERO)
            assert (loan.status == Loan.Status.CLOSED) == (loan.outstanding == 0)


def test_money_invariants_hold_through_random_payments_reversals_and_settlements(db: Any) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(
        MoneyMachine,
        settings=settings(
            max_examples=25,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
