"""Working days and holidays in the schedule engine, at approval, in the calculator and the
API preview: a due date on a day off moves by the product's rule, the amounts do not."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from hypothesis import given, settings
from hypothesis import strategies as st

from lending.models import Holiday, Loan, NonWorkingWeekday
from lending.schedule import (
    MAX_DAYS_OFF_IN_A_ROW,
    CalendarError,
    DueDateRule,
    LoanTerms,
    WorkingCalendar,
    build_schedule,
    move_due_date,
)
from lending.selectors.calendar import working_calendar
from lending.services.loans import loan_approve
from tests.api.conftest import ApiClient, token_for
from tests.factories import AdminFactory, LoanFactory, LoanProductFactory

D = Decimal
SUNDAY = 6
# Disbursed on Saturday 3 Feb 2024: the first monthly due date is Sunday 3 March 2024.
DISBURSED = date(2024, 2, 3)
SUN_3_MARCH = date(2024, 3, 3)
MON_4_MARCH = date(2024, 3, 4)
SAT_2_MARCH = date(2024, 3, 2)
SUNDAYS_OFF = WorkingCalendar(frozenset({SUNDAY}))


def terms(**overrides: Any) -> LoanTerms:
    fields: dict[str, Any] = {
        "principal": D("10000"),
        "annual_interest_rate": D("12"),
        "installments": 12,
        "disbursement_date": DISBURSED,
    }
    return LoanTerms(**(fields | overrides))


# --- the engine -------------------------------------------------------------------------


def test_a_due_date_on_sunday_moves_to_monday() -> None:
    schedule = build_schedule(terms(due_date_rule="next"), SUNDAYS_OFF)
    assert schedule.installments[0].due_date == MON_4_MARCH


def test_a_due_date_on_a_holiday_moves_past_the_holiday() -> None:
    calendar = WorkingCalendar(frozenset({SUNDAY}), frozenset({MON_4_MARCH}))
    schedule = build_schedule(terms(due_date_rule="next"), calendar)
    assert schedule.installments[0].due_date == date(2024, 3, 5)


def test_a_weekday_holiday_moves_a_due_date_on_it() -> None:
    # Disbursed Monday 5 Feb: due Tuesday 5 March, a holiday.
    calendar = WorkingCalendar(holidays=frozenset({date(2024, 3, 5)}))
    schedule = build_schedule(
        terms(disbursement_date=date(2024, 2, 5), due_date_rule="next"), calendar
    )
    assert schedule.installments[0].due_date == date(2024, 3, 6)


def test_the_previous_rule_moves_back_to_the_last_working_day() -> None:
    schedule = build_schedule(terms(due_date_rule="previous"), SUNDAYS_OFF)
    assert schedule.installments[0].due_date == SAT_2_MARCH


def test_the_previous_rule_never_moves_a_due_date_to_the_disbursement_day() -> None:
    # Disbursed Saturday; first due Monday (a holiday); Sunday is off: the day before that
    # working day would be the disbursement day, so the date moves forward instead.
    calendar = WorkingCalendar(frozenset({SUNDAY}), frozenset({date(2024, 2, 5)}))
    schedule = build_schedule(
        terms(due_date_rule="previous", first_due_date=date(2024, 2, 5)), calendar
    )
    assert schedule.installments[0].due_date == date(2024, 2, 6)


def test_the_keep_rule_and_no_calendar_keep_the_dates() -> None:
    nominal = build_schedule(terms()).installments[0].due_date
    assert nominal == SUN_3_MARCH
    kept = build_schedule(terms(due_date_rule="keep"), SUNDAYS_OFF)
    assert kept.installments[0].due_date == SUN_3_MARCH
    assert build_schedule(terms(due_date_rule="next")).installments[0].due_date == SUN_3_MARCH


def test_a_working_day_is_not_moved() -> None:
    assert move_due_date(MON_4_MARCH, DueDateRule.NEXT, SUNDAYS_OFF) == MON_4_MARCH
    assert move_due_date(MON_4_MARCH, DueDateRule.PREVIOUS, SUNDAYS_OFF) == MON_4_MARCH


@pytest.mark.parametrize("interest_period", ["per_period", "daily"])
@pytest.mark.parametrize("method", ["declining", "flat"])
def test_moving_due_dates_changes_no_amount(interest_period: str, method: str) -> None:
    """Interest is that of the dates as contracted (DESIGN.md leaves it open; README says
    why): a holiday changes when an installment is due, never how much."""
    weekends = WorkingCalendar(frozenset({5, SUNDAY}))
    base = terms(interest_period=interest_period, interest_method=method)
    moved = build_schedule(
        terms(interest_period=interest_period, interest_method=method, due_date_rule="next"),
        weekends,
    )
    plain = build_schedule(base)
    assert [(r.principal, r.interest) for r in moved.installments] == [
        (r.principal, r.interest) for r in plain.installments
    ]
    assert any(
        a.due_date != b.due_date
        for a, b in zip(moved.installments, plain.installments, strict=True)
    )
    assert all(weekends.is_working_day(r.due_date) for r in moved.installments)


@settings(max_examples=60, deadline=None)
@given(
    weekdays=st.frozensets(st.integers(0, 6), max_size=6),
    holidays=st.frozensets(st.dates(date(2024, 2, 1), date(2025, 6, 30)), max_size=40),
    rule=st.sampled_from(["next", "previous"]),
    frequency=st.sampled_from(["monthly", "biweekly", "weekly"]),
)
def test_moved_due_dates_are_working_days_in_order_after_the_disbursement(
    weekdays: frozenset[int], holidays: frozenset[date], rule: str, frequency: str
) -> None:
    try:
        calendar = WorkingCalendar(weekdays, holidays)
    except CalendarError:
        return
    schedule = build_schedule(terms(due_date_rule=rule, frequency=frequency), calendar)
    dates = [row.due_date for row in schedule.installments]
    assert all(calendar.is_working_day(d) for d in dates)
    assert dates == sorted(dates) and dates[0] > DISBURSED


def test_a_week_without_a_working_day_is_refused() -> None:
    with pytest.raises(CalendarError, match="leaves no working day"):
        WorkingCalendar(frozenset(range(7)))


def test_holidays_that_leave_no_working_day_for_a_month_are_refused() -> None:
    days = frozenset(date.fromordinal(date(2027, 1, 1).toordinal() + k) for k in range(40))
    with pytest.raises(CalendarError, match="no working day from 01 Jan 2027 to 09 Feb 2027"):
        WorkingCalendar(holidays=days)


def test_weekends_joining_holidays_count_as_days_off_in_a_row() -> None:
    # Monday to Friday holidays for five weeks, with weekends off: 37 days with no work.
    start = date(2027, 1, 4)  # a Monday
    days = frozenset(
        date.fromordinal(start.toordinal() + k)
        for k in range(35)
        if date.fromordinal(start.toordinal() + k).weekday() < 5
    )
    with pytest.raises(CalendarError):
        WorkingCalendar(frozenset({5, 6}), days)
    # The same with one working day in the middle is fine.
    WorkingCalendar(frozenset({5, 6}), days - {date(2027, 1, 20)})
    assert MAX_DAYS_OFF_IN_A_ROW == 31


# --- approval, calculator, API preview -------------------------------------------------------


@pytest.fixture
def sundays_off(db: Any) -> None:
    NonWorkingWeekday.objects.create(weekday=SUNDAY)


def _first_due(loan: Loan) -> date:
    return loan.schedule.order_by("number").values_list("due_date", flat=True)[0]


def _approve(loan: Loan) -> Loan:
    return loan_approve(loan=loan, user=AdminFactory(), disbursement_date=DISBURSED)


def test_approval_moves_due_dates_by_the_products_rule(sundays_off: None) -> None:
    product = LoanProductFactory(due_date_rule="previous")
    loan = _approve(LoanFactory(product=product, annual_interest_rate=D("12")))
    assert _first_due(loan) == SAT_2_MARCH
    assert loan.due_date_rule == "previous"  # frozen with the other product terms


def test_approval_without_a_product_moves_to_the_next_working_day(sundays_off: None) -> None:
    loan = _approve(LoanFactory())
    assert _first_due(loan) == MON_4_MARCH
    assert loan.due_date_rule == "next"


def test_a_product_that_keeps_dates_keeps_them(sundays_off: None) -> None:
    loan = _approve(LoanFactory(product=LoanProductFactory(due_date_rule="keep")))
    assert _first_due(loan) == SUN_3_MARCH


def test_new_products_move_to_the_next_working_day(db: Any) -> None:
    assert LoanProductFactory().due_date_rule == "next"


CALCULATOR = {
    "disbursement_date": "03/02/2024",
    "principal": "10000",
    "annual_interest_rate": "12",
    "installments": "12",
    "frequency": "monthly",
    "interest_method": "declining",
    "amortization": "equal_installments",
    "grace_periods": "0",
    "installment_multiple": "0.01",
    "installment_rounding": "nearest",
    "interest_period": "per_period",
    "days_in_year": "365",
}


def test_calculator_moves_due_dates_off_days_off(sundays_off: None, officer_client: Client) -> None:
    response = officer_client.get("/calculator/", CALCULATOR)
    assert response.context["schedule"].installments[0].due_date == MON_4_MARCH
    response = officer_client.get("/calculator/", {**CALCULATOR, "due_date_rule": "previous"})
    assert response.context["schedule"].installments[0].due_date == SAT_2_MARCH
    response = officer_client.get("/calculator/", {**CALCULATOR, "due_date_rule": "keep"})
    assert response.context["schedule"].installments[0].due_date == SUN_3_MARCH


def test_calculator_refuses_an_unknown_rule(sundays_off: None, officer_client: Client) -> None:
    response = officer_client.get("/calculator/", {**CALCULATOR, "due_date_rule": "sideways"})
    assert response.context["schedule"] is None
    assert "due_date_rule" in response.context["form"].errors


def test_api_preview_moves_due_dates(sundays_off: None, admin_user: Any) -> None:
    payload = {
        "principal": "10000",
        "annual_interest_rate": "12",
        "installments": 12,
        "disbursement_date": DISBURSED.isoformat(),
    }
    response = ApiClient(token_for(admin_user)).post("/api/schedule/preview", payload)
    assert response.status_code == 200, response.content
    assert response.json()["installments"][0]["due_date"] == MON_4_MARCH.isoformat()


def test_a_holiday_is_a_day_off(db: Any) -> None:
    Holiday.objects.create(date=MON_4_MARCH, name="Founders' Day")
    assert not working_calendar().is_working_day(MON_4_MARCH)
