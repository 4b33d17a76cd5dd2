"""A loan's fees from its charge terms (DESIGN.md, "Charges, penalties and delinquency").

Plain Python (no Django), beside `lending.schedule`: the loan's charge terms (its frozen copy
of its product's charges), its principal and its schedule go in; what each installment owes
in fees and what is deducted from the money handed over come out. Approval books them, the
calculator and the previews show them, and the tests check them against worked examples.

A fee is one of:

- `disbursement`: charged once when the loan is paid out; either **deducted** from the money
  handed over (the borrower receives principal - fee) or added to the first installment;
- `installment`: on every installment;
- `specified_date`: once, on the installment whose period holds the date (the first one due
  on or after it); the date must fall after the disbursement and on or before the last due
  date.

Its amount is flat, or a percent: of the principal (`disbursement`, `specified_date`) or of
the installment's principal + interest (`installment`). A percent fee is rounded to the cent,
half to even (as the late penalty is). Late penalties (`overdue`) are the loan's penalty rule,
not a charge term here (`lending.replay.PenaltyRule`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_EVEN, Decimal, InvalidOperation
from enum import StrEnum
from typing import Any, Protocol

from lending.schedule import Schedule, ScheduledInstallment

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
HUNDRED = Decimal("100")


class ChargeTime(StrEnum):
    DISBURSEMENT = "disbursement"
    INSTALLMENT = "installment"
    SPECIFIED_DATE = "specified_date"


class Calculation(StrEnum):
    FLAT = "flat"
    PERCENT = "percent"


class ChargeError(ValueError):
    """Charge terms that cannot be applied; `field` names what to correct."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


@dataclass(frozen=True)
class ChargeTerm:
    """One fee as a loan keeps it (`Loan.charges` holds `as_json()` of each)."""

    name: str
    time: ChargeTime
    calculation: Calculation
    amount: Decimal  # money when flat, percent when percent
    deducted: bool = False  # disbursement only: taken from the money handed over
    on_date: date | None = None  # specified_date only

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "time": self.time.value,
            "calculation": self.calculation.value,
            "amount": _percent(self.amount),
            "deducted": self.deducted,
            "on_date": self.on_date.isoformat() if self.on_date else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ChargeTerm:
        on = data.get("on_date")
        return cls(
            name=str(data["name"]),
            time=ChargeTime(data["time"]),
            calculation=Calculation(data["calculation"]),
            amount=Decimal(str(data["amount"])),
            deducted=bool(data.get("deducted", False)),
            on_date=date.fromisoformat(on) if on else None,
        )

    def describe(self, currency: str = "") -> str:
        """The fee in words, as the loan page shows it."""
        money = f"{currency} " if currency else ""
        if self.calculation is Calculation.FLAT:
            what = f"{money}{self.amount:,.2f}"
        elif self.time is ChargeTime.INSTALLMENT:
            what = f"{_percent(self.amount)} % of the installment's principal + interest"
        else:
            what = f"{_percent(self.amount)} % of the principal"
        if self.time is ChargeTime.DISBURSEMENT:
            when = (
                "deducted from the amount paid out"
                if self.deducted
                else "at disbursement, added to the first installment"
            )
        elif self.time is ChargeTime.INSTALLMENT:
            when = "on every installment"
        else:
            when = f"on {self.on_date:%d %b %Y}" if self.on_date else "on a set date"
        return f"{self.name}: {what}, {when}"


def _percent(value: Decimal) -> str:
    return format(value.normalize(), "f")


def check_term(term: ChargeTerm) -> None:
    """A charge's own rules, whatever loan it is for: an amount above zero, a percent of at
    most 100, a date only on a specified-date fee, deduction only at disbursement."""
    try:
        amount = Decimal(term.amount)
    except (InvalidOperation, TypeError):
        raise ChargeError("amount", "Enter the fee as a number.") from None
    if not amount.is_finite() or amount <= 0:
        raise ChargeError("amount", "A fee must be above zero.")
    if term.calculation is Calculation.PERCENT and amount > HUNDRED:
        raise ChargeError("amount", "A percent fee is at most 100 %.")
    if term.calculation is Calculation.FLAT and amount != amount.quantize(CENT):
        raise ChargeError("amount", "A flat fee is in cents: at most two decimals.")
    if term.time is ChargeTime.SPECIFIED_DATE and term.on_date is None:
        raise ChargeError("on_date", "A fee on a specified date needs its date.")
    if term.time is not ChargeTime.SPECIFIED_DATE and term.on_date is not None:
        raise ChargeError("on_date", "Only a fee on a specified date has a date.")
    if term.deducted and term.time is not ChargeTime.DISBURSEMENT:
        raise ChargeError("deducted", "Only a disbursement fee can be deducted from the payout.")


class ScheduledRow(Protocol):
    """What the fees need of an installment (`lending.schedule.ScheduledInstallment` fits)."""

    @property
    def number(self) -> int: ...
    @property
    def due_date(self) -> date: ...
    @property
    def principal(self) -> Decimal: ...
    @property
    def interest(self) -> Decimal: ...


@dataclass(frozen=True)
class FeeLine:
    """One fee on one installment."""

    number: int  # the installment's number
    name: str
    amount: Decimal


@dataclass(frozen=True)
class LoanFees:
    """A loan's fees: those its installments owe (by installment number) and those deducted
    from the money handed over."""

    lines: tuple[FeeLine, ...] = ()
    deducted: Decimal = ZERO

    def by_installment(self) -> dict[int, Decimal]:
        totals: dict[int, Decimal] = {}
        for line in self.lines:
            totals[line.number] = totals.get(line.number, ZERO) + line.amount
        return totals

    @property
    def scheduled(self) -> Decimal:
        return sum((line.amount for line in self.lines), ZERO)

    @property
    def total(self) -> Decimal:
        return self.scheduled + self.deducted


def _of(base: Decimal, percent: Decimal) -> Decimal:
    return (base * percent / HUNDRED).quantize(CENT, rounding=ROUND_HALF_EVEN)


def installment_fee(term: ChargeTerm, row: ScheduledRow) -> Decimal:
    """What an `installment` fee charges one installment: its flat amount, or its percent of
    the installment's scheduled principal + interest."""
    if term.calculation is Calculation.FLAT:
        return term.amount
    return _of(row.principal + row.interest, term.amount)


def installment_fees(
    terms: Iterable[ChargeTerm], schedule: Sequence[ScheduledRow]
) -> dict[int, Decimal]:
    """The `installment` fees alone (not those charged at disbursement or on a date), by
    installment number: what an installment owes for being one. An early settlement waives
    them on the installments not yet due (`lending.allocation.payoff`)."""
    per: dict[int, Decimal] = {}
    for term in terms:
        if term.time is ChargeTime.INSTALLMENT:
            for row in schedule:
                fee = installment_fee(term, row)
                if fee > 0:
                    per[row.number] = per.get(row.number, ZERO) + fee
    return per


def loan_fees(
    terms: Iterable[ChargeTerm],
    *,
    principal: Decimal,
    disbursement_date: date,
    schedule: Sequence[ScheduledRow],
) -> LoanFees:
    """The fees of a loan of `principal` disbursed on `disbursement_date` with `schedule`.
    Raises `ChargeError` for a charge that cannot apply to this loan: a date outside its
    term, or deducted fees that leave nothing to pay out."""
    rows = sorted(schedule, key=lambda r: (r.due_date, r.number))
    lines: list[FeeLine] = []
    deducted = ZERO
    for term in terms:
        check_term(term)
        flat = term.calculation is Calculation.FLAT
        if term.time is ChargeTime.DISBURSEMENT:
            fee = term.amount if flat else _of(principal, term.amount)
            if term.deducted:
                deducted += fee
            elif rows and fee > 0:
                lines.append(FeeLine(rows[0].number, term.name, fee))
        elif term.time is ChargeTime.INSTALLMENT:
            for row in rows:
                fee = installment_fee(term, row)
                if fee > 0:
                    lines.append(FeeLine(row.number, term.name, fee))
        else:
            on = term.on_date
            assert on is not None  # check_term
            last = rows[-1].due_date if rows else disbursement_date
            if not (disbursement_date < on <= last):
                raise ChargeError(
                    "on_date",
                    f"The fee {term.name} is due on {on:%d %b %Y}, outside this loan's term "
                    f"({disbursement_date:%d %b %Y} to {last:%d %b %Y}).",
                )
            target = next(row for row in rows if row.due_date >= on)
            fee = term.amount if flat else _of(principal, term.amount)
            if fee > 0:
                lines.append(FeeLine(target.number, term.name, fee))
    if deducted >= principal:
        raise ChargeError(
            "principal",
            f"The fees deducted at disbursement ({deducted:,.2f}) would leave nothing of the "
            f"principal ({principal:,.2f}) to pay out.",
        )
    return LoanFees(tuple(lines), deducted)


def terms_from_json(data: Iterable[dict[str, Any]] | None) -> list[ChargeTerm]:
    return [ChargeTerm.from_json(item) for item in data or ()]


# --- a previewed schedule with its fees --------------------------------------------------


@dataclass(frozen=True)
class FeeInstallment(ScheduledInstallment):
    """A scheduled installment with the fees it would owe (`total` includes them)."""

    fees: Decimal = ZERO


@dataclass(frozen=True)
class FeeSchedule(Schedule):
    """A schedule as the calculator and the previews show it: each installment with its fees,
    and what would be deducted from the money handed over."""

    principal: Decimal = ZERO
    fees_deducted: Decimal = ZERO

    @property
    def total_fees(self) -> Decimal:
        return sum((getattr(row, "fees", ZERO) for row in self.installments), ZERO)

    @property
    def paid_out(self) -> Decimal:
        return self.principal - self.fees_deducted


def with_fees(schedule: Schedule, fees: LoanFees, principal: Decimal) -> FeeSchedule:
    per = fees.by_installment()
    rows = tuple(
        FeeInstallment(
            number=row.number,
            due_date=row.due_date,
            principal=row.principal,
            interest=row.interest,
            total=row.total + per.get(row.number, ZERO),
            balance_after=row.balance_after,
            fees=per.get(row.number, ZERO),
        )
        for row in schedule.installments
    )
    return FeeSchedule(rows, principal=principal, fees_deducted=fees.deducted)
