"""Repayment services: record, refuse, idempotency, reversal, payoff and settlement."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

import lending.services.repayments as repayments_service
from lending.errors import StateConflict
from lending.models import (
    Allocation,
    AuditLog,
    Installment,
    Loan,
    NumberSequence,
    Receipt,
    Repayment,
)
from lending.receivers import loan_status_cache_key
from lending.services.loans import loan_write_off
from lending.services.repayments import (
    IdempotencyConflict,
    loan_settle,
    payoff_quote,
    repayment_record,
    repayment_reverse,
)
from lending.signals import loan_changed, repayment_recorded, repayment_reversed
from tests.factories import ActiveLoanFactory, LoanFactory

D = Decimal
pytestmark = pytest.mark.django_db


def today() -> date:
    return timezone.localdate()


def pay(loan: Loan, user: User, amount: str | Decimal, **kwargs: Any) -> Repayment:
    kwargs.setdefault("paid_on", today())
    kwargs.setdefault("method", "cash")
    return repayment_record(loan=loan, user=user, amount=D(amount), **kwargs)


def fresh(loan: Loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


def schedule(loan: Loan) -> list[Installment]:
    return list(Installment.objects.filter(loan=loan).order_by("number"))


def actions() -> list[str]:
    return list(AuditLog.objects.order_by("id").values_list("action", flat=True))


def check_money(loan: Loan) -> None:
    """The DESIGN.md "Money" invariants for one loan."""
    loan = fresh(loan)
    rows = schedule(loan)
    assert sum((i.principal for i in rows), D(0)) == loan.principal
    live = Repayment.objects.filter(loan=loan, reversed_at__isnull=True)
    paid = sum((r.amount for r in live), D(0))
    allocated = sum(
        (
            a.total
            for a in Allocation.objects.filter(
                transaction__repayment__in=live, transaction__kind="repayment", superseded_at=None
            )
        ),
        D(0),
    )
    assert loan.total_paid == paid == allocated
    assert loan.total_paid == sum((i.paid for i in rows), D(0))
    assert loan.total_waived == sum((i.interest_waived for i in rows), D(0))
    assert loan.outstanding == loan.total_due - loan.total_paid >= 0
    assert loan.outstanding == sum((i.remaining for i in rows), D(0))
    assert (loan.status == Loan.Status.CLOSED) == (loan.outstanding == 0)


@pytest.fixture
def loan(db: Any) -> Loan:
    """5000 at 12 %, 12 monthly EMIs of 444.24 (last 444.20), disbursed 75 days ago, so two
    installments are overdue."""
    return ActiveLoanFactory(disbursed_days_ago=75)


# --- recording --------------------------------------------------------------------------


def test_partial_payment_pays_oldest_installment_first_and_lowers_outstanding(
    loan: Loan, accountant: User
) -> None:
    first = schedule(loan)[0]
    repayment = pay(loan, accountant, "100.00", reference="MPESA-1")

    [alloc] = repayment.allocations.all()
    assert alloc.installment_id == first.pk
    assert (alloc.penalties, alloc.fees, alloc.interest, alloc.principal) == (
        D("0"),
        D("0"),
        first.interest,
        D("100.00") - first.interest,
    )
    first.refresh_from_db()
    assert first.status == Installment.Status.PARTIAL and first.paid_on is None
    loan = fresh(loan)
    assert loan.total_paid == D("100.00")
    assert loan.outstanding == loan.total_repayable - D("100.00")
    assert repayment.outstanding_after == loan.outstanding
    assert repayment.receipt.number == f"RCT-{today().year}-000001"
    assert actions()[-1] == AuditLog.Action.REPAYMENT_RECORDED
    check_money(loan)


def test_payment_covering_installments_marks_them_paid_and_pays_ahead(
    loan: Loan, accountant: User
) -> None:
    rows = schedule(loan)
    amount = rows[0].total + rows[1].total + D("10.00")
    pay(loan, accountant, amount, paid_on=today() - timedelta(days=1))
    rows = schedule(loan)
    assert [r.status for r in rows[:3]] == ["paid", "paid", "partial"]
    assert rows[0].paid_on == today() - timedelta(days=1)
    assert rows[2].interest_paid == D("10.00") and rows[2].principal_paid == 0
    assert fresh(loan).days_past_due == 0
    check_money(loan)


def test_paying_the_whole_outstanding_closes_the_loan(loan: Loan, accountant: User) -> None:
    pay(loan, accountant, "500.00")
    before = len(actions())
    pay(loan, accountant, fresh(loan).outstanding)
    loan = fresh(loan)
    assert loan.status == Loan.Status.CLOSED and loan.outstanding == 0
    assert loan.closed_on == today()
    assert all(i.status == "paid" for i in schedule(loan))
    assert actions()[before:] == [AuditLog.Action.REPAYMENT_RECORDED, AuditLog.Action.LOAN_CLOSED]
    check_money(loan)


def test_amount_above_outstanding_is_refused_with_the_balance_and_nothing_is_written(
    loan: Loan, accountant: User
) -> None:
    counts = (Repayment.objects.count(), AuditLog.objects.count(), Receipt.objects.count())
    outstanding = fresh(loan).outstanding
    with pytest.raises(ValidationError) as exc:
        pay(loan, accountant, outstanding + D("0.01"))
    assert exc.value.message_dict["amount"] == [
        f"The amount is above the loan's outstanding balance of USD {outstanding:,.2f}."
    ]
    assert (Repayment.objects.count(), AuditLog.objects.count(), Receipt.objects.count()) == counts
    assert fresh(loan).outstanding == outstanding
    # The refused posting did not burn a receipt number: the next one is still 000001.
    assert pay(loan, accountant, "1.00").receipt.number.endswith("-000001")


@pytest.mark.parametrize("amount", ["0", "-5.00", "1.001"])
def test_amount_must_be_positive_cents(loan: Loan, accountant: User, amount: str) -> None:
    with pytest.raises(ValidationError) as exc:
        pay(loan, accountant, amount)
    assert "amount" in exc.value.message_dict
    assert not Repayment.objects.exists()


def test_date_in_the_future_is_refused(loan: Loan, accountant: User) -> None:
    with pytest.raises(ValidationError) as exc:
        pay(loan, accountant, "10.00", paid_on=today() + timedelta(days=1))
    assert exc.value.message_dict["paid_on"] == ["The payment date cannot be in the future."]
    assert not Repayment.objects.exists()


def test_date_before_disbursement_is_refused(loan: Loan, accountant: User) -> None:
    with pytest.raises(ValidationError) as exc:
        pay(loan, accountant, "10.00", paid_on=today() - timedelta(days=76))
    assert "before the loan was disbursed" in exc.value.message_dict["paid_on"][0]


def test_unknown_method_is_refused(loan: Loan, accountant: User) -> None:
    with pytest.raises(ValidationError) as exc:
        pay(loan, accountant, "10.00", method="bitcoin")
    assert "method" in exc.value.message_dict


def test_pending_loan_cannot_take_a_payment(accountant: User) -> None:
    pending = LoanFactory()
    with pytest.raises(StateConflict, match="pending"):
        pay(pending, accountant, "10.00")
    assert not Repayment.objects.exists()


def test_closed_loan_cannot_take_a_payment(loan: Loan, accountant: User) -> None:
    pay(loan, accountant, fresh(loan).outstanding)
    with pytest.raises(StateConflict, match="closed"):
        pay(loan, accountant, "1.00")


def test_written_off_loan_cannot_take_a_payment(
    loan: Loan, accountant: User, admin_user: User
) -> None:
    loan_write_off(loan=loan, user=admin_user, reason="Borrower emigrated")
    with pytest.raises(StateConflict):
        pay(loan, accountant, "1.00")


def test_loan_officer_cannot_record_a_payment(loan: Loan, officer: User) -> None:
    with pytest.raises(PermissionDenied):
        pay(loan, officer, "1.00")
    assert not Repayment.objects.exists()


def test_posting_sends_signals_and_invalidates_the_loan_status_cache(
    loan: Loan, accountant: User
) -> None:
    received: list[tuple[str, Any]] = []

    def on_recorded(sender: Any, repayment: Repayment, loan_id: int, **kw: Any) -> None:
        received.append(("recorded", loan_id))

    def on_changed(sender: Any, loan_id: int, event: str, **kw: Any) -> None:
        received.append((event, loan_id))

    repayment_recorded.connect(on_recorded)
    loan_changed.connect(on_changed)
    cache.set(loan_status_cache_key(loan.pk), {"status": "behind"})
    try:
        pay(loan, accountant, "10.00")
    finally:
        repayment_recorded.disconnect(on_recorded)
        loan_changed.disconnect(on_changed)
    assert ("recorded", loan.pk) in received and ("repayment_recorded", loan.pk) in received
    assert cache.get(loan_status_cache_key(loan.pk)) is None


def test_receipt_numbers_are_gapless_per_year(loan: Loan, accountant: User) -> None:
    numbers = [pay(loan, accountant, "10.00").receipt.number for _ in range(3)]
    year = today().year
    assert numbers == [f"RCT-{year}-{n:06d}" for n in (1, 2, 3)]
    assert NumberSequence.objects.get(key=f"receipt:{year}").last_value == 3


def test_receipt_numbers_grow_past_six_digits(loan: Loan, accountant: User) -> None:
    """The number is formatted in the database on PostgreSQL: the same as in Python."""
    year = today().year
    NumberSequence.objects.create(key=f"receipt:{year}", last_value=999_998)
    numbers = [pay(loan, accountant, "10.00").receipt.number for _ in range(2)]
    assert numbers == [f"RCT-{year}-999999", f"RCT-{year}-1000000"]
    receipt = Receipt.objects.get(number=numbers[1])
    assert receipt.repayment.receipt == receipt
    assert receipt.voided_at is None


# --- idempotency --------------------------------------------------------------------------


def test_same_key_and_same_request_returns_the_first_repayment(
    loan: Loan, accountant: User
) -> None:
    first = pay(loan, accountant, "50.00", idempotency_key="form-123")
    again = pay(loan, accountant, "50.00", idempotency_key="form-123")
    assert again.pk == first.pk
    assert Repayment.objects.count() == 1
    assert fresh(loan).total_paid == D("50.00")
    assert actions().count(AuditLog.Action.REPAYMENT_RECORDED) == 1


def test_same_key_replays_even_after_the_payment_closed_the_loan(
    loan: Loan, accountant: User
) -> None:
    amount = fresh(loan).outstanding
    first = pay(loan, accountant, amount, idempotency_key="k")
    assert pay(loan, accountant, amount, idempotency_key="k").pk == first.pk


@pytest.mark.parametrize("closes", [True, False])
def test_a_submit_that_raced_past_the_first_check_gets_the_first_payment(
    loan: Loan, accountant: User, monkeypatch: pytest.MonkeyPatch, closes: bool
) -> None:
    # The second submit looked before the first committed (its first lookup found nothing),
    # then waited for the lock. If the first closed the loan, it is refused and then answered
    # with the first payment; if not, it meets the first at the key's unique index.
    amount = fresh(loan).outstanding if closes else D("50.00")
    first = pay(loan, accountant, amount, idempotency_key="k")
    real, calls = repayments_service._existing_for_key, []

    def first_lookup_misses(key: str | None, fingerprint: str) -> Repayment | None:
        calls.append(key)
        return None if len(calls) == 1 else real(key, fingerprint)

    monkeypatch.setattr(repayments_service, "_existing_for_key", first_lookup_misses)
    assert pay(loan, accountant, amount, idempotency_key="k").pk == first.pk
    assert Repayment.objects.count() == 1
    assert fresh(loan).total_paid == amount
    assert actions().count(AuditLog.Action.REPAYMENT_RECORDED) == 1


def test_same_key_with_a_different_request_is_a_conflict(loan: Loan, accountant: User) -> None:
    pay(loan, accountant, "50.00", idempotency_key="form-123")
    with pytest.raises(IdempotencyConflict):
        pay(loan, accountant, "60.00", idempotency_key="form-123")
    assert Repayment.objects.count() == 1


def test_api_fingerprint_is_used_when_given(loan: Loan, accountant: User) -> None:
    first = pay(loan, accountant, "5.00", idempotency_key="api-1", request_fingerprint="abc")
    assert (
        pay(loan, accountant, "5.00", idempotency_key="api-1", request_fingerprint="abc") == first
    )
    with pytest.raises(IdempotencyConflict):
        pay(loan, accountant, "5.00", idempotency_key="api-1", request_fingerprint="xyz")


# --- reversal -----------------------------------------------------------------------------


def test_reversal_undoes_exactly_that_repayment_and_voids_its_receipt(
    loan: Loan, accountant: User
) -> None:
    pay(loan, accountant, "300.00")
    before = [(i.pk, i.paid, i.status) for i in schedule(loan)]
    second = pay(loan, accountant, "700.00")
    reversed_ = repayment_reverse(repayment=second, user=accountant, reason="Cheque bounced")
    assert [(i.pk, i.paid, i.status) for i in schedule(loan)] == before
    assert reversed_.reversed_at is not None and reversed_.reversed_by == accountant
    assert reversed_.reversal_reason == "Cheque bounced"
    assert Receipt.objects.get(repayment=second).voided_at is not None
    assert fresh(loan).total_paid == D("300.00")
    assert actions()[-1] == AuditLog.Action.REPAYMENT_REVERSED
    assert second.allocations.count() > 0  # kept, never deleted
    check_money(loan)


def test_reversing_an_older_payment_leaves_later_ones_alone(loan: Loan, accountant: User) -> None:
    first = pay(loan, accountant, "300.00")
    pay(loan, accountant, "700.00")
    repayment_reverse(repayment=first, user=accountant, reason="Wrong loan")
    assert fresh(loan).total_paid == D("700.00")
    check_money(loan)


def test_reversal_reopens_a_closed_loan(loan: Loan, accountant: User) -> None:
    last = pay(loan, accountant, fresh(loan).outstanding)
    assert fresh(loan).status == Loan.Status.CLOSED
    before = len(actions())
    repayment_reverse(repayment=last, user=accountant, reason="Posted twice")
    loan = fresh(loan)
    assert loan.status == Loan.Status.ACTIVE and loan.closed_on is None
    assert loan.days_past_due > 0
    assert actions()[before:] == [AuditLog.Action.REPAYMENT_REVERSED, AuditLog.Action.LOAN_REOPENED]
    check_money(loan)


def test_reversing_twice_is_refused(loan: Loan, accountant: User) -> None:
    repayment = pay(loan, accountant, "10.00")
    repayment_reverse(repayment=repayment, user=accountant, reason="Typo")
    with pytest.raises(StateConflict, match="already reversed"):
        repayment_reverse(repayment=repayment, user=accountant, reason="Again")
    assert fresh(loan).total_paid == 0


def test_reversal_needs_a_reason(loan: Loan, accountant: User) -> None:
    repayment = pay(loan, accountant, "10.00")
    with pytest.raises(ValidationError) as exc:
        repayment_reverse(repayment=repayment, user=accountant, reason="   ")
    assert "reason" in exc.value.message_dict
    assert fresh(loan).total_paid == D("10.00")


def test_loan_officer_cannot_reverse(loan: Loan, accountant: User, officer: User) -> None:
    repayment = pay(loan, accountant, "10.00")
    with pytest.raises(PermissionDenied):
        repayment_reverse(repayment=repayment, user=officer, reason="No")


def test_reversal_sends_its_signal(loan: Loan, accountant: User) -> None:
    repayment = pay(loan, accountant, "10.00")
    seen: list[int] = []

    def on_reversed(sender: Any, repayment: Repayment, loan_id: int, **kw: Any) -> None:
        seen.append(repayment.pk)

    repayment_reversed.connect(on_reversed)
    try:
        repayment_reverse(repayment=repayment, user=accountant, reason="Typo")
    finally:
        repayment_reversed.disconnect(on_reversed)
    assert seen == [repayment.pk]


# --- payoff and settlement ---------------------------------------------------------------


def test_payoff_quote_breakdown_adds_up(loan: Loan) -> None:
    quote = payoff_quote(loan=loan, on=today())
    rows = schedule(loan)
    overdue = [i for i in rows if i.due_date <= today()]
    assert quote.past_due == sum((i.total for i in overdue), D(0))
    assert quote.principal_not_due == loan.principal - sum((i.principal for i in overdue), D(0))
    assert quote.accrued_interest > 0
    assert quote.total == quote.past_due + quote.principal_not_due + quote.accrued_interest
    assert quote.total == loan.outstanding - quote.interest_waived
    assert quote.outstanding == loan.outstanding


def test_payoff_quote_refuses_a_date_before_disbursement(loan: Loan) -> None:
    with pytest.raises(ValidationError) as exc:
        payoff_quote(loan=loan, on=today() - timedelta(days=100))
    assert "on" in exc.value.message_dict


def test_settlement_pays_the_quote_waives_the_rest_and_closes(loan: Loan, accountant: User) -> None:
    pay(loan, accountant, "200.00")
    quote = payoff_quote(loan=loan, on=today())
    before = len(actions())
    repayment = loan_settle(
        loan=loan, user=accountant, on=today(), method="bank_transfer", reference="TT-9"
    )
    loan = fresh(loan)
    assert repayment.is_settlement and repayment.amount == quote.total
    assert loan.status == Loan.Status.CLOSED and loan.outstanding == 0
    assert loan.total_waived == quote.interest_waived > 0
    rows = schedule(loan)
    assert all(i.status == "paid" for i in rows)
    assert {i.pk: i.interest_waived for i in rows if i.interest_waived} == quote.waivers
    assert actions()[before:] == [AuditLog.Action.LOAN_SETTLED, AuditLog.Action.LOAN_CLOSED]
    check_money(loan)


def test_settlement_is_refused_when_the_payoff_changed_since_the_quote(
    loan: Loan, accountant: User
) -> None:
    quote = payoff_quote(loan=loan, on=today())
    pay(loan, accountant, "10.00")  # another cashier, between the quote and the settlement
    with pytest.raises(ValidationError) as exc:
        loan_settle(
            loan=loan, user=accountant, on=today(), method="cash", expected_amount=quote.total
        )
    assert "expected_amount" in exc.value.message_dict
    loan = fresh(loan)
    assert loan.status == Loan.Status.ACTIVE
    assert not loan.repayments.filter(is_settlement=True).exists()


def test_reversing_a_settlement_restores_the_waived_interest(loan: Loan, accountant: User) -> None:
    pay(loan, accountant, "200.00")
    before = [(i.pk, i.paid, i.interest_waived, i.status) for i in schedule(loan)]
    settlement = loan_settle(loan=loan, user=accountant, on=today(), method="cash")
    repayment_reverse(repayment=settlement, user=accountant, reason="Funds did not clear")
    loan = fresh(loan)
    assert loan.status == Loan.Status.ACTIVE and loan.total_waived == 0
    assert [(i.pk, i.paid, i.interest_waived, i.status) for i in schedule(loan)] == before
    check_money(loan)


def test_settlement_is_idempotent_per_key(loan: Loan, accountant: User) -> None:
    first = loan_settle(
        loan=loan, user=accountant, on=today(), method="cash", idempotency_key="s-1"
    )
    again = loan_settle(
        loan=loan, user=accountant, on=today(), method="cash", idempotency_key="s-1"
    )
    assert first.pk == again.pk


def test_settling_a_closed_loan_is_refused(loan: Loan, accountant: User) -> None:
    loan_settle(loan=loan, user=accountant, on=today(), method="cash")
    with pytest.raises(StateConflict):
        loan_settle(loan=loan, user=accountant, on=today(), method="cash")


def test_settlement_date_cannot_be_in_the_future(loan: Loan, accountant: User) -> None:
    with pytest.raises(ValidationError) as exc:
        loan_settle(loan=loan, user=accountant, on=today() + timedelta(days=3), method="cash")
    assert "on" in exc.value.message_dict
    assert not Repayment.objects.exists()


def test_settlement_charges_unpaid_penalties(loan: Loan, accountant: User) -> None:
    first = schedule(loan)[0]
    Installment.objects.filter(pk=first.pk).update(penalties=D("25.00"))
    Loan.objects.filter(pk=loan.pk).update(
        total_repayable=loan.total_repayable + 25, outstanding=loan.outstanding + 25
    )
    quote = payoff_quote(loan=fresh(loan), on=today())
    assert quote.penalties_and_fees == D("25.00")
    loan_settle(loan=fresh(loan), user=accountant, on=today(), method="cash")
    first.refresh_from_db()
    assert first.penalties_paid == D("25.00")
    check_money(loan)


# --- bounded queries -----------------------------------------------------------------------

MAX_POSTING_QUERIES = 30


def _post_everything(n: int, accountant: User, assert_max: Any) -> list[int]:
    """Query counts of a part payment, a settlement, its reversal, and one payment that pays
    every installment and closes the loan (the worst case), on an n-installment loan."""
    loan = ActiveLoanFactory(installments=n, principal=D("50000.00"), disbursed_days_ago=40)
    counts = []
    steps = [
        lambda: pay(loan, accountant, "100.00"),
        lambda: loan_settle(loan=loan, user=accountant, on=today(), method="cash"),
        lambda: repayment_reverse(
            repayment=Repayment.objects.get(is_settlement=True, loan=loan),
            user=accountant,
            reason="x",
        ),
        lambda: pay(loan, accountant, fresh(loan).outstanding),
    ]
    for step in steps:
        with assert_max(MAX_POSTING_QUERIES) as captured:
            step()
        counts.append(len(captured))
    assert fresh(loan).status == Loan.Status.CLOSED
    check_money(loan)
    return counts


def test_posting_runs_a_bounded_number_of_queries_whatever_the_schedule_length(
    accountant: User, django_assert_max_num_queries: Any
) -> None:
    """One query reads the schedule; allocations and installments are written in bulk. On
    PostgreSQL a 360-installment loan takes exactly as many queries as a 12-installment one;
    SQLite splits bulk statements into batches of at most 999 parameters, a few more for the
    longest schedules, still under the same fixed cap."""
    # Warm up what only the first posting ever does (the year's receipt counter row, the
    # cashier's permission cache), so both runs measure the same work.
    pay(ActiveLoanFactory(disbursed_days_ago=5), accountant, "1.00")
    short = _post_everything(12, accountant, django_assert_max_num_queries)
    long = _post_everything(360, accountant, django_assert_max_num_queries)
    if connection.vendor == "postgresql":
        assert long == short


def test_a_payment_in_date_order_runs_these_statements(accountant: User) -> None:
    """The statements of a plain posting, named so that one added shows up here: the loan lock
    (with the one-time key's check), the accounts and closed-books date, the unpaid
    installments, the repayment, its transaction, allocation and installment, its journal
    entry with its lines, the loan, its receipt with its number, and the audit entry (the
    chain's lock, its head, the row). PostgreSQL reads the accounts and the closed-books date
    in the lock's statement, and writes the journal entry with its lines and the receipt with
    its number in one statement each."""
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    pay(loan, accountant, "1.00", idempotency_key="warm-up")  # the year's receipt counter
    with CaptureQueriesContext(connection) as ctx:
        pay(loan, accountant, "1.00", idempotency_key="counted")
    statements = [
        q["sql"] for q in ctx.captured_queries if not q["sql"].startswith(("SAVEPOINT", "RELEASE"))
    ]
    assert len(statements) == (12 if connection.vendor == "postgresql" else 15), statements
