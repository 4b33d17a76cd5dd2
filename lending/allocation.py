"""How a payment is spread over a loan's installments, and what settling a loan early costs.

Plain Python (no Django), like `lending.schedule`: the repayment services and the bulk demo
seeder call the same functions, so there is one allocation rule, tested with Hypothesis in
milliseconds. The rules are those of DESIGN.md, "Repayments":

- oldest installment first; within an installment penalties → fees → interest → principal;
- whatever is left once every installment that is due on the payment's value date has been
  paid goes to the next installments (paying ahead). How depends on the loan's
  `prepayment_order`: `principal_first` pays the principal of every installment not yet due
  (oldest first) before any of their interest (or fees and penalties), so interest not yet
  earned is never bought in advance; `in_order` pays each one in the same order as a due one;
- an amount above what is still owed is refused.

Early settlement (`payoff`): everything due on or before the payoff date, plus the principal
not yet due, plus the interest of the current period accrued day by day up to that date, plus
every unpaid penalty and fee except the per-installment fees of the installments due after
that date (waived, as their interest), minus any interest already paid beyond that on the
installments due after that date (paid ahead: it is credited, never kept). The rest of the
scheduled interest is waived, including what was paid ahead (the settlement's interest credit
moves that money to what the loan owes: `lending.replay.Book._credit`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from decimal import Decimal

from lending.schedule import MINOR_UNIT, daily_interest

ZERO = Decimal("0.00")
# The order in which a payment eats into one installment.
COMPONENTS: tuple[str, ...] = ("penalties", "fees", "interest", "principal")
# Loan.prepayment_order: how money paid ahead is spread over installments not yet due.
IN_ORDER = "in_order"
PRINCIPAL_FIRST = "principal_first"
PREPAYMENT_ORDERS = (PRINCIPAL_FIRST, IN_ORDER)


@dataclass(frozen=True)
class InstallmentDue:
    """What is still owed on one installment, per component (after waivers and payments)."""

    id: int
    number: int
    due_date: date
    penalties: Decimal = ZERO
    fees: Decimal = ZERO
    interest: Decimal = ZERO
    principal: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.penalties + self.fees + self.interest + self.principal


@dataclass(frozen=True)
class AllocationLine:
    """How much of one payment goes to each component of one installment."""

    installment_id: int
    penalties: Decimal = ZERO
    fees: Decimal = ZERO
    interest: Decimal = ZERO
    principal: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.penalties + self.fees + self.interest + self.principal


def _check_amount(amount: Decimal) -> None:
    # A float here is a programming error (DESIGN.md: never float), not a cashier's typo.
    if not isinstance(amount, Decimal):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    if not amount.is_finite() or amount != amount.quantize(MINOR_UNIT):
        raise ValueError("The amount must be a number in whole cents.")
    if amount <= 0:
        raise ValueError("The amount must be more than zero.")


def oldest_first(installments: Sequence[InstallmentDue]) -> list[InstallmentDue]:
    return sorted(installments, key=lambda row: (row.due_date, row.number))


def total_remaining(installments: Sequence[InstallmentDue]) -> Decimal:
    return sum((row.total for row in installments), ZERO)


def is_ahead(row: InstallmentDue, on: date | None, order: str) -> bool:
    """Whether a payment on `on` pays `row` principal first: it is not due yet and the loan
    pays ahead `principal_first`."""
    return order == PRINCIPAL_FIRST and on is not None and row.due_date > on


def allocate(
    installments: Sequence[InstallmentDue],
    amount: Decimal,
    *,
    on: date | None = None,
    order: str = IN_ORDER,
) -> list[AllocationLine]:
    """Spread `amount` over `installments`, oldest first, penalties → fees → interest →
    principal within each. With `order` principal_first, the installments not yet due on the
    payment's value date `on` are paid principal first: every such installment's principal
    (oldest first) before any of their other components (then oldest first, in the usual
    order). Installments left untouched get no line. Raises ValueError when the amount is not
    a positive number of cents or exceeds everything still owed."""
    _check_amount(amount)
    if order not in PREPAYMENT_ORDERS:
        raise ValueError(f"Unknown prepayment order {order!r}.")
    rows = oldest_first(installments)
    owed = total_remaining(rows)
    if amount > owed:
        raise ValueError(f"The amount {amount} is above the {owed} still owed.")
    # Each pass is (rows, components), taken in turn while money is left.
    due = [row for row in rows if not is_ahead(row, on, order)]
    ahead = [row for row in rows if is_ahead(row, on, order)]
    passes: list[tuple[list[InstallmentDue], tuple[str, ...]]] = [(due, COMPONENTS)]
    if ahead:
        rest = tuple(c for c in COMPONENTS if c != "principal")
        passes += [(ahead, ("principal",)), (ahead, rest)]
    left = amount
    taken: dict[int, dict[str, Decimal]] = {}
    for group, components in passes:
        for row in group:
            if left <= 0:
                break
            parts = taken.setdefault(row.id, {})
            for component in components:
                take = min(left, getattr(row, component))
                if take:
                    parts[component] = take
                    left -= take
    lines = [AllocationLine(installment_id=row.id, **taken.get(row.id, {})) for row in rows]
    return [line for line in lines if line.total > 0]


def apply(row: InstallmentDue, line: AllocationLine, sign: int = -1) -> InstallmentDue:
    """`row` after `line` is paid (sign -1) or given back (sign +1)."""
    return replace(row, **{c: getattr(row, c) + sign * getattr(line, c) for c in COMPONENTS})


@dataclass(frozen=True)
class ScheduledInstallment:
    """One installment as the payoff quote needs it: its scheduled principal and interest
    (net of earlier waivers) beside what is still owed."""

    due: InstallmentDue
    principal: Decimal
    interest: Decimal
    # Its `installment` fees (`lending.charges.installment_fees`): what it owes for being an
    # installment, forgiven (what is unpaid of it) when it is not due by the payoff date.
    installment_fees: Decimal = ZERO


@dataclass(frozen=True)
class Payoff:
    """The cost of settling a loan on `on`, with its breakdown.

    `total == past_due + principal_not_due + accrued_interest + penalties_and_fees
    - interest_credited`, and `total == everything still owed - interest_waived
    - fees_waived`.
    """

    on: date
    past_due: Decimal  # principal and interest of installments due on or before `on`
    principal_not_due: Decimal
    accrued_interest: Decimal  # current period, day by day up to `on`, net of what is paid
    penalties_and_fees: Decimal  # unpaid, less the installment fees settling forgives
    interest_waived: Decimal  # scheduled interest that settling on `on` forgives (paid or not)
    period_start: date | None = None  # the current period, if `on` falls inside the schedule
    period_end: date | None = None
    waivers: dict[int, Decimal] = field(default_factory=dict)  # installment id → interest
    # Interest paid ahead on installments due after `on`, beyond what was earned by `on`:
    # given back (it pays the rest of what is owed).
    interest_credited: Decimal = ZERO
    credits: dict[int, Decimal] = field(default_factory=dict)  # installment id → interest
    # The unpaid installment fees of installments due after `on`: forgiven, as their interest.
    fees_waived: Decimal = ZERO
    fee_waivers: dict[int, Decimal] = field(default_factory=dict)  # installment id → fees

    @property
    def total(self) -> Decimal:
        return (
            self.past_due
            + self.principal_not_due
            + self.accrued_interest
            + self.penalties_and_fees
            - self.interest_credited
        )


def payoff(
    *,
    schedule: Sequence[ScheduledInstallment],
    on: date,
    disbursement_date: date,
    annual_rate: Decimal,
    days_in_year: int,
    flat: bool = False,
    principal: Decimal | None = None,
) -> Payoff:
    """What settling on `on` costs. `schedule` is every installment of the loan (paid ones
    too: their scheduled principal is part of the balance the current period's interest runs
    on, and the interest they paid ahead is credited).

    The current period is that of the first installment due after `on`; its interest accrues
    on the scheduled balance at the period's start (on the original `principal` for flat
    loans, whose interest ignores the balance), never more than the installment's own
    scheduled interest. Of each installment due after `on`, the interest earned by `on` (the
    accrued interest of the current one, none of a later one) is kept and the rest of its
    scheduled interest waived; what it paid beyond the interest it keeps is credited. Its
    installment fees are waived too (what is unpaid of them: at most its unpaid fees), so
    settling early owes the fees of the installments due by `on`, the loan's other fees and
    the penalties charged, never the per-installment fee of one not due yet.
    """
    if on < disbursement_date:
        raise ValueError("The payoff date cannot be before the disbursement date.")
    rows = sorted(schedule, key=lambda s: (s.due.due_date, s.due.number))
    past_due = principal_not_due = accrued_due = penalties_and_fees = ZERO
    waivers: dict[int, Decimal] = {}
    credits: dict[int, Decimal] = {}
    fee_waivers: dict[int, Decimal] = {}
    period_start: date | None = None
    period_end: date | None = None
    previous_due = disbursement_date
    current_seen = False
    for index, row in enumerate(rows):
        due = row.due
        penalties_and_fees += due.penalties + due.fees
        if due.due_date <= on:
            past_due += due.principal + due.interest
            previous_due = due.due_date
            continue
        principal_not_due += due.principal
        fee_waived = min(row.installment_fees, due.fees)
        if fee_waived > 0:
            fee_waivers[due.id] = fee_waived
            penalties_and_fees -= fee_waived
        earned = ZERO
        if not current_seen:
            current_seen = True
            period_start, period_end = previous_due, due.due_date
            if flat and principal is not None:
                balance = principal
            else:
                balance = sum((r.principal for r in rows[index:]), ZERO)
            earned = min(
                daily_interest(balance, annual_rate, previous_due, on, days_in_year),
                row.interest,
            )
        already_paid = row.interest - due.interest
        accrued_due += max(earned - already_paid, ZERO)
        if already_paid > earned:
            credits[due.id] = already_paid - earned
        waive = row.interest - earned
        if waive > 0:
            waivers[due.id] = waive
    return Payoff(
        on=on,
        past_due=past_due,
        principal_not_due=principal_not_due,
        accrued_interest=accrued_due,
        penalties_and_fees=penalties_and_fees,
        interest_waived=sum(waivers.values(), ZERO),
        period_start=period_start,
        period_end=period_end,
        waivers=waivers,
        interest_credited=sum(credits.values(), ZERO),
        credits=credits,
        fees_waived=sum(fee_waivers.values(), ZERO),
        fee_waivers=fee_waivers,
    )
