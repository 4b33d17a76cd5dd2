"""Repayment schedule engine: loan terms in, installments out.

Plain Python on purpose (no Django): the loan calculator page, the API preview and loan
approval all call `build_schedule`, so the money rules live in one place and are tested with
Hypothesis in milliseconds. The rules are those of DESIGN.md, "Loan terms and the schedule".
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import ROUND_CEILING, ROUND_HALF_EVEN, Context, Decimal, localcontext
from enum import StrEnum

MINOR_UNIT = Decimal("0.01")
MAX_INSTALLMENTS = 480
# Upper bounds of the columns the terms are stored in (max_digits=14 / 7, decimal_places=2 / 4).
MAX_PRINCIPAL = Decimal("999999999999.99")
MAX_RATE = Decimal("999.9999")
_ZERO = Decimal("0.00")


def _context() -> Context:
    """Generous precision so the only rounding that shows is the rounding we ask for."""
    return Context(prec=34, rounding=ROUND_HALF_EVEN)


class Frequency(StrEnum):
    MONTHLY = "monthly"
    BIWEEKLY = "biweekly"
    WEEKLY = "weekly"

    @property
    def periods_per_year(self) -> int:
        return {"monthly": 12, "biweekly": 26, "weekly": 52}[self.value]


class InterestMethod(StrEnum):
    DECLINING = "declining"
    FLAT = "flat"


class Amortization(StrEnum):
    EQUAL_INSTALLMENTS = "equal_installments"
    EQUAL_PRINCIPAL = "equal_principal"


class InstallmentRounding(StrEnum):
    NEAREST = "nearest"
    UP = "up"


class InterestPeriod(StrEnum):
    PER_PERIOD = "per_period"
    DAILY = "daily"


class DueDateRule(StrEnum):
    """Where a due date that falls on a day off goes (DESIGN.md, "Working days and holidays"):
    the next working day, the previous one, or nowhere (`keep`)."""

    NEXT = "next"
    PREVIOUS = "previous"
    KEEP = "keep"


class TermsError(ValueError):
    """Invalid loan terms; `field` names the input to blame, so a form can show it there."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class LoanTerms:
    """Everything a schedule depends on. Terms are checked on creation: invalid terms raise
    `TermsError` and never reach the arithmetic. Enum fields also accept their string values."""

    principal: Decimal
    annual_interest_rate: Decimal  # percent a year, e.g. Decimal("12")
    installments: int
    disbursement_date: date
    frequency: Frequency = Frequency.MONTHLY
    interest_method: InterestMethod = InterestMethod.DECLINING
    amortization: Amortization = Amortization.EQUAL_INSTALLMENTS
    first_due_date: date | None = None
    grace_periods: int = 0
    installment_multiple: Decimal = MINOR_UNIT
    installment_rounding: InstallmentRounding = InstallmentRounding.NEAREST
    interest_period: InterestPeriod = InterestPeriod.PER_PERIOD
    days_in_year: int = 365
    due_date_rule: DueDateRule = DueDateRule.KEEP

    def __post_init__(self) -> None:
        for name, kind in _ENUM_FIELDS.items():
            value = getattr(self, name)
            try:
                object.__setattr__(self, name, kind(value))
            except ValueError:
                choices = ", ".join(member.value for member in kind)
                raise TermsError(name, f"Choose one of: {choices}.") from None
        with localcontext(_context()):
            _validate(self)

    @property
    def rate_per_period(self) -> Decimal:
        with localcontext(_context()):
            return self.annual_interest_rate / 100 / self.frequency.periods_per_year

    def due_dates(self) -> list[date]:
        """Every date is counted from one anchor, never chained, so month ends are kept: a
        loan disbursed on 31 Jan falls due 29 Feb, 31 Mar, 30 Apr. The anchor is the
        disbursement date (k periods after it), or the first due date when one is given."""
        if self.first_due_date is None:
            start, offset = self.disbursement_date, 1
        else:
            start, offset = self.first_due_date, 0
        return [add_periods(start, self.frequency, k + offset) for k in range(self.installments)]

    @property
    def broken_first_period(self) -> bool:
        """Whether the first due date is not exactly one period after the disbursement: its
        interest is then counted on the actual days (DESIGN.md, "Broken first period")."""
        regular = add_periods(self.disbursement_date, self.frequency, 1)
        return self.first_due_date is not None and self.first_due_date != regular


_ENUM_FIELDS: dict[str, type[StrEnum]] = {
    "frequency": Frequency,
    "interest_method": InterestMethod,
    "amortization": Amortization,
    "installment_rounding": InstallmentRounding,
    "interest_period": InterestPeriod,
    "due_date_rule": DueDateRule,
}


def _check_amount(field: str, value: object, label: str) -> Decimal:
    # A float here is a programming error (DESIGN.md: never float), not a clerk's typo.
    if not isinstance(value, Decimal):
        raise TypeError(f"{field} must be a Decimal, not {type(value).__name__}")
    if not value.is_finite():
        raise TermsError(field, f"The {label} must be a number.")
    return value


def _validate(terms: LoanTerms) -> None:
    principal = _check_amount("principal", terms.principal, "principal")
    if principal <= 0:
        raise TermsError("principal", "The principal must be more than zero.")
    if principal > MAX_PRINCIPAL:
        raise TermsError("principal", f"The principal must not exceed {MAX_PRINCIPAL:,}.")
    if principal != principal.quantize(MINOR_UNIT):
        raise TermsError("principal", "The principal must be in whole cents.")

    rate = _check_amount("annual_interest_rate", terms.annual_interest_rate, "interest rate")
    if rate < 0:
        raise TermsError("annual_interest_rate", "The interest rate cannot be negative.")
    if rate > MAX_RATE:
        raise TermsError("annual_interest_rate", f"The interest rate must not exceed {MAX_RATE} %.")

    n = terms.installments
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_INSTALLMENTS:
        raise TermsError(
            "installments", f"The number of installments must be from 1 to {MAX_INSTALLMENTS}."
        )

    grace = terms.grace_periods
    if isinstance(grace, bool) or not isinstance(grace, int) or grace < 0:
        raise TermsError("grace_periods", "The grace periods must be a whole number, zero or more.")
    if grace >= n:
        raise TermsError(
            "grace_periods",
            "The grace periods must be fewer than the installments, so that at least one "
            "installment repays principal.",
        )

    if terms.first_due_date is not None and terms.first_due_date <= terms.disbursement_date:
        raise TermsError("first_due_date", "The first due date must be after the disbursement.")

    multiple = _check_amount("installment_multiple", terms.installment_multiple, "multiple")
    if multiple <= 0 or multiple > MAX_PRINCIPAL or multiple % MINOR_UNIT != 0:
        raise TermsError(
            "installment_multiple",
            "The installment multiple must be a positive amount in whole cents, such as 0.01 or 1.",
        )

    if terms.days_in_year not in (360, 365):
        raise TermsError("days_in_year", "The days in a year must be 360 or 365.")

    try:
        terms.due_dates()
    except (OverflowError, ValueError):
        raise TermsError(
            "disbursement_date", "The schedule would run past the year 9999."
        ) from None


@dataclass(frozen=True)
class ScheduledInstallment:
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    total: Decimal
    balance_after: Decimal  # principal still owed once this installment is paid


@dataclass(frozen=True)
class Schedule:
    installments: tuple[ScheduledInstallment, ...]

    @property
    def total_principal(self) -> Decimal:
        return sum((row.principal for row in self.installments), _ZERO)

    @property
    def total_interest(self) -> Decimal:
        return sum((row.interest for row in self.installments), _ZERO)

    @property
    def total(self) -> Decimal:
        return sum((row.total for row in self.installments), _ZERO)

    @property
    def grace_installments(self) -> int:
        """How many installments at the start repay no principal (the grace periods: interest
        only, or nothing at 0 %)."""
        count = 0
        for row in self.installments:
            if row.principal > 0:
                break
            count += 1
        return count

    @property
    def regular_installment(self) -> ScheduledInstallment | None:
        """The first installment that repays principal: what a borrower pays each period once
        any grace periods are over (the headline "Installment"). None for an empty schedule."""
        for row in self.installments:
            if row.principal > 0:
                return row
        return self.installments[0] if self.installments else None


def add_periods(start: date, frequency: Frequency, k: int) -> date:
    """The date k periods after `start` (k may be negative). Months clamp to the month's last
    day (31 Jan + 1 month = 28/29 Feb); callers keep month ends by always counting from the
    same anchor rather than chaining one period at a time."""
    if frequency is Frequency.WEEKLY:
        return start + timedelta(weeks=k)
    if frequency is Frequency.BIWEEKLY:
        return start + timedelta(weeks=2 * k)
    year, month0 = divmod(start.month - 1 + k, 12)
    year += start.year
    day = min(start.day, calendar.monthrange(year, month0 + 1)[1])
    return date(year, month0 + 1, day)


def periodic_payment(principal: Decimal, rate_per_period: Decimal, n: int) -> Decimal:
    """The unrounded annuity payment P·i / (1 - (1 + i)^-n), or P / n without interest."""
    if n < 1:
        raise ValueError("n must be at least 1")
    with localcontext(_context()):
        if rate_per_period == 0:
            return principal / n
        return principal * rate_per_period / (1 - (1 + rate_per_period) ** -n)


def daily_interest(
    balance: Decimal, annual_rate: Decimal, start: date, end: date, days_in_year: int
) -> Decimal:
    """Interest on `balance` for the actual days from `start` to `end`, in cents. Serves the
    `daily` interest period and early-settlement payoff quotes."""
    days = (end - start).days
    if days < 0:
        raise ValueError("end must not be before start")
    with localcontext(_context()):
        return _money(balance * annual_rate / 100 * days / days_in_year)


def _money(amount: Decimal) -> Decimal:
    return amount.quantize(MINOR_UNIT, rounding=ROUND_HALF_EVEN)


def _to_multiple(amount: Decimal, terms: LoanTerms) -> Decimal:
    """`up` rounds toward the lender (never under-collects); `nearest` is banker's rounding."""
    up = terms.installment_rounding is InstallmentRounding.UP
    mode = ROUND_CEILING if up else ROUND_HALF_EVEN
    multiple = terms.installment_multiple
    return _money((amount / multiple).quantize(Decimal(1), rounding=mode) * multiple)


def _clamp(amount: Decimal, balance: Decimal) -> Decimal:
    """Keep a principal part within [0, balance]: a coarse installment multiple can make the
    rounded installment smaller than the interest, or larger than what is still owed."""
    return min(max(amount, _ZERO), balance)


def build_schedule(terms: LoanTerms, calendar: WorkingCalendar | None = None) -> Schedule:
    """The installments for `terms`. Whatever the options, the principal parts add up to the
    principal exactly and no amount is negative: the last installment absorbs the rounding.

    With a `calendar`, a due date on a day off moves by the terms' `due_date_rule` (see
    `move_due_dates`). The amounts are those of the dates as contracted: a holiday changes
    when an installment is due, never how much (interest, the daily option and a broken first
    period included), so the borrower neither pays for the days a holiday adds nor gains
    those it takes away, and rescheduling a loan later changes no amount either."""
    with localcontext(_context()):
        flat = terms.interest_method is InterestMethod.FLAT
        rows = _flat(terms) if flat else _declining(terms)
    if calendar is not None and terms.due_date_rule is not DueDateRule.KEEP:
        moved = move_due_dates(
            [row.due_date for row in rows], terms.due_date_rule, calendar, terms.disbursement_date
        )
        rows = [replace(row, due_date=due) for row, due in zip(rows, moved, strict=True)]
    return Schedule(tuple(rows))


# --- working days ------------------------------------------------------------------------

# The longest stretch of days off a calendar may hold: a due date inside a longer one would
# have to move by more than a month, which is a rescheduling, not a holiday.
MAX_DAYS_OFF_IN_A_ROW = 31
WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")


class CalendarError(ValueError):
    """Days off that leave no working day to move a due date to."""


@dataclass(frozen=True)
class WorkingCalendar:
    """The institution's days off: weekdays off every week (0 = Monday ... 6 = Sunday) and
    dated holidays. Checked on creation: a calendar in which a due date could find no working
    day within `MAX_DAYS_OFF_IN_A_ROW` days raises `CalendarError`."""

    weekdays_off: frozenset[int] = frozenset()
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "weekdays_off", frozenset(self.weekdays_off))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        if any(not 0 <= day <= 6 for day in self.weekdays_off):
            raise ValueError("weekdays are 0 (Monday) to 6 (Sunday)")
        if len(self.weekdays_off) == 7:
            raise CalendarError(
                "Every day of the week would be a day off, which leaves no working day: "
                "keep at least one working day in the week."
            )
        longest = self.longest_days_off()
        if longest is not None:
            first, last = longest
            if (last - first).days + 1 > MAX_DAYS_OFF_IN_A_ROW:
                raise CalendarError(
                    f"These days off leave no working day from {first:%d %b %Y} to "
                    f"{last:%d %b %Y} ({(last - first).days + 1} days in a row): a due date "
                    f"there could not move to a working day. Keep at least one working day "
                    f"in every {MAX_DAYS_OFF_IN_A_ROW}."
                )

    def is_working_day(self, day: date) -> bool:
        return day.weekday() not in self.weekdays_off and day not in self.holidays

    def longest_days_off(self) -> tuple[date, date] | None:
        """The first and last day of the longest run of days off that holds a holiday (None
        without holidays; weekdays alone leave a working day every week)."""
        best: tuple[date, date] | None = None
        for holiday in sorted(self.holidays):
            if best is not None and best[0] <= holiday <= best[1]:
                continue
            first = last = holiday
            while not self.is_working_day(first - timedelta(days=1)):
                first -= timedelta(days=1)
            while not self.is_working_day(last + timedelta(days=1)):
                last += timedelta(days=1)
            if best is None or (last - first) > (best[1] - best[0]):
                best = (first, last)
        return best


def move_due_date(
    due: date, rule: DueDateRule | str, calendar: WorkingCalendar, after: date | None = None
) -> date:
    """`due` moved to a working day by `rule` (unchanged when it is one, or under `keep`).
    `previous` never moves a date to or before `after` (the disbursement): it moves to the
    next working day instead."""
    rule = DueDateRule(rule)
    if rule is DueDateRule.KEEP or calendar.is_working_day(due):
        return due
    step = timedelta(days=-1 if rule is DueDateRule.PREVIOUS else 1)
    day = due
    for _ in range(MAX_DAYS_OFF_IN_A_ROW + 7):
        day += step
        if after is not None and step.days < 0 and day <= after:
            return move_due_date(due, DueDateRule.NEXT, calendar)
        if calendar.is_working_day(day):
            return day
    raise CalendarError(f"No working day near {due:%d %b %Y}.")


def move_due_dates(
    dues: list[date], rule: DueDateRule | str, calendar: WorkingCalendar, after: date
) -> list[date]:
    """Each due date moved by `rule`. The dates stay in order (moving to the nearest working
    day one way never swaps two dates), though two may land on the same day."""
    return [move_due_date(due, rule, calendar, after) for due in dues]


def _row(
    number: int, due: date, principal: Decimal, interest: Decimal, balance: Decimal
) -> ScheduledInstallment:
    return ScheduledInstallment(number, due, principal, interest, principal + interest, balance)


def _declining(terms: LoanTerms) -> list[ScheduledInstallment]:
    """Interest on the balance still owed; the first `grace_periods` installments are interest
    only and the principal is repaid over the rest."""
    n, grace = terms.installments, terms.grace_periods
    rate, i = terms.annual_interest_rate, terms.rate_per_period
    # Interest divides the exact product once, so a half cent is a true tie for HALF_EVEN
    # rather than the 34th digit of a rounded periodic rate.
    divisor = 100 * terms.frequency.periods_per_year
    balance = _money(terms.principal)
    emi = _to_multiple(periodic_payment(balance, i, n - grace), terms)
    principal_part = _money(balance / (n - grace))
    broken = terms.broken_first_period and terms.interest_period is InterestPeriod.PER_PERIOD
    rows, previous = [], terms.disbursement_date
    for number, due in enumerate(terms.due_dates(), start=1):
        regular_interest = _money(balance * rate / divisor)
        if terms.interest_period is InterestPeriod.DAILY or (broken and number == 1):
            interest = daily_interest(balance, rate, previous, due, terms.days_in_year)
        else:
            interest = regular_interest
        if number == n:
            principal = balance
        elif number <= grace:
            principal = _ZERO
        elif terms.amortization is Amortization.EQUAL_PRINCIPAL:
            principal = _clamp(principal_part, balance)
        elif broken and number == 1:
            # The EMI is that of the regular periods: the broken period changes the first
            # installment's interest, not how much principal it repays.
            principal = _clamp(emi - regular_interest, balance)
        else:
            principal = _clamp(emi - interest, balance)
        balance -= principal
        rows.append(_row(number, due, principal, interest, balance))
        previous = due
    return rows


def _flat(terms: LoanTerms) -> list[ScheduledInstallment]:
    """Interest on the original principal for the whole term, charged in equal parts; the
    installment is (P + total interest) / n, or with grace P / (n - g) + total interest / n.
    The interest period option does not apply: flat interest ignores the balance. A broken
    first period replaces the first installment's share of the interest by the interest of its
    actual days (principal x rate x days / days in year); the installment amount stays that of
    the regular periods."""
    n, grace = terms.installments, terms.grace_periods
    balance = _money(terms.principal)
    divisor = 100 * terms.frequency.periods_per_year
    interest_left = _money(balance * terms.annual_interest_rate * n / divisor)
    interest_part = _money(interest_left / n)
    # One division of the exact fraction, so that with no grace it is (P + I) / n to the digit.
    installment = _to_multiple(
        (balance * n + interest_left * (n - grace)) / (n * (n - grace)), terms
    )
    first_interest: Decimal | None = None
    if terms.broken_first_period:
        first_due = terms.due_dates()[0]
        first_interest = daily_interest(
            balance,
            terms.annual_interest_rate,
            terms.disbursement_date,
            first_due,
            terms.days_in_year,
        )
        interest_left += first_interest - min(interest_part, interest_left)
    rows = []
    for number, due in enumerate(terms.due_dates(), start=1):
        if number == n:
            principal, interest = balance, interest_left
        elif number == 1 and first_interest is not None:
            interest = first_interest
            regular = min(interest_part, interest_left)
            principal = _ZERO if number <= grace else _clamp(installment - regular, balance)
        else:
            # Rounding each part up can overrun the total on tiny loans; never charge past it.
            interest = min(interest_part, interest_left)
            principal = _ZERO if number <= grace else _clamp(installment - interest, balance)
        balance -= principal
        interest_left -= interest
        rows.append(_row(number, due, principal, interest, balance))
    return rows
