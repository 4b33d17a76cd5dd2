"""The schedule engine against published worked examples, numpy-financial and Hypothesis."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Decimal
from typing import Any

import numpy_financial as npf  # type: ignore[import-untyped]
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from lending.schedule import (
    MINOR_UNIT,
    Amortization,
    Frequency,
    InstallmentRounding,
    InterestMethod,
    InterestPeriod,
    LoanTerms,
    Schedule,
    TermsError,
    add_periods,
    build_schedule,
    daily_interest,
    periodic_payment,
)

D = Decimal
START = date(2024, 1, 15)


def terms(**overrides: Any) -> LoanTerms:
    fields: dict[str, Any] = {
        "principal": D("10000"),
        "annual_interest_rate": D("12"),
        "installments": 12,
        "disbursement_date": START,
    }
    return LoanTerms(**(fields | overrides))


def column(schedule: Schedule, name: str) -> list[str]:
    return [str(getattr(row, name)) for row in schedule.installments]


# Worked examples: Apache Fineract scenarios RS01 / RS04 (DESIGN.md).


def test_flat_loan_with_whole_unit_installments_matches_fineract_example() -> None:
    schedule = build_schedule(
        terms(
            principal=D("5000"),
            installments=18,
            interest_method=InterestMethod.FLAT,
            installment_multiple=D("1"),
        )
    )
    assert column(schedule, "principal") == ["278.00"] * 17 + ["274.00"]
    assert column(schedule, "interest") == ["50.00"] * 18
    assert column(schedule, "total") == ["328.00"] * 17 + ["324.00"]
    assert schedule.total_interest == D("900.00")
    assert schedule.total_principal == D("5000.00")


def test_declining_equal_principal_loan_matches_fineract_example() -> None:
    schedule = build_schedule(
        terms(principal=D("5000"), installments=18, amortization=Amortization.EQUAL_PRINCIPAL)
    )
    assert column(schedule, "principal") == ["277.78"] * 17 + ["277.74"]
    interest = column(schedule, "interest")
    assert interest[:4] == ["50.00", "47.22", "44.44", "41.67"]
    assert interest[-1] == "2.78"
    assert schedule.total_interest == D("475.00")


def test_declining_emi_loan_matches_textbook_example() -> None:
    rows = build_schedule(terms()).installments
    assert (rows[0].total, rows[0].interest, rows[0].principal) == (
        D("888.49"),
        D("100.00"),
        D("788.49"),
    )
    assert {row.total for row in rows[:-1]} == {D("888.49")}
    assert (rows[-1].total, rows[-1].balance_after) == (D("888.47"), D("0.00"))


@pytest.mark.parametrize(
    ("principal", "rate", "n"),
    [
        ("15000", "8", 60),
        ("10000", "12", 12),
        ("5000", "12", 18),
        ("250000", "6.5", 360),
        ("1234.56", "0.0001", 7),
        ("999999.99", "59.9999", 480),
        ("100", "24", 1),
        ("75000", "18.25", 120),
    ],
)
def test_emi_agrees_with_numpy_financial_to_the_cent(principal: str, rate: str, n: int) -> None:
    expected = -float(npf.pmt(float(rate) / 100 / 12, n, float(principal)))
    emi = periodic_payment(D(principal), D(rate) / 1200, n)
    assert abs(emi - D(repr(expected))) < D("0.000001")
    assert emi.quantize(MINOR_UNIT) == D(f"{expected:.2f}")


def test_emi_for_fifteen_thousand_at_eight_percent_over_five_years() -> None:
    schedule = build_schedule(
        terms(principal=D("15000"), annual_interest_rate=D("8"), installments=60)
    )
    assert schedule.installments[0].total == D("304.15")


# Options.


def test_zero_interest_loan_splits_principal_and_last_takes_the_remainder() -> None:
    for method in InterestMethod:
        schedule = build_schedule(
            terms(
                principal=D("1000"),
                annual_interest_rate=D("0"),
                installments=3,
                interest_method=method,
            )
        )
        assert column(schedule, "total") == ["333.33", "333.33", "333.34"]
        assert schedule.total_interest == 0


@pytest.mark.parametrize(
    ("frequency", "days", "first_interest"),
    [(Frequency.WEEKLY, 7, "23.08"), (Frequency.BIWEEKLY, 14, "46.15")],
)
def test_weekly_and_biweekly_loans_use_their_own_period_and_rate(
    frequency: Frequency, days: int, first_interest: str
) -> None:
    schedule = build_schedule(terms(frequency=frequency, installments=26))
    dates = [row.due_date for row in schedule.installments]
    assert dates[0] == START + timedelta(days=days)
    assert dates[-1] == START + timedelta(days=days * 26)
    assert schedule.installments[0].interest == D(first_interest)  # 10000 · 12 % / 52 or / 26
    emi = periodic_payment(D("10000"), D("12") / 100 / frequency.periods_per_year, 26)
    assert schedule.installments[0].total == emi.quantize(MINOR_UNIT)


def test_grace_periods_are_interest_only_and_emi_runs_over_the_rest() -> None:
    rows = build_schedule(terms(principal=D("12000"), grace_periods=2)).installments
    assert [(row.principal, row.interest) for row in rows[:2]] == [(D("0.00"), D("120.00"))] * 2
    assert {row.total for row in rows[2:-1]} == {D("1266.98")}  # pmt(1 %, 10, 12000)
    assert rows[-1].balance_after == 0


def test_flat_grace_keeps_interest_and_spreads_principal_over_the_rest() -> None:
    rows = build_schedule(
        terms(
            principal=D("1200"),
            installments=6,
            grace_periods=2,
            interest_method=InterestMethod.FLAT,
        )
    ).installments
    assert column(Schedule(rows), "interest") == ["12.00"] * 6
    assert column(Schedule(rows), "principal") == ["0.00", "0.00"] + ["300.00"] * 4


@pytest.mark.parametrize(
    ("rounding", "installment", "last"),
    [
        (InstallmentRounding.NEAREST, "888.00", "894.18"),
        (InstallmentRounding.UP, "889.00", "882.50"),
    ],
)
def test_whole_unit_installments_round_nearest_or_up(
    rounding: InstallmentRounding, installment: str, last: str
) -> None:
    rows = build_schedule(
        terms(installment_multiple=D("1"), installment_rounding=rounding)
    ).installments
    assert {str(row.total) for row in rows[:-1]} == {installment}
    assert str(rows[-1].total) == last
    assert sum(row.principal for row in rows) == D("10000")


@pytest.mark.parametrize(("principal", "interest"), [("1.80", "0.02"), ("3.00", "0.02")])
def test_interest_rounds_half_even_from_the_exact_amount(principal: str, interest: str) -> None:
    # 1.80 and 3.00 at 10 % for a month are exactly 0.015 and 0.025: true half-cent ties.
    loan = terms(principal=D(principal), annual_interest_rate=D("10"), installments=1)
    assert build_schedule(loan).installments[0].interest == D(interest)


@pytest.mark.parametrize(
    ("principal", "n", "interest"), [("1.80", 1, "0.02"), ("3.00", 1, "0.02"), ("0.36", 5, "0.02")]
)
def test_flat_total_interest_rounds_half_even_from_the_exact_amount(
    principal: str, n: int, interest: str
) -> None:
    # At 10 % these are exactly 0.015, 0.025 and 0.015, although n / 12 years is not a
    # terminating decimal.
    loan = terms(
        principal=D(principal),
        annual_interest_rate=D("10"),
        installments=n,
        interest_method=InterestMethod.FLAT,
    )
    assert build_schedule(loan).total_interest == D(interest)


@pytest.mark.parametrize(("days_in_year", "first_interest"), [(365, "101.92"), (360, "103.33")])
def test_daily_interest_counts_actual_days_between_due_dates(
    days_in_year: int, first_interest: str
) -> None:
    rows = build_schedule(
        terms(interest_period=InterestPeriod.DAILY, days_in_year=days_in_year)
    ).installments
    assert rows[0].interest == D(first_interest)  # 15 Jan to 15 Feb is 31 days
    assert rows[0].total == D("888.49")  # the EMI still comes from the periodic formula
    feb_days = (rows[1].due_date - rows[0].due_date).days
    assert rows[1].interest == daily_interest(
        rows[0].balance_after, D("12"), rows[0].due_date, rows[1].due_date, days_in_year
    )
    assert feb_days == 29


def test_daily_interest_for_a_payoff_quote() -> None:
    assert daily_interest(D("1000"), D("10"), date(2025, 1, 1), date(2025, 1, 11), 365) == D("2.74")
    assert daily_interest(D("1000"), D("10"), date(2025, 1, 1), date(2025, 1, 1), 360) == 0
    with pytest.raises(ValueError, match="before"):
        daily_interest(D("1000"), D("10"), date(2025, 1, 2), date(2025, 1, 1), 365)


# Due dates.


@pytest.mark.parametrize(
    ("start", "k", "expected"),
    [
        (date(2024, 1, 31), 1, date(2024, 2, 29)),
        (date(2024, 1, 31), 2, date(2024, 3, 31)),
        (date(2025, 1, 31), 1, date(2025, 2, 28)),
        (date(2024, 11, 30), 3, date(2025, 2, 28)),
        (date(2024, 12, 15), 1, date(2025, 1, 15)),
        (date(2024, 3, 31), -1, date(2024, 2, 29)),
    ],
)
def test_add_months_keeps_month_ends(start: date, k: int, expected: date) -> None:
    assert add_periods(start, Frequency.MONTHLY, k) == expected


def test_month_end_due_dates_stay_at_month_end() -> None:
    schedule = build_schedule(terms(disbursement_date=date(2023, 12, 31), installments=4))
    assert [row.due_date for row in schedule.installments] == [
        date(2024, 1, 31),
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


def test_disbursed_on_31_january_falls_due_at_each_month_end() -> None:
    schedule = build_schedule(terms(disbursement_date=date(2024, 1, 31), installments=3))
    assert [row.due_date for row in schedule.installments] == [
        date(2024, 2, 29),
        date(2024, 3, 31),
        date(2024, 4, 30),
    ]


def test_first_due_date_overrides_the_default() -> None:
    schedule = build_schedule(terms(first_due_date=date(2024, 3, 1), installments=3))
    assert [row.due_date for row in schedule.installments] == [
        date(2024, 3, 1),
        date(2024, 4, 1),
        date(2024, 5, 1),
    ]


# Broken first period (DESIGN.md "Charges, penalties and delinquency"): the domain review's
# case, 10,000 at 36 % over 12 months disbursed on 10 Jan 2026. The EMI of the regular periods
# is 10000 x 0.03 / (1 - 1.03^-12) = 1004.62, whose first regular split is 300.00 interest
# (10000 x 0.03) + 704.62 principal.


@pytest.mark.parametrize(
    ("first_due", "interest"),
    [
        # 10000 x 0.36 x 5 / 365 = 49.3150... -> 49.32
        (date(2026, 1, 15), D("49.32")),
        # 10000 x 0.36 x 59 / 365 = 581.9178... -> 581.92 (21 days of Jan, 28 of Feb, 10 of Mar)
        (date(2026, 3, 10), D("581.92")),
        # exactly one month: the regular 300.00
        (date(2026, 2, 10), D("300.00")),
    ],
)
@pytest.mark.parametrize("method", ["declining", "flat"])
def test_first_installment_interest_counts_the_actual_days(
    first_due: date, interest: Decimal, method: str
) -> None:
    loan = terms(
        principal=D("10000"),
        annual_interest_rate=D("36"),
        installments=12,
        disbursement_date=date(2026, 1, 10),
        first_due_date=first_due,
        interest_method=method,
    )
    rows = build_schedule(loan).installments
    assert rows[0].interest == interest
    # The principal it repays is that of a regular period: 1004.62 - 300.00 for the EMI,
    # 10000 / 12 = 833.33 for flat.
    assert rows[0].principal == (D("704.62") if method == "declining" else D("833.33"))
    # Later periods are regular: declining 9295.38 x 0.03 = 278.86; flat 300.00 a month.
    assert rows[1].interest == (D("278.86") if method == "declining" else D("300.00"))


def test_broken_period_changes_total_interest_by_the_days_only() -> None:
    def total(first_due: date | None) -> Decimal:
        return build_schedule(
            terms(
                principal=D("10000"),
                annual_interest_rate=D("36"),
                installments=12,
                disbursement_date=date(2026, 1, 10),
                first_due_date=first_due,
                interest_method="flat",
            )
        ).total_interest

    # Flat: 12 x 300.00 = 3600.00 regular; a 5-day first period swaps 300.00 for 49.32.
    assert total(None) == D("3600.00")
    assert total(date(2026, 1, 15)) == D("3349.32")
    assert total(date(2026, 3, 10)) == D("3881.92")


# Invalid terms.


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("principal", D("0")),
        ("principal", D("-5")),
        ("principal", D("10.005")),
        ("principal", D("NaN")),
        ("principal", D("1000000000000")),
        ("annual_interest_rate", D("-0.01")),
        ("annual_interest_rate", D("1000")),
        ("installments", 0),
        ("installments", 481),
        ("grace_periods", -1),
        ("grace_periods", 12),
        ("first_due_date", START),
        ("first_due_date", START - timedelta(days=1)),
        ("installment_multiple", D("0")),
        ("installment_multiple", D("0.005")),
        ("days_in_year", 366),
        ("frequency", "daily"),
        ("interest_method", "compound"),
        ("disbursement_date", date(9999, 6, 1)),
    ],
)
def test_invalid_terms_name_the_field(field: str, value: object) -> None:
    with pytest.raises(TermsError) as error:
        terms(**{field: value})
    assert error.value.field == field
    assert str(error.value).endswith(".")


def test_float_amounts_are_a_programming_error() -> None:
    with pytest.raises(TypeError):
        terms(principal=1000.0)


def test_enum_fields_accept_their_string_values() -> None:
    loan = terms(frequency="weekly", interest_method="flat")
    assert loan.frequency is Frequency.WEEKLY
    assert loan.interest_method is InterestMethod.FLAT


# Properties over every option.

MULTIPLES = [D(m) for m in ("0.01", "0.05", "1", "5", "10", "100")]


@st.composite
def loan_terms(
    draw: st.DrawFn, /, multiples: list[Decimal] = MULTIPLES, **bounds: int
) -> LoanTerms:
    n = draw(st.integers(1, bounds.get("max_n", 480)))
    disbursed = draw(st.dates(date(2000, 1, 1), date(2100, 12, 31)))
    first_due = draw(st.none() | st.integers(1, 60).map(lambda d: disbursed + timedelta(days=d)))
    return LoanTerms(
        principal=D(draw(st.integers(bounds.get("min_cents", 100), 1_000_000_000))).scaleb(-2),
        annual_interest_rate=D(draw(st.integers(0, bounds.get("max_rate", 600_000)))).scaleb(-4),
        installments=n,
        disbursement_date=disbursed,
        frequency=draw(st.sampled_from(Frequency)),
        interest_method=draw(st.sampled_from(InterestMethod)),
        amortization=draw(st.sampled_from(Amortization)),
        first_due_date=first_due,
        grace_periods=draw(st.integers(0, n - 1)),
        installment_multiple=draw(st.sampled_from(multiples)),
        installment_rounding=draw(st.sampled_from(InstallmentRounding)),
        interest_period=draw(st.sampled_from(InterestPeriod)),
        days_in_year=draw(st.sampled_from([360, 365])),
    )


def fixed_installment(loan: LoanTerms) -> bool:
    """Whether the design promises one installment amount after the grace periods."""
    return loan.interest_method is InterestMethod.FLAT or (
        loan.amortization is Amortization.EQUAL_INSTALLMENTS
        and loan.interest_period is InterestPeriod.PER_PERIOD
    )


PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(loan_terms())
def test_schedule_invariants_hold_for_any_terms(loan: LoanTerms) -> None:
    schedule = build_schedule(loan)
    rows = schedule.installments
    assert [row.number for row in rows] == list(range(1, loan.installments + 1))
    assert schedule.total_principal == loan.principal
    assert rows[-1].balance_after == 0
    balance = loan.principal
    for row in rows:
        assert min(row.principal, row.interest, row.balance_after) >= 0
        assert row.total == row.principal + row.interest
        assert row.balance_after == balance - row.principal <= balance
        assert row.principal.as_tuple().exponent == row.interest.as_tuple().exponent == -2
        balance = row.balance_after
    assert schedule.total == loan.principal + schedule.total_interest
    dates = [row.due_date for row in rows]
    assert dates == sorted(set(dates))
    assert dates[0] > loan.disbursement_date
    if fixed_installment(loan):
        # Rows whose principal had to be clamped (a coarse multiple) are the only exceptions.
        # A broken first period changes the first installment's interest (and so its total).
        skip = max(loan.grace_periods, 1 if loan.broken_first_period else 0)
        unclamped = {
            row.total for row in rows[skip:-1] if row.principal > 0 and row.balance_after > 0
        }
        assert len(unclamped) <= 1


@PROPERTY
@given(loan_terms(multiples=[MINOR_UNIT], max_n=60, min_cents=100_000, max_rate=360_000))
def test_ordinary_loans_have_one_installment_amount_after_grace(loan: LoanTerms) -> None:
    assume(fixed_installment(loan))
    rows = build_schedule(loan).installments
    skip = max(loan.grace_periods, 1 if loan.broken_first_period else 0)
    amounts = {row.total for row in rows[skip:-1]}
    assert len(amounts) <= 1
    if amounts and loan.interest_method is InterestMethod.DECLINING:
        i = loan.rate_per_period
        expected = periodic_payment(loan.principal, i, loan.installments - loan.grace_periods)
        up = loan.installment_rounding is InstallmentRounding.UP
        assert amounts == {expected.quantize(MINOR_UNIT, ROUND_CEILING if up else ROUND_HALF_EVEN)}


@PROPERTY
@given(
    st.integers(100, 1_000_000_000).map(lambda c: D(c).scaleb(-2)),
    st.integers(1, 600_000).map(lambda r: D(r).scaleb(-4)),
    st.integers(1, 480),
)
def test_emi_agrees_with_numpy_financial(principal: Decimal, rate: Decimal, n: int) -> None:
    expected = D(repr(-float(npf.pmt(float(rate) / 1200, n, float(principal)))))
    emi = periodic_payment(principal, rate / 1200, n)
    assert abs(emi - expected) <= max(D("1e-9") * emi, D("1e-9"))


@pytest.mark.parametrize("rate", ["0", "12"])
def test_the_regular_installment_is_the_first_that_repays_principal(rate: str) -> None:
    schedule = build_schedule(
        LoanTerms(
            principal=Decimal("1200.00"),
            annual_interest_rate=Decimal(rate),
            installments=12,
            frequency=Frequency.MONTHLY,
            disbursement_date=date(2026, 1, 15),
            grace_periods=2,
        )
    )
    assert schedule.grace_installments == 2
    assert schedule.regular_installment == schedule.installments[2]
    assert schedule.installments[0].total < schedule.installments[2].total
