"""The daily close: days past due, late penalties (amount, grace, once only, allocation order),
idempotence, one audit entry per run, bounded queries per batch, and the command."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lending.models import AuditLog, DayClose, Installment, Loan, LoanProduct
from lending.receivers import portfolio_generation
from lending.replay import PenaltyRule
from lending.services.close_day import day_close, penalty_for
from tests.factories import LoanProductFactory
from tests.reporting.helpers import D, days_ago, pay, reload, today, weekly_loan

pytestmark = pytest.mark.django_db


def flat_product(amount: str = "10.00", grace: int = 0) -> LoanProduct:
    return LoanProductFactory(
        penalty_type="flat", penalty_amount=D(amount), penalty_grace_days=grace
    )


def percent_product(rate: str, grace: int = 0) -> LoanProduct:
    return LoanProductFactory(
        penalty_type="percent", penalty_rate=D(rate), penalty_grace_days=grace
    )


def schedule(loan: Loan) -> list[Installment]:
    return list(Installment.objects.filter(loan=loan).order_by("number"))


def state(loan: Loan) -> tuple[Any, ...]:
    """Everything the close may change on a loan and its installments."""
    fresh = reload(loan)
    return (
        fresh.total_repayable,
        fresh.outstanding,
        fresh.days_past_due,
        [(i.penalties, i.penalty_applied_on) for i in schedule(loan)],
    )


# --- what it records -----------------------------------------------------------------------


def test_flat_penalty_once_per_late_installment_and_days_past_due() -> None:
    # 1200 / 12 weekly; #1..#3 due 21, 14, 7 days ago; #4 due today (not late yet).
    loan = weekly_loan(disbursed_days_ago=28, product=flat_product("10.00", grace=3))
    result = day_close(on=today())
    loan = reload(loan)
    rows = schedule(loan)
    assert [r.penalties for r in rows[:5]] == [D("10.00")] * 3 + [D("0.00")] * 2
    assert [r.penalty_applied_on for r in rows[:4]] == [today()] * 3 + [None]
    assert loan.days_past_due == 21
    assert loan.total_repayable == D("1230.00")
    assert loan.outstanding == D("1230.00")
    assert (result.loans_checked, result.loans_overdue, result.installments_overdue) == (1, 1, 3)
    assert (result.penalties_applied, result.penalty_total) == (3, D("30.00"))


def test_running_twice_for_the_same_day_changes_nothing() -> None:
    loan = weekly_loan(disbursed_days_ago=28, product=flat_product())
    other = weekly_loan(disbursed_days_ago=10, product=percent_product("5"))
    first = day_close(on=today())
    after_first = (state(loan), state(other))
    second = day_close(on=today())
    assert (state(loan), state(other)) == after_first
    assert first.penalties_applied == 4
    assert (second.penalties_applied, second.days_past_due_updated) == (0, 0)


def test_a_later_day_does_not_charge_an_installment_twice() -> None:
    loan = weekly_loan(disbursed_days_ago=28, product=flat_product())
    day_close(on=days_ago(1))  # #1..#3 late (due 21, 14 and 7 days ago)
    day_close(on=today())
    rows = schedule(loan)
    assert [r.penalties for r in rows[:4]] == [D("10.00")] * 3 + [D("0.00")]
    assert [r.penalty_applied_on for r in rows[:3]] == [days_ago(1)] * 3
    assert reload(loan).days_past_due == 21


def test_one_audit_entry_per_run_with_its_counts() -> None:
    weekly_loan(disbursed_days_ago=28, product=flat_product())
    before = AuditLog.objects.filter(action=AuditLog.Action.DAY_CLOSED).count()
    day_close(on=today())
    entries = AuditLog.objects.filter(action=AuditLog.Action.DAY_CLOSED)
    assert entries.count() == before + 1
    details = entries.first().details  # newest first
    assert details["on"] == today().isoformat()
    assert details["penalties_applied"] == 3
    assert details["penalty_total"] == "30.00"
    assert details["loans_checked"] == 1
    assert entries.first().user is None


def test_each_charge_is_audited_in_its_batch() -> None:
    loan = weekly_loan(disbursed_days_ago=28, product=flat_product())
    day_close(on=today(), batch_size=1)
    (entry,) = AuditLog.objects.filter(action=AuditLog.Action.PENALTIES_APPLIED)
    charges = entry.details["penalties"]
    assert [c["loan"] for c in charges] == [loan.number] * 3
    assert sum(Decimal(c["amount"]) for c in charges) == Decimal("30.00")
    day_close(on=today())
    assert AuditLog.objects.filter(action=AuditLog.Action.PENALTIES_APPLIED).count() == 1


def test_grace_days_are_counted_after_the_due_date() -> None:
    loan = weekly_loan(disbursed_days_ago=7, product=flat_product(grace=5))  # #1 due today
    late = weekly_loan(disbursed_days_ago=12, product=flat_product(grace=5))  # 5 days late
    later = weekly_loan(disbursed_days_ago=13, product=flat_product(grace=5))  # 6 days late
    day_close(on=today())
    assert schedule(loan)[0].penalties == D("0.00")
    assert schedule(late)[0].penalties == D("0.00")  # exactly the grace: not yet
    assert schedule(later)[0].penalties == D("10.00")
    assert reload(late).days_past_due == 5


def test_percent_penalty_is_of_the_installment_rounded_half_even() -> None:
    loan = weekly_loan(
        principal="1206.00", n=12, disbursed_days_ago=8, product=percent_product("1")
    )
    day_close(on=today())
    # 1206 / 12 = 100.50; 1 % = 1.005 -> 1.00 (half to even), not 1.01.
    first = schedule(loan)[0]
    assert first.principal == D("100.50")
    assert first.penalties == D("1.00")
    assert reload(loan).outstanding == D("1207.00")


@pytest.mark.parametrize(
    ("amount", "rate", "penalty"),
    [
        ("100.50", "1", "1.00"),
        ("101.50", "1", "1.02"),
        ("328.00", "5", "16.40"),
        ("0.10", "2.5", "0.00"),
    ],
)
def test_penalty_amount(amount: str, rate: str, penalty: str) -> None:
    inst = Installment(principal=D(amount), interest=D("0"), fees=D("0"), interest_waived=D("0"))
    assert penalty_for(PenaltyRule(percent=D(rate)), inst) == D(penalty)


def test_loan_paid_on_its_due_date_is_never_penalised() -> None:
    loan = weekly_loan(disbursed_days_ago=14, product=flat_product(grace=0))  # #1 due 7 days ago
    pay(loan, "100.00", on=days_ago(7))  # on the due date
    result = day_close(on=today())
    assert [r.penalties for r in schedule(loan)] == [D("0.00")] * 12
    assert reload(loan).days_past_due == 0
    assert result.penalties_applied == 0


def test_installment_paid_late_but_before_the_close_is_not_penalised() -> None:
    loan = weekly_loan(disbursed_days_ago=14, product=flat_product())
    pay(loan, "100.00", on=days_ago(2))
    day_close(on=today())
    assert schedule(loan)[0].penalties == D("0.00")


def test_penalty_is_allocated_first_by_the_next_payment() -> None:
    loan = weekly_loan(disbursed_days_ago=10, product=flat_product("10.00"))  # #1 3 days late
    # Charged at the end of yesterday; a payment dated today comes after it. (One dated on the
    # close's own day counts before the close's charges: see test_ledger_services.)
    day_close(on=days_ago(1))
    repayment = pay(loan, "15.00")
    lines = list(repayment.allocations)
    assert len(lines) == 1
    line = lines[0]
    assert (line.penalties, line.fees, line.interest, line.principal) == (
        D("10.00"),
        D("0.00"),
        D("0.00"),
        D("5.00"),
    )
    loan = reload(loan)
    assert loan.outstanding == D("1195.00")  # 1200 + 10 penalty - 15 paid


def test_products_without_penalty_and_loans_without_product_are_not_charged() -> None:
    plain = weekly_loan(disbursed_days_ago=28)
    none = weekly_loan(disbursed_days_ago=28, product=LoanProductFactory(penalty_type="none"))
    day_close(on=today())
    for loan in (plain, none):
        assert reload(loan).total_repayable == D("1200.00")
        assert reload(loan).days_past_due == 21


def test_only_active_loans_are_charged_and_closed_loans_are_not_past_due() -> None:
    loan = weekly_loan(principal="300.00", n=3, disbursed_days_ago=28, product=flat_product())
    day_close(on=days_ago(1))
    assert reload(loan).days_past_due == 20
    pay(loan, reload(loan).outstanding)  # pays everything, penalties included: closed
    assert reload(loan).status == Loan.Status.CLOSED
    result = day_close(on=today())
    assert reload(loan).days_past_due == 0
    assert result.loans_checked == 0


def test_a_day_in_the_future_is_refused() -> None:
    with pytest.raises(ValidationError):
        day_close(on=today() + timedelta(days=1))


# --- set-wise ------------------------------------------------------------------------------


def _queries(n_loans: int, batch_size: int) -> int:
    # Each measurement is a first close (a loan approved after a close has its closed
    # penalty days decided at approval, which would leave the close nothing to charge).
    DayClose.objects.all().delete()
    product = flat_product()
    for _ in range(n_loans):
        weekly_loan(disbursed_days_ago=28, product=product)
    with CaptureQueriesContext(connection) as ctx:
        day_close(on=today(), batch_size=batch_size)
    return len(ctx.captured_queries)


def test_queries_do_not_grow_with_loans_or_installments() -> None:
    few = _queries(2, batch_size=1000)
    many = _queries(12, batch_size=1000)
    assert many == few


def test_queries_grow_by_a_constant_per_batch() -> None:
    one_batch = _queries(3, batch_size=3)
    # 3 more loans (6 in all) with batch size 3: two batches now.
    two_batches = _queries(3, batch_size=3)
    three_batches = _queries(3, batch_size=3)
    assert three_batches - two_batches == two_batches - one_batch
    assert two_batches - one_batch <= 8


def test_batches_cover_every_loan() -> None:
    product = flat_product()
    loans = [weekly_loan(disbursed_days_ago=15, product=product) for _ in range(5)]
    ticks: list[tuple[int, int]] = []
    result = day_close(
        on=today(), batch_size=2, progress=lambda done, total: ticks.append((done, total))
    )
    assert result.batches == 3
    assert ticks == [(2, 5), (4, 5), (5, 5)]
    assert all(reload(loan).days_past_due == 8 for loan in loans)
    assert result.penalties_applied == 10  # #1 and #2 of each loan


@pytest.mark.postgres
def test_batch_locks_its_loans() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: SQLite has no row locks")
    weekly_loan(disbursed_days_ago=8, product=flat_product())
    with CaptureQueriesContext(connection) as ctx:
        day_close(on=today())
    locking = [q["sql"] for q in ctx.captured_queries if "FOR UPDATE" in q["sql"]]
    assert any('FROM "lending_loan"' in sql for sql in locking)


# --- the command ---------------------------------------------------------------------------


def test_command_closes_the_given_day_and_reports() -> None:
    loan = weekly_loan(disbursed_days_ago=28, product=flat_product())
    out = StringIO()
    call_command("close_day", "--date", days_ago(1).isoformat(), stdout=out)
    assert f"Day {days_ago(1)} closed" in out.getvalue()
    assert "3 penalties applied (30.00)" in out.getvalue()
    assert reload(loan).days_past_due == 20


def test_command_defaults_to_today_and_shows_progress_when_verbose() -> None:
    weekly_loan(disbursed_days_ago=8)
    out = StringIO()
    call_command("close_day", "--batch-size", "1", verbosity=2, stdout=out)
    assert f"Closing {today()}: 1/1 loans" in out.getvalue()


@pytest.mark.parametrize("value", ["yesterday", "2026-02-30"])
def test_command_refuses_a_bad_date(value: str) -> None:
    with pytest.raises(CommandError, match="--date"):
        call_command("close_day", "--date", value, stdout=StringIO())


def test_command_refuses_a_future_date() -> None:
    with pytest.raises(CommandError, match="future"):
        call_command(
            "close_day", "--date", (today() + timedelta(days=2)).isoformat(), stdout=StringIO()
        )


def test_penalty_counts_are_exact_for_many_installments() -> None:
    product = flat_product("2.50")
    loan = weekly_loan(principal="480.00", n=48, disbursed_days_ago=7 * 48 + 1, product=product)
    day_close(on=today())
    assert reload(loan).total_repayable == D("480.00") + 48 * D("2.50")
    assert sum((r.penalties for r in schedule(loan)), Decimal(0)) == D("120.00")


def test_a_close_that_only_moves_days_past_due_renews_the_portfolio() -> None:
    # No penalty product, so no money moves and no per-loan signal is sent; the cached loan
    # rows and pages must still be read again.
    loan = weekly_loan(disbursed_days_ago=12)
    before = portfolio_generation()
    day_close(on=today())
    assert reload(loan).days_past_due > 0
    assert portfolio_generation() != before
