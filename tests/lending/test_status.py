"""Loan status against plan: the rule at its boundaries, the figures, and the cache."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.cache import cache
from django.utils import timezone

from lending.models import Loan
from lending.receivers import loan_status_cache_key
from lending.selectors.status import (
    AHEAD,
    BEHIND,
    ON_TRACK,
    LoanStatus,
    classify,
    loan_status,
    loan_statuses,
)
from lending.services.close_day import day_close
from lending.services.loans import loan_reject, loan_write_off
from lending.services.repayments import loan_settle
from tests.factories import AdminFactory, LoanFactory, LoanProductFactory, OfficerFactory
from tests.reporting.helpers import D, cashier, days_ago, pay, reverse, today, weekly_loan

pytestmark = pytest.mark.django_db


# --- the rule ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "paid", "status"),
    [
        ("300.00", "270.00", ON_TRACK),  # exactly 90 %: not behind
        ("300.00", "269.99", BEHIND),
        ("300.00", "330.00", AHEAD),  # exactly 110 %: ahead
        ("300.00", "329.99", ON_TRACK),
        ("300.00", "300.00", ON_TRACK),
        ("300.00", "0.00", BEHIND),  # nothing paid
        ("0.00", "0.00", ON_TRACK),  # nothing due yet, nothing paid
        ("0.00", "0.01", AHEAD),  # paid before anything fell due
        ("0.01", "0.00", BEHIND),
    ],
)
def test_classify_boundaries(expected: str, paid: str, status: str) -> None:
    assert classify(expected=Decimal(expected), paid=Decimal(paid)) == status


# --- figures from a real loan -------------------------------------------------------------


def three_due_loan() -> Loan:
    """1200 in 12 weekly installments of 100; #1 due 14 days ago, #2 7 days ago, #3 today."""
    return weekly_loan(disbursed_days_ago=21)


@pytest.mark.parametrize(
    ("paid", "status"),
    [
        ("270.00", ON_TRACK),
        ("269.99", BEHIND),
        ("330.00", AHEAD),
        ("329.99", ON_TRACK),
    ],
)
def test_status_of_a_loan_at_the_boundaries(paid: str, status: str) -> None:
    loan = three_due_loan()
    pay(loan, paid)
    result = loan_status(loan)
    assert result.expected_paid == D("300.00")  # due on or before today, today included
    assert result.paid == D(paid)
    assert result.status == status


def test_nothing_paid_is_behind_with_the_figures_behind_it() -> None:
    loan = three_due_loan()
    result = loan_status(loan)
    assert result == LoanStatus(
        loan_id=loan.pk,
        as_of=today(),
        status=BEHIND,
        expected_paid=D("300.00"),
        paid=D("0.00"),
        outstanding=D("1200.00"),
        overdue_amount=D("200.00"),  # #1 and #2; #3 is due today, not yet overdue
        next_due_date=today(),
        next_due_amount=D("100.00"),
        days_past_due=14,
        principal_outstanding=D("1200.00"),  # interest-free: the balance is all principal
    )
    assert result.label == "Behind"
    assert result.as_dict()["expected_paid"] == "300.00"
    assert result.as_dict()["next_due_date"] == today().isoformat()


def test_nothing_due_yet_is_on_track_and_paying_early_is_ahead() -> None:
    loan = weekly_loan(disbursed_days_ago=0)
    result = loan_status(loan)
    assert (result.status, result.expected_paid, result.days_past_due) == (ON_TRACK, D("0"), 0)
    assert result.next_due_date == today() + timedelta(days=7)
    assert result.percent_of_expected is None

    pay(loan, "50.00")
    result = loan_status(loan)
    assert result.status == AHEAD
    assert result.next_due_amount == D("50.00")  # what is left of #1


def test_partial_payment_moves_days_past_due_to_the_next_unpaid_installment() -> None:
    loan = three_due_loan()
    pay(loan, "150.00")  # #1 paid, #2 half paid (due 7 days ago)
    result = loan_status(loan)
    assert result.days_past_due == 7
    assert result.overdue_amount == D("50.00")
    assert result.status == BEHIND  # 150 < 270


@pytest.mark.parametrize("how", ["pending", "rejected"])
def test_loans_without_a_schedule_have_no_status(how: str) -> None:
    officer = OfficerFactory()
    loan = LoanFactory(submitted_by=officer)
    if how == "rejected":
        loan = loan_reject(loan=loan, user=AdminFactory(), reason="Income too low")
    result = loan_status(loan)
    assert result.status is None
    assert result.label == ""
    assert (result.expected_paid, result.paid, result.next_due_date) == (D("0"), D("0"), None)


def test_written_off_loan_has_no_status_but_keeps_its_figures() -> None:
    loan = three_due_loan()
    loan_write_off(loan=loan, user=AdminFactory(), reason="Borrower left the country")
    result = loan_status(loan)
    assert result.status is None
    assert result.outstanding == D("1200.00")
    assert result.days_past_due == 14


def test_unknown_loan_id_raises() -> None:
    with pytest.raises(Loan.DoesNotExist):
        loan_status(987654)


# --- the cache -----------------------------------------------------------------------------


def test_second_read_is_a_cache_hit(django_assert_num_queries: Any) -> None:
    loan = three_due_loan()
    with django_assert_num_queries(1):
        first = loan_status(loan)
    with django_assert_num_queries(0):
        second = loan_status(loan)
    assert first == second
    assert cache.get(loan_status_cache_key(loan.pk)) == first


def test_bulk_read_costs_one_query_cold_and_none_warm(django_assert_num_queries: Any) -> None:
    loans = [weekly_loan(disbursed_days_ago=days) for days in (0, 7, 14, 21, 28)]
    with django_assert_num_queries(1):
        cold = loan_statuses(loans)
    with django_assert_num_queries(0):
        warm = loan_statuses(loans)
    assert cold == warm
    assert [cold[loan.pk].expected_paid for loan in loans] == [
        D("0.00"),
        D("100.00"),
        D("200.00"),
        D("300.00"),
        D("400.00"),
    ]


def test_bulk_read_computes_only_the_misses(django_assert_num_queries: Any) -> None:
    a, b = weekly_loan(disbursed_days_ago=7), weekly_loan(disbursed_days_ago=14)
    loan_status(a)
    with django_assert_num_queries(1):
        both = loan_statuses([a.pk, b.pk])
    assert set(both) == {a.pk, b.pk}
    assert cache.get(loan_status_cache_key(b.pk)) == both[b.pk]


def test_value_cached_yesterday_is_not_served_today() -> None:
    loan = three_due_loan()
    real = loan_status(loan)
    stale = LoanStatus(**{**real.__dict__, "as_of": real.as_of - timedelta(days=1)})
    stale = LoanStatus(**{**stale.__dict__, "status": AHEAD})
    cache.set(loan_status_cache_key(loan.pk), stale)
    assert loan_status(loan) == real


def test_a_value_stored_across_a_change_is_not_served_for_the_changed_loan() -> None:
    """A request that read the loan just before a payment committed may store its value just
    after the payment dropped the key; the next reader holding the paid loan recomputes."""
    loan = three_due_loan()
    before = loan_status(loan)
    pay(loan, "100.00")
    loan.refresh_from_db()
    cache.set(loan_status_cache_key(loan.pk), before)  # the late write of the racing request
    after = loan_status(loan)
    assert after.paid == before.paid + D("100.00")
    assert _cached(loan).loan_updated_at == loan.updated_at


def _cached(loan: Loan) -> Any:
    return cache.get(loan_status_cache_key(loan.pk))


def test_repayment_invalidates_and_the_next_read_is_right() -> None:
    loan = three_due_loan()
    assert loan_status(loan).status == BEHIND
    pay(loan, "300.00")
    assert _cached(loan) is None
    result = loan_status(loan)
    assert (result.status, result.paid, result.outstanding) == (ON_TRACK, D("300.00"), D("900.00"))


def test_reversal_invalidates_and_the_next_read_is_right() -> None:
    loan = three_due_loan()
    repayment = pay(loan, "300.00")
    assert loan_status(loan).status == ON_TRACK
    reverse(repayment)
    assert _cached(loan) is None
    result = loan_status(loan)
    assert (result.status, result.paid, result.outstanding) == (BEHIND, D("0.00"), D("1200.00"))


def test_settlement_invalidates_and_the_closed_loan_has_no_status() -> None:
    loan = three_due_loan()
    assert loan_status(loan).status == BEHIND
    loan_settle(loan=loan, user=cashier(), on=today(), method="cash")
    assert _cached(loan) is None
    result = loan_status(loan)
    assert result.status is None
    assert result.outstanding == D("0.00")


def test_status_change_invalidates() -> None:
    loan = three_due_loan()
    assert loan_status(loan).status == BEHIND
    loan_write_off(loan=loan, user=AdminFactory(), reason="Fraud")
    assert _cached(loan) is None
    assert loan_status(loan).status is None


def test_closing_payment_invalidates() -> None:
    loan = weekly_loan(principal="300.00", n=3, disbursed_days_ago=7)
    assert loan_status(loan).status == BEHIND  # #1 (100) is due today, nothing paid
    pay(loan, "300.00")
    assert _cached(loan) is None
    assert loan_status(loan).status is None  # closed


def test_penalty_from_the_daily_close_invalidates() -> None:
    product = LoanProductFactory(penalty_type="flat", penalty_amount=D("10.00"))
    loan = weekly_loan(disbursed_days_ago=21, product=product)
    before = loan_status(loan)
    day_close(on=today())
    assert _cached(loan) is None
    after = loan_status(loan)
    assert after.outstanding == before.outstanding + D("20.00")  # #1 and #2 are late
    assert after.expected_paid == before.expected_paid + D("20.00")


def test_an_unrelated_loan_stays_cached() -> None:
    a, b = three_due_loan(), three_due_loan()
    loan_status(a)
    cached_b = loan_status(b)
    pay(a, "100.00")
    assert _cached(b) == cached_b


def test_dates_in_the_figures_use_the_local_date() -> None:
    loan = weekly_loan(disbursed_days_ago=3)
    assert loan_status(loan).next_due_date == days_ago(3) + timedelta(days=7)
    assert loan_status(loan).as_of == timezone.localdate()
