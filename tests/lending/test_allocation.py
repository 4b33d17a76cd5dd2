"""The allocation rule and the payoff formula, without a database: worked examples and
Hypothesis properties."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.allocation import (
    COMPONENTS,
    InstallmentDue,
    ScheduledInstallment,
    allocate,
    apply,
    payoff,
    total_remaining,
)
from lending.schedule import LoanTerms, build_schedule

D = Decimal


def inst(
    n: int, *, penalties: str = "0", fees: str = "0", interest: str, principal: str
) -> InstallmentDue:
    return InstallmentDue(
        id=100 + n,
        number=n,
        due_date=date(2026, n, 1),
        penalties=D(penalties),
        fees=D(fees),
        interest=D(interest),
        principal=D(principal),
    )


def test_partial_payment_goes_to_penalties_then_fees_then_interest_then_principal() -> None:
    rows = [inst(1, penalties="5.00", fees="2.00", interest="50.00", principal="278.00")]
    [line] = allocate(rows, D("60.00"))
    assert (line.penalties, line.fees, line.interest, line.principal) == (
        D("5.00"),
        D("2.00"),
        D("50.00"),
        D("3.00"),
    )


def test_oldest_installment_is_paid_first_whatever_the_input_order() -> None:
    rows = [
        inst(2, interest="47.22", principal="277.78"),
        inst(1, interest="50.00", principal="277.78"),
    ]
    lines = allocate(rows, D("400.00"))
    assert [line.installment_id for line in lines] == [101, 102]
    assert lines[0].total == D("327.78")
    assert lines[1].interest == D("47.22") and lines[1].principal == D("25.00")


def test_money_left_after_the_due_installments_pays_ahead_in_the_same_order() -> None:
    rows = [inst(n, interest="10.00", principal="90.00") for n in range(1, 5)]
    lines = allocate(rows, D("250.00"))
    assert [line.total for line in lines] == [D("100.00"), D("100.00"), D("50.00")]
    assert lines[2].interest == D("10.00") and lines[2].principal == D("40.00")


def test_untouched_installments_get_no_line() -> None:
    rows = [inst(1, interest="0", principal="0"), inst(2, interest="1.00", principal="1.00")]
    assert [line.installment_id for line in allocate(rows, D("1.50"))] == [102]


def test_amount_above_what_is_owed_is_refused() -> None:
    rows = [inst(1, interest="10.00", principal="90.00")]
    with pytest.raises(ValueError, match="above"):
        allocate(rows, D("100.01"))


@pytest.mark.parametrize("amount", [D("0"), D("-1.00"), D("1.005"), D("NaN")])
def test_amount_must_be_positive_whole_cents(amount: Decimal) -> None:
    with pytest.raises(ValueError):
        allocate([inst(1, interest="1", principal="1")], amount)


def test_float_amount_is_a_programming_error() -> None:
    with pytest.raises(TypeError):
        allocate([inst(1, interest="1", principal="1")], 1.5)  # type: ignore[arg-type]


cents = st.decimals(min_value=D("0"), max_value=D("5000"), places=2)


@st.composite
def dues(draw: st.DrawFn) -> list[InstallmentDue]:
    n = draw(st.integers(min_value=1, max_value=12))
    return [
        InstallmentDue(
            id=k,
            number=k,
            due_date=date(2026, 1, 1) + timedelta(days=30 * k),
            penalties=draw(cents),
            fees=draw(cents),
            interest=draw(cents),
            principal=draw(cents),
        )
        for k in range(1, n + 1)
    ]


@given(rows=dues(), data=st.data())
@settings(max_examples=200, deadline=None)
def test_allocation_is_exact_ordered_and_never_overpays(
    rows: list[InstallmentDue], data: st.DataObject
) -> None:
    owed = total_remaining(rows)
    if owed == 0:
        return
    amount = data.draw(st.decimals(min_value=D("0.01"), max_value=owed, places=2))
    lines = allocate(rows, amount)
    assert sum((line.total for line in lines), D(0)) == amount
    by_id = {row.id: row for row in rows}
    after = dict(by_id)
    for line in lines:
        assert all(getattr(line, c) >= 0 for c in COMPONENTS)
        after[line.installment_id] = apply(by_id[line.installment_id], line)
        assert all(getattr(after[line.installment_id], c) >= 0 for c in COMPONENTS)
    # Oldest first: every installment before the last one touched is paid in full, and within
    # the last touched one a component is only paid once those before it are.
    touched = [line.installment_id for line in lines]
    for row_id in touched[:-1]:
        assert after[row_id].total == 0
    last = after[touched[-1]]
    remaining = [getattr(last, c) for c in COMPONENTS]
    paid = [getattr(lines[-1], c) for c in COMPONENTS]
    for k in range(1, 4):
        if paid[k] > 0:
            assert all(r == 0 for r in remaining[:k])
    # Giving every line back restores the schedule exactly (what a reversal relies on).
    for line in lines:
        after[line.installment_id] = apply(after[line.installment_id], line, sign=+1)
    assert after == by_id


# --- payoff ----------------------------------------------------------------------------


def fresh_schedule(terms: LoanTerms) -> list[ScheduledInstallment]:
    rows = build_schedule(terms).installments
    return [
        ScheduledInstallment(
            due=InstallmentDue(
                id=r.number,
                number=r.number,
                due_date=r.due_date,
                interest=r.interest,
                principal=r.principal,
            ),
            principal=r.principal,
            interest=r.interest,
        )
        for r in rows
    ]


FINERACT = LoanTerms(
    principal=D("5000.00"),
    annual_interest_rate=D("12"),
    installments=18,
    disbursement_date=date(2026, 1, 1),
    amortization="equal_principal",  # type: ignore[arg-type]
)


def test_payoff_half_way_through_the_first_period_worked_example() -> None:
    """5000 at 12 % from 1 Jan; on 16 Jan, 15 days have run: 5000 * 12 % * 15 / 365 = 24.66."""
    quote = payoff(
        schedule=fresh_schedule(FINERACT),
        on=date(2026, 1, 16),
        disbursement_date=date(2026, 1, 1),
        annual_rate=D("12"),
        days_in_year=365,
    )
    assert quote.past_due == 0
    assert quote.principal_not_due == D("5000.00")
    assert quote.accrued_interest == D("24.66")
    assert quote.total == D("5024.66")
    assert quote.interest_waived == D("475.00") - D("24.66")
    assert (quote.period_start, quote.period_end) == (date(2026, 1, 1), date(2026, 2, 1))


def test_payoff_after_two_unpaid_installments_includes_them_in_full() -> None:
    """Nothing paid by 15 Mar: installments 1 and 2 (327.78 + 325.00) are past due; the third
    period runs from 1 Mar on 4444.44, 14 days: 4444.44 * 0.12 * 14 / 365 = 20.46."""
    quote = payoff(
        schedule=fresh_schedule(FINERACT),
        on=date(2026, 3, 15),
        disbursement_date=date(2026, 1, 1),
        annual_rate=D("12"),
        days_in_year=365,
    )
    assert quote.past_due == D("327.78") + D("325.00")
    assert quote.principal_not_due == D("5000.00") - 2 * D("277.78")
    assert quote.accrued_interest == D("20.46")
    assert quote.total == quote.past_due + quote.principal_not_due + D("20.46")


def test_payoff_on_a_due_date_charges_that_installment_and_no_new_interest() -> None:
    quote = payoff(
        schedule=fresh_schedule(FINERACT),
        on=date(2026, 2, 1),
        disbursement_date=date(2026, 1, 1),
        annual_rate=D("12"),
        days_in_year=365,
    )
    assert quote.past_due == D("327.78")
    assert quote.accrued_interest == 0


def test_payoff_after_the_last_due_date_is_everything_owed() -> None:
    schedule = fresh_schedule(FINERACT)
    quote = payoff(
        schedule=schedule,
        on=date(2028, 1, 1),
        disbursement_date=date(2026, 1, 1),
        annual_rate=D("12"),
        days_in_year=365,
    )
    assert quote.total == total_remaining([s.due for s in schedule])
    assert quote.interest_waived == 0 and quote.period_start is None


def test_payoff_before_disbursement_is_refused() -> None:
    with pytest.raises(ValueError):
        payoff(
            schedule=fresh_schedule(FINERACT),
            on=date(2025, 12, 31),
            disbursement_date=date(2026, 1, 1),
            annual_rate=D("12"),
            days_in_year=365,
        )


@given(
    principal=st.decimals(min_value=D("100"), max_value=D("100000"), places=2),
    rate=st.decimals(min_value=D("0"), max_value=D("60"), places=2),
    n=st.integers(min_value=1, max_value=36),
    flat=st.booleans(),
    days=st.integers(min_value=0, max_value=1200),
)
@settings(max_examples=150, deadline=None)
def test_payoff_is_consistent_and_never_above_what_is_owed(
    principal: Decimal, rate: Decimal, n: int, flat: bool, days: int
) -> None:
    terms = LoanTerms(
        principal=principal,
        annual_interest_rate=rate,
        installments=n,
        disbursement_date=date(2026, 1, 1),
        interest_method="flat" if flat else "declining",  # type: ignore[arg-type]
    )
    schedule = fresh_schedule(terms)
    quote = payoff(
        schedule=schedule,
        on=date(2026, 1, 1) + timedelta(days=days),
        disbursement_date=date(2026, 1, 1),
        annual_rate=rate,
        days_in_year=365,
        flat=flat,
        principal=principal,
    )
    owed = total_remaining([s.due for s in schedule])
    assert quote.total == owed - quote.interest_waived
    assert quote.interest_waived >= 0
    assert (
        quote.principal_not_due
        + sum((s.due.principal for s in schedule if s.due.due_date <= quote.on), D(0))
        == principal
    )
    assert all(w > 0 for w in quote.waivers.values())
