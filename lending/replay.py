"""A loan's state, defined as the replay of its transactions in value-date order.

Plain Python (no Django), beside `lending.schedule` and `lending.allocation`: the schedule
and the loan's non-reversed transactions go in, the state of every installment, the split of
every transaction and the loan's totals come out (DESIGN.md, "Loan ledger"). This is the one
definition of a loan's state:

- posting in date order applies one transaction to the stored state (`Book.apply`), the
  common and fast case;
- a reversal or a backdated posting replays every transaction (`replay`) and the services
  store whatever split changed.

Both go through `Book.apply`, so the incremental path gives what a replay gives by
construction (and a property test checks it on the stored rows).

Order: by value date; on one date, what staff booked comes before what the daily close booked
for that day (its penalty charges and accruals count at the end of the day, after every
payment of the day), then by booking order.

Penalties follow the replay (`PenaltyRule`, `Penalties`): the daily close and the replay
decide an installment's late penalties by one rule. An installment still owing more than the
loan's arrears tolerance at the end of a penalty day (due date + grace days + 1, then every
`repeat_days` days up to `max_times` times; a day before the first day the close ever ran
falls on that day) owes a penalty for that day, charged as of that day; one paid by then owes
none. When the services replay a loan after a reversal or a backdated posting, each penalty
day is decided again: a close's charge already booked stays where it is, one missing is
charged as of its day (if the close has run for it), and one the replay shows paid in time, or
whose day is no longer a penalty day of its installment (its due date was moved off a day off,
`lending.services.calendar.loans_reschedule`), is taken back.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from enum import StrEnum

from lending import allocation

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
COMPONENTS = allocation.COMPONENTS  # penalties, fees, interest, principal: the order paid


class Kind(StrEnum):
    DISBURSEMENT = "disbursement"
    REPAYMENT = "repayment"
    RECOVERY = "recovery"
    CHARGE = "charge"
    WAIVER = "waiver"
    WRITE_OFF = "write_off"
    ACCRUAL = "accrual"
    CREDIT = "interest_credit"  # an early settlement gives back interest paid ahead


@dataclass(frozen=True)
class Parts:
    """An amount split by component."""

    principal: Decimal = ZERO
    interest: Decimal = ZERO
    fees: Decimal = ZERO
    penalties: Decimal = ZERO

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees + self.penalties

    # Spelt out field by field: a replay of hundreds of transactions does this a few
    # hundred thousand times.
    def __add__(self, other: Parts) -> Parts:
        return Parts(
            self.principal + other.principal,
            self.interest + other.interest,
            self.fees + other.fees,
            self.penalties + other.penalties,
        )

    def __sub__(self, other: Parts) -> Parts:
        return Parts(
            self.principal - other.principal,
            self.interest - other.interest,
            self.fees - other.fees,
            self.penalties - other.penalties,
        )

    def as_dict(self) -> dict[str, Decimal]:
        return {c: getattr(self, c) for c in _PARTS}


_PARTS = ("principal", "interest", "fees", "penalties")  # Parts' field order


def parts_of(obj: object) -> Parts:
    """The four components of anything that has them as attributes (a row, a line)."""
    return Parts(*(getattr(obj, c) for c in _PARTS))


@dataclass(frozen=True)
class Line:
    """What one transaction did to one installment: paid, charged, waived or written off."""

    installment_id: int
    parts: Parts


@dataclass(frozen=True)
class Txn:
    """A loan transaction as the replay needs it.

    `lines` are the given effect of a charge or a waiver (what it adds or forgives, per
    installment); the lines of a repayment or a write-off are worked out by the replay.
    `end_of_day` marks what the daily close booked (it counts after the day's payments);
    `penalty` marks a close's late-penalty charge, which the penalty rule may take back.
    A disbursement's split is its principal, and in `fees` what was `deducted` from the money
    handed over (a fee paid at once: no installment owes it).
    `reserved` marks an Admin's waiver (`lending.services.waivers`): what it waives is set
    aside from the start of a replay, so a payment backdated before it never pays it.
    """

    id: int
    kind: Kind
    value_date: date
    amount: Decimal
    lines: tuple[Line, ...] = ()
    end_of_day: bool = False
    penalty: bool = False
    deducted: Decimal = ZERO  # a disbursement: the fees taken from the money handed over
    reserved: bool = False  # an Admin's waiver: no payment dated before it pays what it waives

    @property
    def sort_key(self) -> tuple[date, bool, int]:
        return (self.value_date, self.end_of_day, self.id)


@dataclass(frozen=True)
class ScheduleRow:
    """One installment as scheduled, before any transaction."""

    id: int
    number: int
    due_date: date
    principal: Decimal
    interest: Decimal
    fees: Decimal = ZERO


@dataclass
class Row:
    """One installment's running state: what it owes (scheduled + charged), has paid and has
    had waived, per component; `paid_on` is the day it was paid in full."""

    id: int
    number: int
    due_date: date
    due: Parts
    paid: Parts = Parts()
    waived: Parts = Parts()
    paid_on: date | None = None
    penalised_on: date | None = None  # the day its latest late penalty was charged
    penalties_charged: int = 0  # how many late penalties it has had

    @property
    def remaining(self) -> Parts:
        return self.due - self.paid - self.waived

    @property
    def is_paid(self) -> bool:
        return self.due.total - self.paid.total - self.waived.total == 0  # remaining.total

    def owed(self) -> allocation.InstallmentDue:
        left = self.remaining
        return allocation.InstallmentDue(
            id=self.id, number=self.number, due_date=self.due_date, **left.as_dict()
        )


@dataclass(frozen=True)
class Effect:
    """What applying one transaction did: its split (in total and per installment), any
    money above what was owed, and what the loan still owed afterwards."""

    split: Parts
    lines: tuple[Line, ...]
    overpaid: Decimal
    outstanding_after: Decimal


@dataclass
class Book:
    """A loan's state: its installments (oldest first) and totals.

    `outstanding == total_repayable - total_waived - total_paid`, never negative; money paid
    above that is `overpaid` (a credit the institution owes the borrower).
    """

    rows: list[Row]
    total_repayable: Decimal = ZERO
    total_paid: Decimal = ZERO
    total_waived: Decimal = ZERO
    overpaid: Decimal = ZERO
    written_off: Decimal = ZERO
    recovered: Decimal = ZERO
    closed_on: date | None = None
    order: str = allocation.IN_ORDER  # the loan's prepayment order (`allocation.allocate`)
    # What later Admin waivers will forgive, per installment: no payment before them pays it.
    reserved: dict[int, Parts] = field(default_factory=dict)
    _by_id: dict[int, Row] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.rows.sort(key=lambda r: (r.due_date, r.number))
        self._by_id = {row.id: row for row in self.rows}

    @classmethod
    def open(
        cls, schedule: Iterable[ScheduleRow], disbursed_on: date, order: str = allocation.IN_ORDER
    ) -> Book:
        """The state right after disbursement. A 0.00 row (coarse rounding can end a schedule
        with some) owes nothing, so it is paid from the start."""
        rows = [
            Row(
                id=s.id,
                number=s.number,
                due_date=s.due_date,
                due=Parts(s.principal, s.interest, s.fees),
            )
            for s in schedule
        ]
        for row in rows:
            if row.due.total == 0:
                row.paid_on = disbursed_on
        return cls(rows=rows, total_repayable=sum((r.due.total for r in rows), ZERO), order=order)

    @property
    def outstanding(self) -> Decimal:
        return self.total_repayable - self.total_waived - self.total_paid

    def row(self, installment_id: int) -> Row:
        return self._by_id[installment_id]

    def days_past_due(self, as_of: date, tolerance: Decimal = ZERO) -> int:
        """Days since the oldest installment owing more than the arrears `tolerance` fell due
        (0 when none has)."""
        for row in self.rows:
            if row.remaining.total > tolerance:
                return max((as_of - row.due_date).days, 0)
        return 0

    def apply(self, txn: Txn) -> Effect:
        """Apply one transaction, in order, and say what it did."""
        overpaid = ZERO
        if txn.kind in (Kind.REPAYMENT,):
            lines, overpaid = self._pay(txn)
        elif txn.kind is Kind.CREDIT:
            lines, overpaid = self._credit(txn)
        elif txn.kind is Kind.CHARGE:
            lines = self._charge(txn)
        elif txn.kind is Kind.WAIVER:
            lines = self._waive(txn)
        elif txn.kind is Kind.WRITE_OFF:
            lines = tuple(Line(r.id, r.remaining) for r in self.rows if not r.is_paid)
            self.written_off = sum((line.parts.total for line in lines), ZERO)
        elif txn.kind is Kind.RECOVERY:
            lines = ()
            self.recovered += txn.amount
        elif txn.kind is Kind.DISBURSEMENT:
            split = Parts(principal=txn.amount, fees=txn.deducted)
            return Effect(split, (), ZERO, self.outstanding)
        elif txn.kind is Kind.ACCRUAL:
            return Effect(Parts(interest=txn.amount), (), ZERO, self.outstanding)
        else:  # pragma: no cover - a new kind must be taught to the replay
            raise ValueError(f"Unknown transaction kind {txn.kind!r}")
        self._mark_paid(txn.value_date)
        split = sum((line.parts for line in lines), Parts())
        if txn.kind is not Kind.WRITE_OFF:
            self.closed_on = txn.value_date if self.outstanding == 0 else None
        return Effect(split, lines, overpaid, self.outstanding)

    def _pay(self, txn: Txn) -> tuple[tuple[Line, ...], Decimal]:
        # Money goes to the oldest installments first: only those it can reach are read (paid
        # principal first, an installment not yet due is reached by its principal).
        owed: list[allocation.InstallmentDue] = []
        reach = total = ZERO
        on, order = txn.value_date, self.order
        for row in self.rows:
            if reach >= txn.amount:
                break
            if not row.is_paid:
                due = self._payable(row)
                if due.total <= 0:
                    continue
                owed.append(due)
                total += due.total
                ahead = allocation.is_ahead(due, on, order)
                reach += due.principal if ahead else due.total
        payable = min(txn.amount, total)
        lines = allocation.allocate(owed, payable, on=on, order=order) if payable > 0 else []
        result = []
        for line in lines:
            parts = parts_of(line)
            self._by_id[line.installment_id].paid += parts
            result.append(Line(line.installment_id, parts))
        self.total_paid += payable
        extra = txn.amount - payable
        self.overpaid += extra
        return tuple(result), extra

    def _payable(self, row: Row) -> allocation.InstallmentDue:
        """What a payment may take of a row: its remaining, less what a later Admin waiver
        forgives (never below zero: a penalty it waives may not be charged yet)."""
        set_aside = self.reserved.get(row.id)
        if set_aside is None:
            return row.owed()
        left = row.remaining
        return allocation.InstallmentDue(
            id=row.id,
            number=row.number,
            due_date=row.due_date,
            **{c: max(getattr(left, c) - getattr(set_aside, c), ZERO) for c in _PARTS},
        )

    def reserve(self, txn: Txn) -> None:
        """Set aside what a (later) Admin waiver forgives, before anything is applied."""
        for line in txn.lines:
            self.reserved[line.installment_id] = (
                self.reserved.get(line.installment_id, Parts()) + line.parts
            )

    def _credit(self, txn: Txn) -> tuple[tuple[Line, ...], Decimal]:
        """An early settlement's interest credit, booked right after its waiver: interest an
        installment has paid beyond what it still bears once the waiver forgave the interest
        not earned by the settlement date (interest paid ahead) is taken off its interest
        paid and pays what the loan still owes instead, as a payment on that date would
        (anything left over is overpaid, owed to the borrower). Worked out from the state, so
        a replay after an earlier payment is reversed credits what is then paid ahead."""
        moved: dict[int, Parts] = {}
        credit = ZERO
        for row in self.rows:
            excess = row.paid.interest + row.waived.interest - row.due.interest
            if excess > 0:
                back = Parts(interest=-excess)
                row.paid += back
                moved[row.id] = back
                credit += excess
        if credit == 0:
            return (), ZERO
        # As a payment: never what a later Admin waiver forgives.
        owed = [due for row in self.rows if not row.is_paid and (due := self._payable(row)).total]
        payable = min(credit, sum((o.total for o in owed), ZERO))
        if payable > 0:
            on, order = txn.value_date, self.order
            for line in allocation.allocate(owed, payable, on=on, order=order):
                parts = parts_of(line)
                self._by_id[line.installment_id].paid += parts
                moved[line.installment_id] = moved.get(line.installment_id, Parts()) + parts
        extra = credit - payable
        self.total_paid -= extra
        self.overpaid += extra
        return tuple(Line(r.id, moved[r.id]) for r in self.rows if r.id in moved), extra

    def _charge(self, txn: Txn) -> tuple[Line, ...]:
        for line in txn.lines:
            row = self._by_id[line.installment_id]
            row.due += line.parts
            self.total_repayable += line.parts.total
            if not row.is_paid:
                row.paid_on = None
            if txn.penalty:
                row.penalised_on = txn.value_date
                row.penalties_charged += 1
        return txn.lines

    def _waive(self, txn: Txn) -> tuple[Line, ...]:
        """Waived fees and penalties are taken off what the installment owes (the stored
        installment keeps them net of waivers, as if never charged); waived interest (and
        principal) stays scheduled and counts as waived."""
        for line in txn.lines:
            row = self._by_id[line.installment_id]
            charges = Parts(fees=line.parts.fees, penalties=line.parts.penalties)
            rest = line.parts - charges
            row.due -= charges
            row.waived += rest
            self.total_repayable -= charges.total
            self.total_waived += rest.total
            if txn.reserved and line.installment_id in self.reserved:
                self.reserved[line.installment_id] -= line.parts
        return txn.lines

    def _mark_paid(self, on: date) -> None:
        for row in self.rows:
            if row.paid_on is None and row.is_paid:
                row.paid_on = on


@dataclass(frozen=True)
class PenaltyRule:
    """The late penalty of a loan (its frozen copy of the product's rule): a flat amount, or a
    percent of the installment's **unpaid** principal + interest, charged when the installment
    still owes more than `tolerance` at the end of a penalty day. The first penalty day is
    `grace_days` + 1 after the due date; with `repeat_days` > 0 it comes back every
    `repeat_days` days, `max_times` times at most."""

    flat: Decimal = ZERO
    percent: Decimal = ZERO
    grace_days: int = 0
    repeat_days: int = 0
    max_times: int = 1
    tolerance: Decimal = ZERO  # the loan's arrears tolerance

    @property
    def times(self) -> int:
        return 1 if self.repeat_days <= 0 else max(self.max_times, 1)

    def days(self, due_date: date) -> list[date]:
        """The installment's penalty days, as the rule alone places them."""
        first = due_date + timedelta(days=self.grace_days + 1)
        return [first + timedelta(days=k * self.repeat_days) for k in range(self.times)]

    def owes(self, row: Row) -> bool:
        """Whether the installment is late enough to be penalised: it owes more than the
        arrears tolerance (so 0.01 short with a tolerance of 0.05 draws nothing)."""
        return row.remaining.total > self.tolerance

    def amount(self, row: Row) -> Decimal:
        if self.flat > 0:
            return self.flat.quantize(CENT)
        left = row.remaining
        base = left.principal + left.interest
        return max(base * self.percent / 100, ZERO).quantize(CENT, rounding=ROUND_HALF_EVEN)


def penalty_days(rule: PenaltyRule, due_date: date, since: date | None) -> list[date]:
    """The days an installment's penalties are decided. Penalties began on `since` (the first
    day the daily close ever closed): penalty days before it fall on it, once."""
    days = rule.days(due_date)
    if since is None:
        return days
    return sorted({max(day, since) for day in days})


@dataclass(frozen=True)
class Penalties:
    """How to decide penalties in a replay: the rule, the last day the daily close has run
    (no penalty is charged for a later day: the close will do it) and the first (penalties
    began then: an installment late before it is decided on that day)."""

    rule: PenaltyRule
    closed_through: date
    since: date | None = None
    open_from: date | None = None  # the first day the books are open: earlier ones are final

    def days(self, row: Row) -> list[date]:
        """The days an installment's penalties are decided: at the end of each, late owes."""
        return penalty_days(self.rule, row.due_date, self.since)

    def decides(self, day: date) -> bool:
        """Whether this replay decides a penalty day: it has been closed and its books are
        still open (a penalty in closed books, or its absence, is final)."""
        return day <= self.closed_through and (self.open_from is None or day >= self.open_from)


@dataclass
class Replayed:
    """The result of a replay: the final state, each transaction's effect, and (when a
    penalty rule was given) the penalty charges to add and the ones to take back."""

    book: Book
    effects: dict[int, Effect]
    penalties_added: list[Txn] = field(default_factory=list)
    penalties_taken_back: list[int] = field(default_factory=list)


NEW_ID = 2**62  # sorts a transaction not yet stored after every stored one


def replay(
    schedule: Sequence[ScheduleRow],
    disbursed_on: date,
    txns: Iterable[Txn],
    *,
    penalties: Penalties | None = None,
    order: str = allocation.IN_ORDER,
) -> Replayed:
    """Replay `txns` (the non-reversed transactions) over `schedule` in order, money paid
    ahead spread by the loan's prepayment `order`. Without
    `penalties`, charges are applied as booked; with it, late penalties are decided again
    (see the module docstring), and the charges to add carry ids from NEW_ID + 1 up."""
    book = Book.open(schedule, disbursed_on, order)
    ordered = sorted(txns, key=lambda t: t.sort_key)
    result = Replayed(book=book, effects={})
    # An Admin's waiver is set aside from the start, and the penalties it waives stay charged.
    waived_until: dict[int, date] = {}
    for txn in ordered:
        if txn.kind is Kind.WAIVER and txn.reserved:
            book.reserve(txn)
            for line in txn.lines:
                if line.parts.penalties > 0:
                    last = waived_until.get(line.installment_id)
                    if last is None or txn.value_date > last:
                        waived_until[line.installment_id] = txn.value_date
    if penalties is None:
        for txn in ordered:
            result.effects[txn.id] = book.apply(txn)
        return result

    rule = penalties.rule
    # Each (installment, penalty day) is decided once: owes or not at the end of that day.
    due_on: dict[date, list[Row]] = {}
    for row in book.rows:
        if row.due.total > 0:
            for day in penalties.days(row):
                if penalties.decides(day):
                    due_on.setdefault(day, []).append(row)
    charged = {(t.lines[0].installment_id, t.value_date) for t in ordered if t.penalty and t.lines}
    owes: dict[tuple[int, date], bool] = {}
    days = sorted({t.value_date for t in ordered} | set(due_on))
    by_day: dict[date, list[Txn]] = {}
    for txn in ordered:
        by_day.setdefault(txn.value_date, []).append(txn)
    next_id = NEW_ID
    for day in days:
        todays = by_day.get(day, [])
        for txn in todays:
            if not txn.end_of_day:
                result.effects[txn.id] = book.apply(txn)
        if book.written_off:
            for txn in todays:
                if txn.end_of_day:
                    result.effects[txn.id] = book.apply(txn)
            continue
        for row in due_on.get(day, ()):
            owes.setdefault((row.id, day), rule.owes(row))
        for txn in todays:
            if not txn.end_of_day:
                continue
            if txn.penalty and txn.lines and penalties.decides(day):
                row = book.row(txn.lines[0].installment_id)
                # A due date moved since (rescheduled off a day off) can leave a penalty on a
                # day that is no longer one of the installment's penalty days: taken back.
                keep = day in penalties.days(row) and owes.setdefault((row.id, day), rule.owes(row))
                if not keep and waived_until.get(row.id, day - timedelta(days=1)) >= day:
                    keep = True  # waived since: never taken back (nor charged again)
                if not keep:
                    result.penalties_taken_back.append(txn.id)
                    continue
            result.effects[txn.id] = book.apply(txn)
        for row in due_on.get(day, ()):
            key = (row.id, day)
            if owes.get(key) and key not in charged:
                amount = rule.amount(row)
                if amount <= 0:
                    continue
                next_id += 1
                txn = Txn(
                    id=next_id,
                    kind=Kind.CHARGE,
                    value_date=day,
                    amount=amount,
                    lines=(Line(row.id, Parts(penalties=amount)),),
                    end_of_day=True,
                    penalty=True,
                )
                charged.add(key)
                result.penalties_added.append(txn)
                result.effects[txn.id] = book.apply(txn)
    return result


def incremental_from(txns: Iterable[Txn]) -> date | None:
    """The first value date a new posting can have and still be applied in order: on or after
    the last day anything was booked for, and after the last day the close booked for."""
    last: date | None = None
    for txn in txns:
        day = txn.value_date + timedelta(days=1) if txn.end_of_day else txn.value_date
        last = day if last is None or day > last else last
    return last


def interest_earned(rows: Iterable[Row], disbursed_on: date, on: date) -> Decimal:
    """Interest earned through the end of `on`, day by day (accrual basis): each installment's
    interest (less what was waived) accrues evenly over its period, from the previous due
    date (the disbursement for the first) to its own, rounded to cents per installment."""
    total = ZERO
    start = disbursed_on
    for row in sorted(rows, key=lambda r: (r.due_date, r.number)):
        interest = row.due.interest - row.waived.interest
        days = (row.due_date - start).days
        if on >= row.due_date or days <= 0:
            total += interest if on >= row.due_date else ZERO
        elif on > start:
            total += (interest * (on - start).days / days).quantize(CENT, rounding=ROUND_HALF_EVEN)
        start = row.due_date
    return total
