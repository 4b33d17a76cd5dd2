"""The loan ledger through the services: backdated payments and reversals replay the loan
(later splits rewritten, penalties decided again, each change journalled and audited), the
previews store nothing, and closed books refuse everything dated on or before them.

Every test ends with `settled`: the stored state equals a fresh replay, every journal entry
balances and `check_money` (which reconciles the general ledger with the loans) passes.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db.models import Sum

from ledger.models import JournalEntry, JournalLine
from ledger.services import BooksClosed
from lending.errors import StateConflict
from lending.models import (
    Allocation,
    AuditLog,
    DayClose,
    Installment,
    Loan,
    LoanProduct,
    LoanTransaction,
    Repayment,
)
from lending.replay import Kind
from lending.services.books import books_close
from lending.services.close_day import day_close
from lending.services.loans import loan_approve
from lending.services.repayments import (
    loan_settle,
    repayment_preview,
    repayment_record,
    repayment_reverse,
    repayment_reverse_preview,
)
from lending.services.transactions import plan_replay, replay_differences
from tests.factories import AccountantFactory, AdminFactory, LoanFactory, LoanProductFactory
from tests.reporting.helpers import days_ago, today, weekly_loan

pytestmark = pytest.mark.django_db

D = Decimal
ZERO = D("0.00")
CENT = D("0.01")


# --- helpers -----------------------------------------------------------------------------


@pytest.fixture
def cashier(db: Any) -> User:
    return AccountantFactory(username="ledger_cashier")


@pytest.fixture
def admin(db: Any) -> User:
    return AdminFactory(username="ledger_admin")


def reload(loan: Loan) -> Loan:
    return Loan.objects.get(pk=loan.pk)


def rows(loan: Loan) -> list[Installment]:
    return list(Installment.objects.filter(loan=loan).order_by("number"))


def pay(loan: Loan, user: User, amount: str, on: date) -> Repayment:
    return repayment_record(loan=loan, user=user, amount=D(amount), paid_on=on, method="cash")


def reverse(repayment: Repayment, user: User, reason: str = "Bounced") -> Repayment:
    return repayment_reverse(
        repayment=Repayment.objects.get(pk=repayment.pk), user=user, reason=reason
    )


def txn_of(repayment: Repayment) -> LoanTransaction:
    return LoanTransaction.objects.get(repayment=repayment, kind=Kind.REPAYMENT)


def current_allocations(t: LoanTransaction) -> dict[int, tuple[Decimal, ...]]:
    """Installment number -> (penalties, fees, interest, principal) of the current split."""
    return {
        a.installment.number: (a.penalties, a.fees, a.interest, a.principal)
        for a in Allocation.objects.filter(transaction=t, superseded_at=None).select_related(
            "installment"
        )
    }


def unbalanced_entries() -> list[Any]:
    return [
        row
        for row in JournalLine.objects.values("entry_id").annotate(d=Sum("debit"), c=Sum("credit"))
        if D(row["d"] - row["c"]).quantize(CENT) != 0  # SQLite sums are floats
    ]


def settled(*loans: Loan) -> None:
    """Stored state == replay for each loan; every entry balances; check_money passes."""
    problems = [p for loan in loans for p in replay_differences(reload(loan))]
    assert problems == [], "\n".join(problems)
    assert unbalanced_entries() == []
    call_command("check_money", stdout=_Sink())


class _Sink:
    def write(self, *args: Any, **kwargs: Any) -> None:
        pass

    def flush(self) -> None:
        pass


def counts() -> tuple[int, ...]:
    return (
        LoanTransaction.objects.count(),
        LoanTransaction.objects.filter(reversed_at__isnull=False).count(),
        Allocation.objects.count(),
        Allocation.objects.filter(superseded_at__isnull=False).count(),
        JournalEntry.objects.count(),
        JournalLine.objects.count(),
        AuditLog.objects.count(),
        Repayment.objects.count(),
        DayClose.objects.count(),
    )


def loan_state(loan: Loan) -> tuple[Any, ...]:
    fresh = reload(loan)
    return (
        fresh.status,
        fresh.total_repayable,
        fresh.total_paid,
        fresh.outstanding,
        fresh.days_past_due,
        fresh.incremental_from,
        [
            (i.penalties, i.principal_paid, i.interest_paid, i.penalties_paid, i.status)
            for i in rows(loan)
        ],
        list(
            LoanTransaction.objects.filter(loan=loan)
            .order_by("pk")
            .values_list("principal", "interest", "penalties", "outstanding_after", "reversed_at")
        ),
    )


def flat_product(amount: str = "10.00", grace: int = 0) -> LoanProduct:
    return LoanProductFactory(
        penalty_type=LoanProduct.PenaltyType.FLAT,
        penalty_amount=D(amount),
        penalty_grace_days=grace,
    )


# --- the QA reproduction -------------------------------------------------------------------


def qa_loan(disbursed: date) -> Loan:
    """5,000.00 at 18 % a year, 12 monthly declining equal installments: installment 1 asks
    for 75.00 interest (1.5 % of 5,000) and 383.40 principal (458.40 in all)."""
    loan = LoanFactory(
        principal=D("5000.00"),
        annual_interest_rate=D("18"),
        installments=12,
        frequency="monthly",
        interest_method="declining",
        amortization="equal_installments",
        interest_period="per_period",
    )
    return loan_approve(loan=loan, user=AdminFactory(), disbursement_date=disbursed)


def test_qa_loan_terms_give_75_interest_in_installment_1() -> None:
    loan = qa_loan(days_ago(20))
    first = rows(loan)[0]
    assert (first.interest, first.principal) == (D("75.00"), D("383.40"))
    assert first.interest + first.principal == D("100.00") + D("358.40")


def test_reversing_the_first_of_two_payments_re_splits_the_second_interest_first(
    cashier: User,
) -> None:
    loan = qa_loan(days_ago(20))  # installment 1 falls due in about ten days: nothing late
    first = pay(loan, cashier, "100.00", days_ago(15))
    second = pay(loan, cashier, "358.40", days_ago(10))
    inst1 = rows(loan)[0]
    assert inst1.status == Installment.Status.PAID
    assert current_allocations(txn_of(first)) == {1: (ZERO, ZERO, D("75.00"), D("25.00"))}
    assert current_allocations(txn_of(second)) == {1: (ZERO, ZERO, ZERO, D("358.40"))}
    entries_before = JournalEntry.objects.count()

    reverse(first, cashier, reason="Cheque bounced")

    loan = reload(loan)
    inst1 = rows(loan)[0]
    # As a fresh allocation of 358.40 would: the 75.00 interest first, then principal.
    assert (inst1.interest_paid, inst1.principal_paid) == (D("75.00"), D("283.40"))
    assert inst1.status == Installment.Status.PARTIAL
    assert inst1.remaining == D("100.00")
    t2 = txn_of(second)
    assert (t2.interest, t2.principal) == (D("75.00"), D("283.40"))
    assert current_allocations(t2) == {1: (ZERO, ZERO, D("75.00"), D("283.40"))}
    assert t2.outstanding_after == loan.outstanding
    assert loan.total_paid == D("358.40")
    assert loan.days_past_due == 0
    assert t2.split_changed_at is not None

    audit = AuditLog.objects.filter(action=AuditLog.Action.REPAYMENT_REVERSED).latest("pk")
    (change,) = audit.details["replay"]["changes"]
    assert change["transaction_id"] == t2.pk
    assert (change["before"]["interest"], change["before"]["principal"]) == ("0.00", "358.40")
    assert (change["after"]["interest"], change["after"]["principal"]) == ("75.00", "283.40")

    replayed = JournalEntry.objects.filter(source="replay", transaction_id=t2.pk)
    assert replayed.count() == 1
    assert JournalEntry.objects.filter(source="reversal", transaction_id=txn_of(first).pk).exists()
    assert JournalEntry.objects.count() > entries_before
    settled(loan)


def test_qa_reversal_on_a_late_installment_counts_days_past_due(cashier: User) -> None:
    loan = qa_loan(days_ago(45))
    due = rows(loan)[0].due_date
    assert due < today()
    first = pay(loan, cashier, "100.00", due - timedelta(days=5))
    pay(loan, cashier, "358.40", due)
    assert reload(loan).days_past_due == 0
    reverse(first, cashier)
    loan = reload(loan)
    assert loan.days_past_due == (today() - due).days
    settled(loan)


# --- penalties decided again ------------------------------------------------------------------


def test_backdated_payment_before_a_penalty_close_takes_the_penalty_back(cashier: User) -> None:
    loan = weekly_loan(disbursed_days_ago=10, product=flat_product("10.00"))  # #1 due 3 days ago
    inst1 = rows(loan)[0]
    due = inst1.due_date
    day_close(on=due + timedelta(days=1))
    inst1.refresh_from_db()
    assert inst1.penalties == D("10.00")
    charge = LoanTransaction.objects.get(loan=loan, kind=Kind.CHARGE)
    assert charge.is_penalty and charge.value_date == due + timedelta(days=1)
    assert reload(loan).incremental_from == due + timedelta(days=2)

    repayment = pay(loan, cashier, "100.00", due)  # pays #1 in full on its due date

    charge.refresh_from_db()
    assert charge.reversed_at is not None
    inst1.refresh_from_db()
    assert (inst1.penalties, inst1.penalties_paid, inst1.status) == (ZERO, ZERO, "paid")
    assert inst1.paid_on == due
    assert current_allocations(txn_of(repayment)) == {1: (ZERO, ZERO, ZERO, D("100.00"))}
    loan = reload(loan)
    assert loan.total_repayable == D("1200.00")
    assert loan.outstanding == D("1100.00")
    assert loan.days_past_due == 0
    audit = AuditLog.objects.filter(action=AuditLog.Action.REPAYMENT_RECORDED).latest("pk")
    assert audit.details["backdated"] is True
    (back,) = audit.details["replay"]["penalties_taken_back"]
    assert (back["transaction_id"], back["amount"]) == (charge.pk, "10.00")
    settled(loan)


def test_reversal_that_makes_an_installment_late_adds_its_penalty_on_its_penalty_day(
    cashier: User,
) -> None:
    loan = weekly_loan(disbursed_days_ago=10, product=flat_product("10.00"))
    inst1 = rows(loan)[0]
    due = inst1.due_date
    repayment = pay(loan, cashier, "100.00", due)
    day_close(on=due + timedelta(days=1))  # #1 paid on time: no penalty
    assert not LoanTransaction.objects.filter(loan=loan, kind=Kind.CHARGE).exists()

    reverse(repayment, cashier)

    charge = LoanTransaction.objects.get(loan=loan, kind=Kind.CHARGE, reversed_at=None)
    assert charge.is_penalty
    assert (charge.value_date, charge.amount) == (due + timedelta(days=1), D("10.00"))
    inst1.refresh_from_db()
    assert (inst1.penalties, inst1.status) == (D("10.00"), "due")
    loan = reload(loan)
    assert loan.total_repayable == D("1210.00")
    assert loan.days_past_due == (today() - due).days
    audit = AuditLog.objects.filter(action=AuditLog.Action.REPAYMENT_REVERSED).latest("pk")
    (added,) = audit.details["replay"]["penalties_added"]
    assert added == {
        "installment_id": inst1.pk,
        "value_date": (due + timedelta(days=1)).isoformat(),
        "amount": "10.00",
    }
    settled(loan)


def test_a_penalty_the_replay_added_is_not_charged_again_by_the_next_close(
    cashier: User,
) -> None:
    loan = weekly_loan(disbursed_days_ago=10, product=flat_product("10.00"))
    inst1 = rows(loan)[0]
    repayment = pay(loan, cashier, "100.00", inst1.due_date)
    day_close(on=inst1.due_date + timedelta(days=1))
    reverse(repayment, cashier)  # the replay charges #1's penalty as of its penalty day
    day_close(on=today())  # #1 is late and already charged: nothing more
    inst1.refresh_from_db()
    assert inst1.penalties == D("10.00")
    assert (
        LoanTransaction.objects.filter(loan=loan, kind=Kind.CHARGE, reversed_at=None).count() == 1
    )
    settled(loan)


def test_a_close_for_a_past_day_charges_what_was_late_that_day_and_re_splits_later_payments(
    cashier: User,
) -> None:
    loan = weekly_loan(disbursed_days_ago=10, product=flat_product("10.00"))
    inst1 = rows(loan)[0]
    due = inst1.due_date
    pay(loan, cashier, "50.00", today())  # #1 still partly unpaid, paid after its due date
    day_close(on=due + timedelta(days=1))  # #1 was late that day: charged at its end
    inst1.refresh_from_db()
    assert inst1.penalties == D("10.00")
    settled(loan)


def test_a_close_that_skipped_the_penalty_day_and_a_later_replay_agree(cashier: User) -> None:
    loan = weekly_loan(disbursed_days_ago=10, product=flat_product("10.00"))
    inst1 = rows(loan)[0]
    pay(loan, cashier, "100.00", days_ago(1))  # #1 paid in full, two days after its due date
    day_close(on=today())  # no close ran on #1's penalty day; today's sees #1 paid
    assert reload(loan).total_repayable == D("1200.00")
    settled(loan)
    other = pay(loan, cashier, "50.00", today())  # in order: touches #2 only
    reverse(other, cashier)  # replays the loan, penalties decided again
    # Reversing a payment that never touched #1 must not charge #1 a penalty the close
    # did not charge (or the close should have charged it: they must agree).
    inst1.refresh_from_db()
    assert inst1.penalties == ZERO
    assert reload(loan).total_repayable == D("1200.00")
    settled(loan)


def test_a_close_for_a_day_before_the_first_close_and_a_later_replay_agree(
    cashier: User,
) -> None:
    loan = weekly_loan(disbursed_days_ago=10, product=flat_product("10.00"))  # #1 due 3 days ago
    inst1 = rows(loan)[0]
    pay(loan, cashier, "100.00", days_ago(1))  # #1 paid in full after its penalty day
    day_close(on=today())  # the first close: #1 is decided today, paid: no penalty
    day_close(on=days_ago(5))  # a past day, before #1 was due: the first day closed moves
    settled(loan)
    inst1.refresh_from_db()
    before = inst1.penalties
    # The stored penalties are what the rule decides: a replay adds and takes back none...
    plan = plan_replay(loan=reload(loan))
    assert plan.as_dict()["penalties_added"] == []
    # ...so reversing a payment that never touched #1 leaves #1's penalty as the close left it.
    other = pay(loan, cashier, "50.00", today())
    reverse(other, cashier)
    inst1.refresh_from_db()
    assert inst1.penalties == before
    settled(loan)


def test_a_loan_disbursed_before_the_last_closed_day_and_a_later_replay_agree(
    cashier: User,
) -> None:
    day_close(on=days_ago(1))
    loan = weekly_loan(disbursed_days_ago=10, product=flat_product("10.00"))  # #1 due 3 days ago
    inst1 = rows(loan)[0]
    day_close(on=today())  # #1's penalty day (yesterday) passed before the previous close
    settled(loan)
    inst1.refresh_from_db()
    before = inst1.penalties
    # The stored penalties are what the rule decides: a replay adds and takes back none...
    plan = plan_replay(loan=reload(loan))
    assert plan.as_dict()["penalties_added"] == []
    # ...so reversing a payment that never touched #1's penalty leaves it as the close left it.
    other = pay(loan, cashier, "50.00", today())
    reverse(other, cashier)
    inst1.refresh_from_db()
    assert inst1.penalties == before
    settled(loan)


def test_a_loan_disbursed_before_the_last_closed_day_paid_late_before_the_next_close(
    cashier: User,
) -> None:
    day_close(on=days_ago(2))  # the first close: #1's penalty day is that day
    loan = weekly_loan(disbursed_days_ago=10, product=flat_product("10.00"))  # #1 due 3 days ago
    inst1 = rows(loan)[0]
    pay(loan, cashier, "100.00", days_ago(1))  # #1 paid in full after its penalty day, in order
    day_close(on=today())
    settled(loan)
    inst1.refresh_from_db()
    before = inst1.penalties
    plan = plan_replay(loan=reload(loan))
    assert plan.as_dict()["penalties_added"] == []
    other = pay(loan, cashier, "50.00", today())
    reverse(other, cashier)
    inst1.refresh_from_db()
    assert inst1.penalties == before
    settled(loan)


# --- previews store nothing ----------------------------------------------------------------


def test_reverse_preview_shows_the_changes_and_stores_nothing(cashier: User) -> None:
    loan = qa_loan(days_ago(20))
    first = pay(loan, cashier, "100.00", days_ago(15))
    second = pay(loan, cashier, "358.40", days_ago(10))
    before, state = counts(), loan_state(loan)

    plan = repayment_reverse_preview(repayment=first, user=cashier)

    assert counts() == before
    assert loan_state(loan) == state
    (change,) = plan.changes
    assert change.txn.pk == txn_of(second).pk
    assert (change.after.split.interest, change.after.split.principal) == (
        D("75.00"),
        D("283.40"),
    )
    assert plan.loan_after["outstanding"] == str(reload(loan).outstanding + D("100.00"))
    assert not Repayment.objects.get(pk=first.pk).is_reversed
    settled(loan)


def test_backdated_payment_preview_stores_nothing(cashier: User) -> None:
    loan = qa_loan(days_ago(20))
    pay(loan, cashier, "358.40", days_ago(10))
    before, state = counts(), loan_state(loan)
    plan = repayment_preview(loan=loan, user=cashier, amount=D("100.00"), paid_on=days_ago(15))
    assert plan is not None
    assert counts() == before
    assert loan_state(loan) == state
    (change,) = plan.changes
    assert (change.after.split.interest, change.after.split.principal) == (ZERO, D("358.40"))
    assert (change.before.split.interest, change.before.split.principal) == (
        D("75.00"),
        D("283.40"),
    )
    assert repayment_preview(loan=loan, user=cashier, amount=D("1.00"), paid_on=today()) is None
    assert counts() == before


# --- refusals: nothing written -----------------------------------------------------------------


def test_closed_books_refuse_a_payment_a_reversal_and_a_close_dated_on_or_before_them(
    cashier: User, admin: User
) -> None:
    loan = weekly_loan(disbursed_days_ago=20, product=flat_product("10.00"))
    old = pay(loan, cashier, "50.00", days_ago(8))
    books_close(through=days_ago(5), user=admin)
    before, state = counts(), loan_state(loan)

    for on in (days_ago(5), days_ago(6)):
        with pytest.raises(BooksClosed):
            pay(loan, cashier, "10.00", on)
        with pytest.raises(BooksClosed):
            day_close(on=on)
    with pytest.raises(BooksClosed):
        reverse(old, cashier)
    with pytest.raises(BooksClosed):
        repayment_reverse_preview(repayment=old, user=cashier)
    with pytest.raises(BooksClosed):
        loan_settle(loan=loan, user=cashier, on=days_ago(5), method="cash")

    assert counts() == before
    assert loan_state(loan) == state
    # The day after the closed one is open.
    pay(loan, cashier, "10.00", days_ago(4))
    settled(loan)


def test_reversing_a_reversed_payment_is_refused_and_writes_nothing(cashier: User) -> None:
    loan = qa_loan(days_ago(20))
    first = pay(loan, cashier, "100.00", days_ago(15))
    pay(loan, cashier, "358.40", days_ago(10))
    reverse(first, cashier)
    before, state = counts(), loan_state(loan)
    with pytest.raises(StateConflict):
        reverse(first, cashier, reason="Again")
    with pytest.raises(StateConflict):
        repayment_reverse_preview(repayment=first, user=cashier)
    assert counts() == before
    assert loan_state(loan) == state
    settled(loan)


def test_a_payment_dated_before_the_disbursement_is_refused(cashier: User) -> None:
    loan = qa_loan(days_ago(20))
    pay(loan, cashier, "100.00", days_ago(10))
    before, state = counts(), loan_state(loan)
    with pytest.raises(ValidationError) as excinfo:
        pay(loan, cashier, "50.00", days_ago(21))
    assert "paid_on" in excinfo.value.message_dict
    with pytest.raises(ValidationError):
        repayment_preview(loan=loan, user=cashier, amount=D("50.00"), paid_on=days_ago(21))
    assert counts() == before
    assert loan_state(loan) == state
    settled(loan)


def test_settlement_dated_before_something_booked_is_refused(cashier: User) -> None:
    loan = qa_loan(days_ago(20))
    pay(loan, cashier, "100.00", days_ago(10))
    before, state = counts(), loan_state(loan)
    with pytest.raises(ValidationError) as excinfo:
        loan_settle(loan=loan, user=cashier, on=days_ago(11), method="cash")
    assert "on" in excinfo.value.message_dict
    assert counts() == before
    assert loan_state(loan) == state


# --- a longer history ------------------------------------------------------------------------


def test_backdated_payments_and_reversals_in_any_order_keep_the_books_straight(
    cashier: User,
) -> None:
    loan = weekly_loan(
        disbursed_days_ago=40, product=flat_product("5.00"), annual_interest_rate=D("12")
    )
    due = [i.due_date for i in rows(loan)]
    a = pay(loan, cashier, "150.00", due[1])
    day_close(on=due[2] + timedelta(days=1))
    b = pay(loan, cashier, "80.00", due[3])
    c = pay(loan, cashier, "120.00", due[0])  # backdated before both
    settled(loan)
    reverse(a, cashier)
    settled(loan)
    d = pay(loan, cashier, "60.00", due[1] + timedelta(days=2))
    settled(loan)
    reverse(c, cashier)
    settled(loan)
    reverse(b, cashier)
    reverse(d, cashier)
    settled(loan)
    loan = reload(loan)
    assert loan.total_paid == ZERO
    assert all(i.paid == 0 for i in rows(loan))
    # Only late penalties remain charged: one per installment late at a closed day.
    live_charges = LoanTransaction.objects.filter(loan=loan, kind=Kind.CHARGE, reversed_at=None)
    charged = live_charges.values_list("allocations__installment__number", flat=True)
    assert sorted(charged) == [1, 2, 3]  # penalty days 32, 25 and 18 days ago: all closed
