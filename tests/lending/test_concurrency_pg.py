"""Real threads posting at once on PostgreSQL: row locks keep every total exact.

SQLite serialises every writer on its database file (IMMEDIATE transactions), so these races
cannot happen there and the tests are skipped with the reason printed (`-ra`).
"""

from __future__ import annotations

import os
import random
import threading
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from lending.audit import verify_audit_log
from lending.models import Allocation, Installment, Loan, Receipt, Repayment
from lending.services.repayments import repayment_record, repayment_reverse
from lending.services.transactions import replay_differences
from tests.factories import AccountantFactory, ActiveLoanFactory

D = Decimal
ZERO = D("0.00")
pytestmark = [
    pytest.mark.postgres,
    pytest.mark.django_db(transaction=True, serialized_rollback=True),
]


@pytest.fixture(autouse=True)
def _postgres_and_roles(transactional_db: Any) -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: SQLite serialises writers on its file, so concurrent postings "
            "cannot race there (run with DATABASE_URL=postgres://...)"
        )
    # transactional_db empties every table after each test, the role groups of the data
    # migration included; put them back before the factories give users their roles.
    from accounts.roles import sync_roles

    sync_roles()


def run_at_once(jobs: list[Callable[[], Any]]) -> list[Any]:
    """Run each job in its own thread (own database connection), all released together;
    returns each job's result or the exception it raised."""
    barrier = threading.Barrier(len(jobs))
    results: list[Any] = [None] * len(jobs)

    def worker(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[i] = jobs[i]()
        except Exception as exc:  # handed back to the test, which says what it expected
            results[i] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a posting thread hung (deadlock?)"
    return results


def payment(
    loan_id: int, user: Any, amount: Decimal, paid_on: date | None = None, **kwargs: Any
) -> Callable[[], Repayment]:
    def job() -> Repayment:
        return repayment_record(
            loan=Loan.objects.get(pk=loan_id),
            user=user,
            amount=amount,
            paid_on=paid_on or timezone.localdate(),
            method="cash",
            **kwargs,
        )

    return job


def assert_loan_exact(loan_id: int) -> None:
    loan = Loan.objects.get(pk=loan_id)
    live = Repayment.objects.filter(loan=loan, reversed_at__isnull=True)
    paid = live.aggregate(s=Sum("amount"))["s"] or ZERO
    current = Allocation.objects.filter(
        transaction__repayment__in=live, transaction__kind="repayment", superseded_at=None
    )
    allocated = (
        current.aggregate(s=Sum("principal") + Sum("interest") + Sum("fees") + Sum("penalties"))[
            "s"
        ]
        or ZERO
    )
    installments = Installment.objects.filter(loan=loan)
    on_schedule = sum((i.paid for i in installments), ZERO)
    assert loan.total_paid == paid == allocated == on_schedule
    assert loan.outstanding == loan.total_repayable - loan.total_waived - loan.total_paid >= 0
    assert loan.outstanding == sum((i.remaining for i in installments), ZERO)
    assert (loan.status == Loan.Status.CLOSED) == (loan.outstanding == 0)
    # No allocation doubled: one current row per transaction and installment at most.
    pairs = list(
        Allocation.objects.filter(transaction__loan=loan, superseded_at=None).values_list(
            "transaction", "installment"
        )
    )
    assert len(pairs) == len(set(pairs))
    # The stored state is the replay of the transactions, and the journal balances.
    assert replay_differences(loan) == []
    call_command("check_money", stdout=open(os.devnull, "w"))  # noqa: SIM115


def assert_receipts_gapless() -> None:
    year = timezone.localdate().year
    numbers = sorted(Receipt.objects.values_list("number", flat=True))
    assert numbers == [f"RCT-{year}-{n:06d}" for n in range(1, len(numbers) + 1)]
    assert Receipt.objects.count() == Repayment.objects.count()


def test_many_cashiers_paying_one_loan_at_once_lose_no_update() -> None:
    cashiers = [AccountantFactory() for _ in range(4)]
    loan = ActiveLoanFactory(installments=24, principal=D("20000.00"), disbursed_days_ago=200)
    amounts = [D("37.13"), D("250.00"), D("0.01"), D("999.99"), D("412.50")] * 6
    results = run_at_once(
        [payment(loan.pk, cashiers[i % 4], amount) for i, amount in enumerate(amounts)]
    )
    assert all(isinstance(r, Repayment) for r in results), results
    loan.refresh_from_db()
    assert loan.total_paid == sum(amounts, ZERO)
    assert Repayment.objects.filter(loan=loan).count() == len(amounts)
    assert_loan_exact(loan.pk)
    assert_receipts_gapless()
    report = verify_audit_log()
    assert report.intact, [str(p) for p in report.problems]


def test_many_payments_on_many_loans_at_once_keep_every_total_exact() -> None:
    cashier = AccountantFactory()
    loans = [ActiveLoanFactory(installments=6, disbursed_days_ago=90) for _ in range(5)]
    rng = random.Random(4)
    jobs = []
    expected: dict[int, Decimal] = {loan.pk: ZERO for loan in loans}
    for _ in range(30):
        loan = rng.choice(loans)
        amount = D(rng.randint(1, 30000)) / 100
        expected[loan.pk] += amount
        jobs.append(payment(loan.pk, cashier, amount))
    # Two loans are also paid off in full by one more payment each, racing the others.
    for loan in loans[:2]:
        rest = loan.outstanding - expected[loan.pk]
        expected[loan.pk] += rest
        jobs.append(payment(loan.pk, cashier, rest))
    results = run_at_once(jobs)
    assert all(isinstance(r, Repayment) for r in results), results
    for loan in loans:
        assert Loan.objects.get(pk=loan.pk).total_paid == expected[loan.pk]
        assert_loan_exact(loan.pk)
    assert Loan.objects.filter(status=Loan.Status.CLOSED).count() == 2
    assert_receipts_gapless()


def test_racing_payments_above_the_balance_never_overpay() -> None:
    """Ten cashiers each try to take 30 % of the balance: at most three succeed, the rest are
    refused with nothing written, and the loan never goes below zero."""
    cashier = AccountantFactory()
    loan = ActiveLoanFactory(installments=12, disbursed_days_ago=40)
    share = (loan.outstanding * D("0.3")).quantize(D("0.01"))
    results = run_at_once([payment(loan.pk, cashier, share) for _ in range(10)])
    accepted = [r for r in results if isinstance(r, Repayment)]
    refused = [r for r in results if isinstance(r, ValidationError)]
    assert len(accepted) == 3 and len(refused) == 7, results
    assert all("outstanding balance" in str(e) for e in refused)
    assert_loan_exact(loan.pk)
    assert_receipts_gapless()


def test_double_submit_with_one_key_records_one_repayment() -> None:
    cashier = AccountantFactory()
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    results = run_at_once(
        [payment(loan.pk, cashier, D("150.00"), idempotency_key="form-abc") for _ in range(8)]
    )
    assert all(isinstance(r, Repayment) for r in results), results
    assert len({r.pk for r in results}) == 1
    assert Repayment.objects.filter(loan=loan).count() == 1
    loan.refresh_from_db()
    assert loan.total_paid == D("150.00")
    assert_loan_exact(loan.pk)
    assert_receipts_gapless()


def test_backdated_payments_racing_reversals_replay_under_the_lock() -> None:
    """Payments dated in the past (each replays the loan) race reversals of earlier payments
    and payments in date order: the loan lock serialises them, and the loan ends as the
    replay of what survived, with a balanced journal."""
    cashier = AccountantFactory()
    loan = ActiveLoanFactory(installments=12, disbursed_days_ago=120)
    today = timezone.localdate()
    earlier = [payment(loan.pk, cashier, D("100.00"))() for _ in range(3)]
    jobs: list[Callable[[], Any]] = [
        payment(loan.pk, cashier, D("40.00"), paid_on=today - timedelta(days=100 - 10 * i))
        for i in range(4)
    ]
    jobs += [payment(loan.pk, cashier, D("25.00")) for _ in range(3)]
    jobs += [
        (lambda r=r: repayment_reverse(repayment=r, user=cashier, reason="Race"))  # type: ignore[misc]
        for r in earlier
    ]
    results = run_at_once(jobs)
    assert not [r for r in results if isinstance(r, BaseException)], results
    loan.refresh_from_db()
    assert loan.total_paid == 4 * D("40.00") + 3 * D("25.00")
    assert_loan_exact(loan.pk)
    assert_receipts_gapless()


def test_reversals_racing_payments_keep_totals_exact() -> None:
    cashier = AccountantFactory()
    loan = ActiveLoanFactory(installments=12, disbursed_days_ago=120)
    earlier = [payment(loan.pk, cashier, D("100.00"))() for _ in range(4)]
    jobs: list[Callable[[], Any]] = [payment(loan.pk, cashier, D("55.55")) for _ in range(6)]
    jobs += [
        (lambda r=r: repayment_reverse(repayment=r, user=cashier, reason="Race"))  # type: ignore[misc]
        for r in earlier
    ]
    # The same reversal twice at once: exactly one wins.
    jobs.append(lambda: repayment_reverse(repayment=earlier[0], user=cashier, reason="Twice"))
    results = run_at_once(jobs)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert len(failures) == 1 and "already reversed" in str(failures[0])
    loan.refresh_from_db()
    assert loan.total_paid == 6 * D("55.55")
    assert_loan_exact(loan.pk)
