"""A large demo portfolio in bulk (`manage.py seed_demo --loans 100000`), for scale tests.

The small demo (`lending.demo.seed_portfolio`) goes through the services one loan at a time;
at 100,000 loans and millions of installments that would take hours, so this builder computes
the same history in memory and writes it with bulk inserts (PostgreSQL: `COPY`; other
databases: batched `executemany`). The numbers come from the same rules as the services:

- schedules from `lending.schedule.build_schedule` (through `LoanTerms`, as `loan_approve`);
- every loan's history is played through `lending.replay.Book.apply`, the rule the services
  book with: the disbursement, each payment (spread over the unpaid installments, oldest
  first), early settlements (priced by `lending.allocation.payoff`: a `waiver` transaction of
  the unearned interest, then the payment, as `loan_settle`) and write-offs (everything
  left, at the end of a day after the last payment, as `loan_write_off`). Installment state,
  each transaction's split and `outstanding_after`, the loan totals and
  `Loan.incremental_from` are what the replay gives, so `replay_differences` finds nothing;
- the ledger: one `LoanTransaction` per event with its `Allocation` rows; a payment taken
  back (posted twice by mistake) is a reversed repayment with a void receipt; each
  transaction's journal entry follows `lending.journal.postings` (cash basis, the products'
  accounts from `ProductAccount`), and a reversed payment also has its mirror entry;
- `days_past_due` and the status (`closed` exactly when the outstanding is zero) follow the
  services' definitions;
- the history is in order: a borrower is registered before their first application (and
  numbered in order of registration), an application is decided on a later day than it was
  submitted, payments fall on or after the disbursement, and nothing is stamped after now;
- borrower, loan and receipt numbers continue the `NumberSequence` counters (`borrower`,
  `loan:YEAR`, `receipt:YEAR`), which are left at the highest number used, so the services
  continue gaplessly afterwards. Receipt numbers are gapless per year but follow the order in
  which loans are generated, not strictly the order of the payment dates.

What it leaves out on purpose: audit entries for the generated history (approvals, postings,
settlements, closures). The audit log is a hash chain written only by
`lending.audit.audit_record`; this builder writes no audit rows, so the chain stays valid.
Late penalties are not seeded either: `manage.py close_day` charges them (as charge
transactions) on the overdue installments.

On PostgreSQL the journal lines' per-row balance trigger is switched off for the load (inside
its transaction) and every new entry is checked by one grouped query instead. Measured at
10,000 loans (315,000 journal lines): the deferred checks took 4.5-5.5 s instead of 9.5 s,
the whole load 28-36 s against 37 s with the trigger kept (a noisy 2-CPU VM: a small gain).

Generated ids are taken above the current maximum and the tables' id sequences are reset
afterwards, so run it while nothing else writes to the database (it is a seeding command).
`manage.py check_money` verifies the result.
"""

from __future__ import annotations

import random
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from datetime import time as clock
from decimal import Decimal
from typing import Any, Protocol, cast

from django.contrib.auth import get_user_model
from django.core.management.color import no_style
from django.db import DatabaseError, connection, models, transaction
from django.db.models import Max, Q
from django.utils import timezone

from accounts.head_office import HEAD_OFFICE_ID
from accounts.models import UserOffice
from accounts.roles import LOAN_OFFICER
from ledger.models import JournalEntry, JournalLine
from lending import allocation
from lending.allocation import InstallmentDue
from lending.journal import CASH, postings
from lending.models import (
    FROZEN_TERMS,
    Allocation,
    Borrower,
    Installment,
    Loan,
    LoanProduct,
    LoanTransaction,
    NumberSequence,
    ProductAccount,
    Receipt,
    Repayment,
)
from lending.receivers import forget_portfolio
from lending.replay import (
    Book,
    Effect,
    Kind,
    Line,
    Parts,
    Row,
    ScheduleRow,
    Txn,
    incremental_from,
    parts_of,
)
from lending.schedule import LoanTerms, build_schedule
from lending.services.loans import DISBURSEMENT_METHOD
from lending.services.transactions import status_of

ZERO = Decimal("0.00")
CENT = Decimal("0.01")
BATCH_ROWS = 20_000
PAID = Installment.Status.PAID
KIND_LABELS = {k: k.value.replace("_", " ").capitalize() for k in Kind}  # get_kind_display()
BALANCE_TRIGGER = "ledger_journalline_balanced"


class Writer(Protocol):
    def write(self, msg: str = "", style_func: Any = None, ending: str | None = None) -> None: ...


@dataclass(frozen=True)
class ProductSpec:
    """A demo product: its stored settings and the range its loans are drawn from."""

    name: str
    weight: int
    months: tuple[int, ...]
    principal: tuple[int, int]  # whole hundreds drawn between these
    rates: tuple[str, ...]
    settings: dict[str, Any]


PRODUCTS: tuple[ProductSpec, ...] = (
    ProductSpec(
        "Micro business",
        30,
        (3, 6, 9, 12, 18, 24),
        (300, 5000),
        ("18", "21", "24", "27.5"),
        {
            "penalty_type": "flat",
            "penalty_amount": Decimal("5.00"),
            "penalty_grace_days": 3,
            "penalty_repeat_days": 7,
            "penalty_max_times": 4,
            "arrears_tolerance": Decimal("0.50"),
        },
    ),
    ProductSpec(
        "Salary advance",
        15,
        (3, 4, 6, 9, 12),
        (200, 3000),
        ("24", "30"),
        {
            "interest_method": "flat",
            "installment_multiple": Decimal("1"),
            "penalty_type": "percent",
            "penalty_rate": Decimal("2"),
            "penalty_grace_days": 5,
            "penalty_repeat_days": 30,
            "penalty_max_times": 3,
        },
    ),
    ProductSpec(
        "SME growth",
        15,
        (12, 24, 36, 48, 60),
        (5000, 50000),
        ("12", "14", "16.5"),
        {"amortization": "equal_principal"},
    ),
    ProductSpec(
        "Group savings (biweekly)",
        15,
        (6, 12, 18, 24),
        (300, 4000),
        ("20", "22"),
        {"frequency": "biweekly", "penalty_type": "flat", "penalty_amount": Decimal("2.00")},
    ),
    ProductSpec(
        "Market traders (weekly)",
        10,
        (3, 4, 6),
        (100, 1500),
        ("26", "32"),
        {"frequency": "weekly", "interest_method": "flat", "installment_rounding": "up"},
    ),
    ProductSpec(
        "Agriculture season",
        8,
        (6, 9, 12, 18),
        (500, 8000),
        ("15", "18"),
        {"grace_periods": 2},
    ),
    ProductSpec(
        "Asset finance",
        7,
        (24, 36, 48, 60),
        (2000, 30000),
        ("10", "13.5"),
        {"interest_period": "daily", "days_in_year": 360},
    ),
)
_PERIODS_PER_MONTH = {"monthly": 1.0, "biweekly": 26 / 12, "weekly": 52 / 12}

# Status mix of the generated loans (weights) and payment behaviour of disbursed ones.
STATUS_WEIGHTS = {
    "pending": 4,
    "rejected": 3,
    "withdrawn": 2,
    "active": 62,
    "closed": 21,
    "settled": 3,
    "written_off": 5,
}
PROFILE_WEIGHTS = {"good": 60, "late": 14, "partial": 10, "defaulter": 11, "ahead": 5}
REVERSAL_SHARE = 0.03  # active loans with one mistaken payment that was reversed


def _words(text: str) -> list[str]:
    return text.split()


FIRST_NAMES = _words(
    "Ama Kofi Kwame Abena Yaw Akosua Esi Kojo Adwoa Kwesi Nana Efua Amina Musa Fatima Ibrahim "
    "Grace Peter Mary John Joseph Ruth Daniel Esther Samuel Sarah David Agnes Moses Alice "
    "Wanjiru Otieno Achieng Mwangi Njeri Kamau Chipo Tendai Thandiwe Sipho Zanele Lerato "
    "Tumelo"
)
LAST_NAMES = _words(
    "Mensah Owusu Boateng Asante Osei Banda Phiri Mwale Tembo Zulu Dlamini Nkosi Okafor "
    "Adeyemi Balogun Okonkwo Mutua Kariuki Odhiambo Wafula Njoroge Moyo Ncube Sibanda Dube "
    "Ndlovu Chanda Mulenga Bwalya Kabwe Lungu Sakala Nyirenda Chirwa Kachingwe Gondwe"
)
EMPLOYERS = ("", "", "Self-employed", "Market stall", "County office", "School", "Clinic")
METHODS = ("cash", "cash", "cash", "mobile_money", "mobile_money", "bank_transfer", "cheque")
PURPOSES = ("Stock", "School fees", "Equipment", "Seeds and fertiliser", "Rent", "Motorbike")


@dataclass
class BulkResult:
    """What one run wrote, for the summary line and the benchmark."""

    borrowers: int = 0
    loans: int = 0
    installments: int = 0
    repayments: int = 0
    allocations: int = 0
    receipts: int = 0
    transactions: int = 0
    journal_entries: int = 0
    journal_lines: int = 0
    seconds: float = 0.0
    by_status: dict[str, int] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return (
            self.borrowers
            + self.loans
            + self.installments
            + self.repayments
            + self.allocations
            + self.receipts
            + self.transactions
            + self.journal_entries
            + self.journal_lines
        )

    @property
    def rows_per_second(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


# --- writing rows ---------------------------------------------------------------------------


class _Table:
    """Buffered rows for one model, written with COPY (PostgreSQL) or executemany."""

    def __init__(self, model: type[models.Model], attnames: Sequence[str]) -> None:
        opts = model._meta
        self.model = model
        self.fields: list[models.Field[Any, Any]] = [
            cast("models.Field[Any, Any]", opts.get_field(name)) for name in attnames
        ]
        # Columns not written explicitly get their model default (a column added to the model
        # later is filled as the ORM would fill it).
        listed = set(attnames)
        extra = [
            cast("models.Field[Any, Any]", f)
            for f in opts.concrete_fields
            if f.attname not in listed and not f.primary_key and f.has_default()
        ]
        self.fields += extra
        self.defaults = tuple(f.get_default() for f in extra)
        self.columns = [str(f.column) for f in self.fields]
        self.table = str(opts.db_table)
        self.rows: list[tuple[Any, ...]] = []
        self.count = 0

    def add(self, row: tuple[Any, ...]) -> None:
        self.rows.append(row + self.defaults if self.defaults else row)

    def flush(self) -> None:
        if not self.rows:
            return
        qn = connection.ops.quote_name
        cols = ", ".join(qn(c) for c in self.columns)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                raw = cursor.cursor  # the psycopg cursor, for COPY
                with raw.copy(f"COPY {qn(self.table)} ({cols}) FROM STDIN") as copy:
                    for row in self.rows:
                        copy.write_row(row)
            else:
                prep = [
                    [
                        f.get_db_prep_save(v, connection)
                        for f, v in zip(self.fields, row, strict=True)
                    ]
                    for row in self.rows
                ]
                marks = ", ".join(["%s"] * len(self.columns))
                cursor.executemany(
                    f"INSERT INTO {qn(self.table)} ({cols}) VALUES ({marks})",  # noqa: S608
                    prep,
                )
        self.count += len(self.rows)
        self.rows = []


class _Ids:
    """Primary keys handed out above the table's current maximum (see the module note)."""

    def __init__(self, model: type[models.Model]) -> None:
        self.next = (model._default_manager.aggregate(m=Max("pk"))["m"] or 0) + 1

    def take(self) -> int:
        value = self.next
        self.next += 1
        return value


class _Counter:
    """A NumberSequence continued in memory and stored once at the end."""

    def __init__(self) -> None:
        self.values: dict[str, int] = {}

    def next(self, key: str) -> int:
        if key not in self.values:
            seq = NumberSequence.objects.filter(key=key).values_list("last_value", flat=True)
            self.values[key] = seq.first() or 0
        self.values[key] += 1
        return self.values[key]

    def save(self) -> None:
        for key, value in self.values.items():
            seq, _ = NumberSequence.objects.select_for_update().get_or_create(key=key)
            if value > seq.last_value:
                seq.last_value = value
                seq.save(update_fields=["last_value"])


# --- products and people --------------------------------------------------------------------


def _installments_for(spec: ProductSpec, months: int) -> int:
    frequency = spec.settings.get("frequency", "monthly")
    return max(1, round(months * _PERIODS_PER_MONTH[frequency]))


def ensure_products() -> list[tuple[ProductSpec, LoanProduct]]:
    """The demo products, created once with limits that fit the loans drawn from them."""
    out = []
    for spec in PRODUCTS:
        counts = [_installments_for(spec, m) for m in spec.months]
        rates = [Decimal(r) for r in spec.rates]
        defaults = {
            "min_principal": Decimal(spec.principal[0]),
            "max_principal": Decimal(spec.principal[1]),
            "min_interest_rate": min(rates),
            "max_interest_rate": max(rates),
            "default_interest_rate": rates[0],
            "min_installments": min(counts),
            "max_installments": max(counts),
            **spec.settings,
        }
        product, _ = LoanProduct.objects.get_or_create(name=spec.name, defaults=defaults)
        out.append((spec, product))
    return out


def _staff() -> tuple[Any, Any, Any]:
    """Officer, a second officer (four eyes) and the cashier the history is recorded by."""
    User = get_user_model()
    by_name = {u.username: u for u in User.objects.filter(is_active=True).order_by("id")}
    if not by_name:
        raise ValueError("No users: run `manage.py seed_demo --users-only` first.")
    anyone = next(iter(by_name.values()))
    officer = by_name.get("officer", anyone)
    officer2 = by_name.get("officer2") or next(
        (u for u in by_name.values() if u.pk != officer.pk), officer
    )
    cashier = by_name.get("accountant") or by_name.get("admin") or anyone
    return officer, officer2, cashier


def _at(day: date, rng: random.Random) -> datetime:
    """An office-hours moment on `day` in the institution's time zone (so a receipt's year is
    the local year of its posting, as `repayment_record` numbers it)."""
    moment = clock(8 + rng.randrange(9), rng.randrange(60))
    # Today's office hours may not have come yet: nothing is stamped in the future.
    return min(
        datetime.combine(day, moment, tzinfo=timezone.get_current_timezone()),
        timezone.localtime(),
    )


# --- one loan's history ---------------------------------------------------------------------


@dataclass
class _Payment:
    """A repayment document (its receipt), booked as one transaction (a settlement also as a
    waiver before it)."""

    id: int
    paid_on: date
    amount: Decimal
    outstanding_after: Decimal
    method: str
    settlement: bool = False
    reversed: bool = False
    recorded: datetime | None = None  # set when written
    reversed_at: datetime | None = None


@dataclass
class _Event:
    """One loan transaction as generated, with what `lending.replay.Book.apply` made of it
    (a reversed payment's effect is what it did when it was booked)."""

    id: int
    kind: Kind
    value_date: date
    amount: Decimal
    effect: Effect
    method: str = ""
    payment: _Payment | None = None
    end_of_day: bool = False

    @property
    def reversed(self) -> bool:
        return self.payment is not None and self.payment.reversed


class _Row(Row):
    """A replay row that keeps what it still owes until its amounts change: the replay asks
    every row for it on every posting (`Book._pay`, `Book._mark_paid`), which was four
    fifths of the seeding time. The rule is still `Book.apply`'s."""

    def __setattr__(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)
        if name in ("due", "paid", "waived"):
            self.__dict__.pop("_left", None)
            self.__dict__.pop("_owed", None)
            self.__dict__.pop("_is_paid", None)

    @property
    def remaining(self) -> Parts:
        left = self.__dict__.get("_left")
        if left is None:
            left = self.__dict__["_left"] = self.due - self.paid - self.waived
        return left

    @property
    def is_paid(self) -> bool:
        paid = self.__dict__.get("_is_paid")
        if paid is None:
            paid = self.__dict__["_is_paid"] = self.remaining.total == 0
        return paid

    def owed(self) -> InstallmentDue:
        due = self.__dict__.get("_owed")
        if due is None:
            due = self.__dict__["_owed"] = super().owed()
        return due


def _open_book(schedule: list[ScheduleRow], disbursed_on: date, order: str) -> Book:
    """`Book.open`, on caching rows."""
    book = Book.open(schedule, disbursed_on, order)
    rows: list[Row] = [
        _Row(r.id, r.number, r.due_date, r.due, r.paid, r.waived, r.paid_on) for r in book.rows
    ]
    return Book(rows=rows, total_repayable=book.total_repayable, order=order)


@dataclass
class _LoanState:
    """A disbursed loan being played forward through `lending.replay.Book`: the replay's own
    rule is the generator, so the stored history is, by construction, what a replay of its
    transactions gives (`replay_differences` finds nothing)."""

    ids: list[int]  # installment ids, in schedule order
    rows: list[Any]  # lending.schedule.ScheduledInstallment
    book: Book
    txn_ids: _Ids
    pay_ids: _Ids
    events: list[_Event] = field(default_factory=list)
    payments: list[_Payment] = field(default_factory=list)

    @property
    def outstanding(self) -> Decimal:
        return self.book.outstanding

    def unpaid(self) -> list[InstallmentDue]:
        # As `repayment_record`: the installments not fully paid, oldest first.
        return [row.owed() for row in self.book.rows if not row.is_paid]

    def post(
        self,
        kind: Kind,
        on: date,
        amount: Decimal,
        *,
        lines: tuple[Line, ...] = (),
        method: str = "",
        payment: _Payment | None = None,
        end_of_day: bool = False,
    ) -> _Event:
        """Apply one transaction in order (dates never go back within a loan, and ids grow,
        so this is the replay's order) and keep it."""
        pk = self.txn_ids.take()
        effect = self.book.apply(Txn(pk, kind, on, amount, lines, end_of_day))
        event = _Event(pk, kind, on, amount, effect, method, payment, end_of_day)
        self.events.append(event)
        return event

    def incremental_from(self) -> date | None:
        return incremental_from(
            Txn(e.id, e.kind, e.value_date, e.amount, end_of_day=e.end_of_day)
            for e in self.events
            if not e.reversed
        )


def _start_state(
    terms: LoanTerms, ids: _Ids, txn_ids: _Ids, pay_ids: _Ids, order: str
) -> _LoanState:
    schedule = build_schedule(terms)
    rows = list(schedule.installments)
    pks = [ids.take() for _ in rows]
    book = _open_book(
        [
            ScheduleRow(
                id=pk, number=r.number, due_date=r.due_date, principal=r.principal,
                interest=r.interest,
            )
            for pk, r in zip(pks, rows, strict=True)
        ],
        terms.disbursement_date,
        order,
    )  # fmt: skip
    state = _LoanState(ids=pks, rows=rows, book=book, txn_ids=txn_ids, pay_ids=pay_ids)
    state.post(
        Kind.DISBURSEMENT, terms.disbursement_date, terms.principal, method=DISBURSEMENT_METHOD
    )
    return state


def _pay(
    state: _LoanState,
    amount: Decimal,
    on: date,
    rng: random.Random,
    *,
    mistaken: bool = False,
) -> None:
    """Post `amount` (capped at what is owed) as `repayment_record` would; a mistaken payment
    is allocated and then reversed, so it leaves the installments as they were."""
    amount = min(amount, state.outstanding)
    if amount <= 0:
        return
    method = rng.choice(METHODS)
    payment = _Payment(state.pay_ids.take(), on, amount, ZERO, method, reversed=mistaken)
    if mistaken:
        lines = tuple(
            Line(x.installment_id, parts_of(x))
            for x in allocation.allocate(state.unpaid(), amount, on=on, order=state.book.order)
        )
        split = sum((line.parts for line in lines), Parts())
        payment.outstanding_after = state.outstanding - amount
        effect = Effect(split, lines, ZERO, payment.outstanding_after)
        state.events.append(
            _Event(state.txn_ids.take(), Kind.REPAYMENT, on, amount, effect, method, payment)
        )
    else:
        event = state.post(Kind.REPAYMENT, on, amount, method=method, payment=payment)
        payment.outstanding_after = event.effect.outstanding_after
    state.payments.append(payment)


def _settle(state: _LoanState, terms: LoanTerms, on: date, rng: random.Random) -> bool:
    """Early settlement as `loan_settle`: waive the unearned interest (a waiver transaction),
    then pay the payoff quote. Returns False (nothing done) when there is nothing but future
    interest to settle."""
    scheduled = []
    for pk, row in zip(state.ids, state.rows, strict=True):
        now = state.book.row(pk)
        scheduled.append(
            allocation.ScheduledInstallment(
                due=now.owed(), principal=row.principal, interest=row.interest - now.waived.interest
            )
        )
    quote = allocation.payoff(
        schedule=scheduled,
        on=on,
        disbursement_date=terms.disbursement_date,
        annual_rate=terms.annual_interest_rate,
        days_in_year=terms.days_in_year,
        flat=terms.interest_method == "flat",
        principal=terms.principal,
    )
    waivers = {pk: amount for pk, amount in quote.waivers.items() if amount}
    waived_total = sum(waivers.values(), ZERO)
    if quote.total <= 0 or quote.total != state.outstanding - waived_total:
        return False
    method = rng.choice(METHODS)
    payment = _Payment(state.pay_ids.take(), on, quote.total, ZERO, method, settlement=True)
    if waivers:
        lines = tuple(Line(pk, Parts(interest=amount)) for pk, amount in waivers.items())
        state.post(Kind.WAIVER, on, waived_total, lines=lines, payment=payment)
    if quote.interest_credited > 0:  # interest paid ahead, given back
        state.post(Kind.CREDIT, on, quote.interest_credited, payment=payment)
    event = state.post(Kind.REPAYMENT, on, quote.total, method=method, payment=payment)
    payment.outstanding_after = event.effect.outstanding_after
    state.payments.append(payment)
    return True


def _play(
    state: _LoanState,
    terms: LoanTerms,
    plan: str,
    today: date,
    rng: random.Random,
) -> date | None:
    """Generate the loan's payments for its plan; returns the settlement date, if any."""
    profile = rng.choices(list(PROFILE_WEIGHTS), weights=list(PROFILE_WEIGHTS.values()))[0]
    if plan in ("closed", "settled"):
        profile = rng.choice(("good", "good", "late", "ahead"))
    elif plan == "written_off":
        profile = "defaulter"
    disbursed = terms.disbursement_date
    due_rows = [row for row in state.rows if row.due_date <= today]
    settle_on: date | None = None
    if plan == "settled" and len(state.rows) > 1:
        # Somewhere before the last due date, after at least one day of the loan.
        last = min(state.rows[-1].due_date - timedelta(days=1), today)
        span = (last - disbursed).days
        settle_on = disbursed + timedelta(days=max(1, rng.randrange(max(span, 1)) + 1))
        due_rows = [row for row in due_rows if row.due_date < settle_on]
    stop_after = len(due_rows)
    if profile == "defaulter":
        stop_after = rng.randrange(0, max(1, len(due_rows) // 2 + 1))

    planned: list[tuple[date, Decimal]] = []
    for k, row in enumerate(due_rows[:stop_after]):
        amount = row.total
        if profile == "good":
            delay = rng.randint(-5, 3)
        elif profile == "late":
            delay = rng.randint(5, 45)
        elif profile == "partial":
            delay = rng.randint(-2, 10)
            amount = (row.total * Decimal(rng.randint(50, 95)) / 100).quantize(CENT)
        elif profile == "ahead":
            delay = rng.randint(-10, 0)
            amount = (row.total * Decimal(rng.randint(110, 160)) / 100).quantize(CENT)
        else:  # defaulter, before stopping
            delay = rng.randint(0, 20)
        on = row.due_date + timedelta(days=delay)
        earliest = disbursed + timedelta(days=1) if k == 0 else disbursed
        on = max(on, earliest, disbursed)
        if settle_on is not None:
            on = min(on, settle_on)
        if on > today:
            continue
        planned.append((on, amount))
    planned.sort(key=lambda item: item[0])

    mistake_at = -1
    if plan == "active" and len(planned) >= 2 and rng.random() < REVERSAL_SHARE:
        mistake_at = rng.randrange(len(planned))
    for k, (on, amount) in enumerate(planned):
        if k == mistake_at:
            _pay(state, amount, on, rng, mistaken=True)
        _pay(state, amount, on, rng)
        if state.outstanding == 0:
            break

    if plan == "settled" and settle_on is not None and state.outstanding > 0:
        if _settle(state, terms, settle_on, rng):
            return settle_on
        plan = "closed"
    if plan == "closed" and state.outstanding > 0:
        last_paid = state.payments[-1].paid_on if state.payments else disbursed
        final = min(today, max(last_paid, state.rows[-1].due_date) + timedelta(rng.randint(0, 9)))
        _pay(state, state.outstanding, final, rng)
    return None


# --- the builder ----------------------------------------------------------------------------


@dataclass
class _Plan:
    spec: ProductSpec
    product: LoanProduct
    status: str
    submitted_on: date
    terms: dict[str, Any]


def _plan_loan(
    products: list[tuple[ProductSpec, LoanProduct]], today: date, rng: random.Random
) -> _Plan:
    spec, product = rng.choices(products, weights=[s.weight for s, _ in products])[0]
    plan = rng.choices(list(STATUS_WEIGHTS), weights=list(STATUS_WEIGHTS.values()))[0]
    months = rng.choice(spec.months)
    low, high = spec.principal
    principal = Decimal(rng.randrange(low // 100, high // 100 + 1) * 100)
    terms = {
        "principal": principal,
        "annual_interest_rate": Decimal(rng.choice(spec.rates)),
        "installments": _installments_for(spec, months),
        "frequency": spec.settings.get("frequency", "monthly"),
        "interest_method": spec.settings.get("interest_method", "declining"),
        "amortization": spec.settings.get("amortization", "equal_installments"),
        "grace_periods": spec.settings.get("grace_periods", 0),
        "installment_multiple": spec.settings.get("installment_multiple", CENT),
        "installment_rounding": spec.settings.get("installment_rounding", "nearest"),
        "interest_period": spec.settings.get("interest_period", "per_period"),
        "days_in_year": spec.settings.get("days_in_year", 365),
    }
    term_days = int(months * 30.44)
    if plan == "pending":
        submitted = today - timedelta(days=rng.randint(0, 20))
    elif plan in ("rejected", "withdrawn"):
        submitted = today - timedelta(days=rng.randint(1, 1500))
    else:
        if plan == "active":
            age = rng.randint(1, max(2, int(term_days * 0.97)))
        elif plan == "closed":
            age = term_days + rng.randint(15, 720)
        elif plan == "settled":
            age = rng.randint(45, max(46, term_days - 10))
        else:  # written_off: several installments overdue
            age = rng.randint(max(150, term_days // 2), term_days + 365)
        disbursed = today - timedelta(days=age)
        terms["disbursement_date"] = disbursed
        submitted = disbursed - timedelta(days=rng.randint(1, 7))  # decided on a later day
    return _Plan(spec, product, plan, submitted, terms)


class _Progress:
    def __init__(self, stdout: Writer | None, total: int) -> None:
        self.stdout, self.total, self.started = stdout, total, time.monotonic()
        self.tty = bool(stdout is not None and getattr(sys.stdout, "isatty", lambda: False)())
        self.shown = -1

    def show(self, done: int, rows: int) -> None:
        if self.stdout is None or not self.total:
            return
        percent = done * 100 // self.total
        step = percent if self.tty else percent // 10 * 10
        if step == self.shown and done != self.total:
            return
        self.shown = step
        elapsed = max(time.monotonic() - self.started, 1e-9)
        bar = "#" * (percent // 4) + "." * (25 - percent // 4)
        line = (
            f"[{bar}] {percent:3d}% {done:,}/{self.total:,} loans, "
            f"{rows:,} rows, {rows / elapsed:,.0f} rows/s"
        )
        self.stdout.write(("\r" + line) if self.tty else line, ending="" if self.tty else "\n")
        if self.tty and done == self.total:
            self.stdout.write("")


def seed_bulk_portfolio(
    *,
    borrowers: int,
    loans: int,
    stdout: Writer | None = None,
    seed: int = 7,
    today: date | None = None,
    journal: bool = True,
    keep_balance_trigger: bool = False,
    offices: Sequence[int] = (),
) -> BulkResult:
    """Add `borrowers` borrowers and `loans` loans with their history; see the module note.
    Does nothing when the database already has loans (so a second run changes nothing).

    `journal=False` leaves the journal out (the benchmark's comparison only: the ledger would
    not reconcile). Borrowers are registered in `offices` in turn (the head office when none),
    each loan in its borrower's office and looked after by a loan officer of that office when
    it has one. On PostgreSQL the per-line balance trigger is switched off for the load
    and every new entry checked by one query instead, unless `keep_balance_trigger`."""
    result = BulkResult()
    if Loan.objects.exists():
        if stdout is not None:
            stdout.write("Loans already exist: bulk demo portfolio not added.")
        return result
    if loans and borrowers < 1:
        raise ValueError("Loans need at least one borrower.")
    started = time.monotonic()
    rng = random.Random(seed)
    today = today or timezone.localdate()
    officer, officer2, cashier = _staff()
    now = timezone.now()
    with transaction.atomic():
        products = ensure_products()
        first_entry = _Ids(JournalEntry).next
        trigger_off = not keep_balance_trigger and _balance_trigger(enabled=False)
        result.by_status = _write_portfolio(
            result,
            borrowers,
            loans,
            products,
            (officer, officer2, cashier),
            today,
            now,
            rng,
            stdout,
            journal,
            list(offices) or [HEAD_OFFICE_ID],
        )
        if trigger_off:
            _check_entries_balance(first_entry)
            _balance_trigger(enabled=True)
        forget_portfolio()  # no signal per loan here: cached totals and figures are stale
    result.seconds = time.monotonic() - started
    if stdout is not None:
        stdout.write(
            f"Bulk portfolio: {result.rows:,} rows in {result.seconds:.1f} s = "
            f"{result.rows_per_second:,.0f} rows/s ({result.borrowers:,} borrowers, "
            f"{result.loans:,} loans, {result.installments:,} installments, "
            f"{result.repayments:,} repayments, {result.allocations:,} allocations, "
            f"{result.receipts:,} receipts, {result.transactions:,} loan transactions, "
            f"{result.journal_entries:,} journal entries, {result.journal_lines:,} journal "
            "lines)"
        )
        stdout.write(
            "Loans by status: "
            + ", ".join(f"{k} {v:,}" for k, v in sorted(result.by_status.items()))
        )
    return result


def _balance_trigger(*, enabled: bool) -> bool:
    """Switch PostgreSQL's deferred per-line balance trigger on the journal lines on or off
    (inside the seeding transaction: a failed load rolls the switch back too). Returns False,
    changing nothing, on other databases or when this role may not alter the table.

    PostgreSQL refuses to alter a table with trigger events still pending, and the lines'
    foreign keys are deferred: before switching the trigger back on, their checks are run
    (they would run at commit anyway) and the constraints deferred again."""
    if connection.vendor != "postgresql":
        return False
    table = connection.ops.quote_name(JournalLine._meta.db_table)
    action = "ENABLE" if enabled else "DISABLE"
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(
                """SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass
                   AND contype = 'f' AND condeferrable AND condeferred""",
                [JournalLine._meta.db_table],
            )
            deferred = ", ".join(connection.ops.quote_name(r[0]) for r in cursor.fetchall())
            if deferred:
                cursor.execute(f"SET CONSTRAINTS {deferred} IMMEDIATE")
            cursor.execute(f"ALTER TABLE {table} {action} TRIGGER {BALANCE_TRIGGER}")
            if deferred:
                cursor.execute(f"SET CONSTRAINTS {deferred} DEFERRED")
    except DatabaseError:
        if enabled:
            raise
        return False
    return True


def _check_entries_balance(first_entry: int) -> None:
    """What the balance trigger would have checked, for every entry from `first_entry` on,
    in one grouped query."""
    table = connection.ops.quote_name(JournalLine._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"""SELECT entry_id, SUM(debit), SUM(credit) FROM {table} WHERE entry_id >= %s
                GROUP BY entry_id HAVING SUM(debit) <> SUM(credit) LIMIT 5""",  # noqa: S608
            [first_entry],
        )
        unbalanced = cursor.fetchall()
    if unbalanced:
        raise AssertionError(f"journal entries do not balance: {unbalanced}")


def _write_portfolio(
    result: BulkResult,
    n_borrowers: int,
    n_loans: int,
    products: list[tuple[ProductSpec, LoanProduct]],
    staff: tuple[Any, Any, Any],
    today: date,
    now: datetime,
    rng: random.Random,
    stdout: Writer | None,
    journal: bool,
    offices: list[int],
) -> dict[str, int]:
    officer, officer2, cashier = staff
    officer_in = _officers_by_office(offices, officer.pk)
    counters = _Counter()
    t_borrower = _Table(
        Borrower,
        [
            "id", "number", "full_name", "national_id", "date_of_birth", "phone", "email",
            "address", "employer", "monthly_income", "notes", "created_by_id", "officer_id",
            "created_at", "updated_at", "office_id",
        ],
    )  # fmt: skip
    t_loan = _Table(
        Loan,
        [
            "id", "number", "borrower_id", "product_id", "status", "principal",
            "annual_interest_rate", "installments", "frequency", "interest_method",
            "amortization", "grace_periods", "first_due_date", "installment_multiple",
            "installment_rounding", "interest_period", "days_in_year", "purpose",
            "disbursement_date", "approved_amount", "approved_on", "expected_disbursement_date",
            "disbursement_reference", "total_repayable", "total_paid", "total_waived",
            "outstanding", "overpaid", "incremental_from", "accounting_basis", "days_past_due",
            "submitted_by_id", "officer_id", "submitted_at", "decided_by_id", "decided_at",
            "status_reason", "closed_on", "updated_at", "office_id", *FROZEN_TERMS,
        ],
    )  # fmt: skip
    t_inst = _Table(
        Installment,
        [
            "id", "loan_id", "number", "due_date", "principal", "interest", "fees", "penalties",
            "interest_waived", "principal_paid", "interest_paid", "fees_paid", "penalties_paid",
            "status", "paid_on", "penalty_applied_on",
        ],
    )  # fmt: skip
    t_rep = _Table(
        Repayment,
        [
            "id", "loan_id", "amount", "paid_on", "method", "reference", "is_settlement",
            "outstanding_after", "recorded_by_id", "recorded_at", "idempotency_key",
            "request_fingerprint", "reversed_at", "reversed_by_id", "reversal_reason",
        ],
    )  # fmt: skip
    t_txn = _Table(
        LoanTransaction,
        [
            "id", "loan_id", "kind", "value_date", "booked_at", "booked_by_id", "amount",
            "principal", "interest", "fees", "penalties", "overpaid", "outstanding_after",
            "end_of_day", "method", "repayment_id", "split_changed_at", "split_change_reason",
            "reversed_at", "reversed_by_id", "reversal_reason", "office_id",
        ],
    )  # fmt: skip
    t_alloc = _Table(
        Allocation,
        [
            "id", "transaction_id", "installment_id", "principal", "interest", "fees",
            "penalties", "as_booked", "superseded_at",
        ],
    )  # fmt: skip
    t_receipt = _Table(Receipt, ["id", "repayment_id", "number", "issued_at", "voided_at"])
    t_entry = _Table(
        JournalEntry,
        [
            "id", "value_date", "booked_at", "memo", "source", "transaction_id", "loan_id",
            "created_by_id", "office_id",
        ],
    )  # fmt: skip
    t_line = _Table(JournalLine, ["id", "entry_id", "account_id", "value_date", "debit", "credit"])
    tables = (
        t_borrower, t_loan, t_inst, t_rep, t_txn, t_alloc, t_receipt, t_entry, t_line,
    )  # fmt: skip
    ids = {t.model: _Ids(t.model) for t in tables}
    accounts = _accounts([product for _, product in products])
    progress = _Progress(stdout, n_loans)
    reversal_reason = "Posted twice by mistake."

    def flush(force: bool = False) -> None:
        for table in tables:
            if force or len(table.rows) >= BATCH_ROWS:
                table.flush()

    def book_entries(
        event: _Event,
        loan_pk: int,
        number: str,
        roles: dict[str, int],
        booked_at: datetime | None,
        booked_by: int | None,
        office: int,
    ) -> None:
        """The event's journal entry (and a reversed payment's mirror), as the services
        post them: `lending.journal` rules, cash basis, netted per account."""
        split = event.effect.split
        net: dict[int, Decimal] = {}
        for role, amount in postings(
            event.kind,
            split,
            amount=event.amount,
            overpaid=event.effect.overpaid,
            method=event.method,
            basis=CASH,
        ):
            if amount:
                account = roles[role]
                net[account] = net.get(account, ZERO) + amount
        lines = sorted((a, v) for a, v in net.items() if v)
        if not lines:
            return
        memo = f"{KIND_LABELS[event.kind]} on {number}"
        sides: list[tuple[int, str, str, datetime | None, int | None]] = [
            (1, "loan_transaction", memo, booked_at, booked_by)
        ]
        if event.reversed:
            assert event.payment is not None
            sides.append(
                (-1, "reversal", f"Reversal of {memo}", event.payment.reversed_at, cashier.pk)
            )
        for sign, source, text, at, by in sides:
            entry_pk = ids[JournalEntry].take()
            t_entry.add(
                (entry_pk, event.value_date, at, text, source, event.id, loan_pk, by, office)
            )
            for account, amount in lines:
                amount *= sign
                t_line.add(
                    (
                        ids[JournalLine].take(), entry_pk, account, event.value_date,
                        amount if amount > 0 else ZERO, -amount if amount < 0 else ZERO,
                    )
                )  # fmt: skip

    # Loans in order of submission, so numbers and ids follow the calendar; each is some
    # borrower's, registered before their first application (a borrower with none, some day
    # in the last six years), and numbered in order of registration.
    plans = sorted(
        (_plan_loan(products, today, rng) for _ in range(n_loans)),
        key=lambda p: p.submitted_on,
    )
    owners = [rng.randrange(n_borrowers) for _ in plans]
    first_application: dict[int, date] = {}
    for owner, plan in zip(owners, plans, strict=True):
        first_application.setdefault(owner, plan.submitted_on)  # plans are in date order
    registered = [
        first_application[n] - timedelta(days=rng.randint(1, 60))
        if n in first_application
        else today - timedelta(days=rng.randint(0, 6 * 365))
        for n in range(n_borrowers)
    ]
    borrower_ids: list[int] = [0] * n_borrowers
    office_of = [offices[n % len(offices)] for n in range(n_borrowers)]
    for n in sorted(range(n_borrowers), key=lambda n: registered[n]):
        pk = ids[Borrower].take()
        seq = counters.next("borrower")
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        created = _at(registered[n], rng)
        t_borrower.add(
            (
                pk, f"B-{seq:06d}", f"{first} {last}", f"BK{seq:09d}",
                date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)),
                f"+2557{rng.randrange(10**8):08d}",
                f"{first}.{last}{seq}@example.org".lower() if rng.random() < 0.4 else "",
                f"{rng.randint(1, 400)} Market Road", rng.choice(EMPLOYERS),
                Decimal(rng.randrange(100, 3000) * 10), "", officer.pk,
                officer_in[office_of[n]], created, created, office_of[n],
            )
        )  # fmt: skip
        borrower_ids[n] = pk
        flush()

    by_status: dict[str, int] = defaultdict(int)
    for done, (plan, owner) in enumerate(zip(plans, owners, strict=True), start=1):
        loan_pk = ids[Loan].take()
        office = office_of[owner]
        product_pk = plan.product.pk
        year = plan.submitted_on.year
        number = f"L-{year}-{counters.next(f'loan:{year}'):06d}"
        submitted_by, decided_by = (
            (officer, officer2) if rng.random() < 0.5 else (officer2, officer)
        )
        submitted_at = _at(plan.submitted_on, rng)
        status, reason = plan.status, ""
        disbursed = plan.terms.pop("disbursement_date", None)
        totals = (ZERO, ZERO, ZERO, ZERO, ZERO)
        days_past_due, closed_on, decided_at, resume_on = 0, None, None, None
        if disbursed is None:
            if status == "rejected":
                reason = "Income does not cover the installment."
            elif status == "withdrawn":
                reason = "The borrower no longer needs the loan."
            decided = status == "rejected"
            decided_at = (
                min(submitted_at + timedelta(days=rng.randint(1, 5)), timezone.localtime())
                if decided
                else None
            )
            if not decided:
                decided_by = None
        else:
            terms = LoanTerms(disbursement_date=disbursed, **plan.terms)
            state = _start_state(
                terms,
                ids[Installment],
                ids[LoanTransaction],
                ids[Repayment],
                plan.product.prepayment_order,
            )
            settled_on = _play(state, terms, status, today, rng)
            decided_at = _at(disbursed, rng)
            book = state.book
            if state.outstanding == 0:
                status = "closed"
                closed_on = max(p.paid_on for p in state.payments if not p.reversed)
            elif status in ("closed", "settled"):
                status = "active"  # could not be finished by today: it is still running
            written_off_at = None
            if status == "written_off":
                reason = "No payment for months; collection stopped."
                # As `loan_write_off`: everything left, at the end of a day after the last
                # payment (collection stopped some months after it).
                last_event = state.events[-1].value_date
                off_on = min(today, last_event + timedelta(days=rng.randint(60, 240)))
                written_off_at = _at(off_on, rng)
                state.post(Kind.WRITE_OFF, off_on, state.outstanding, end_of_day=True)
            if status != "closed":
                days_past_due = book.days_past_due(today, plan.product.arrears_tolerance)
            totals = (
                book.total_repayable,
                book.total_paid,
                book.total_waived,
                book.outstanding,
                book.overpaid,
            )
            resume_on = state.incremental_from()
            for pk, sched in zip(state.ids, state.rows, strict=True):
                row = book.row(pk)
                inst_status = status_of(row)
                t_inst.add(
                    (
                        pk, loan_pk, sched.number, sched.due_date, sched.principal,
                        sched.interest, row.due.fees, row.due.penalties, row.waived.interest,
                        row.paid.principal, row.paid.interest, row.paid.fees,
                        row.paid.penalties, inst_status,
                        row.paid_on if inst_status == PAID else None, None,
                    )
                )  # fmt: skip
            for payment in state.payments:
                payment.recorded = recorded = _at(payment.paid_on, rng)
                ryear = recorded.year
                receipt = f"RCT-{ryear}-{counters.next(f'receipt:{ryear}'):06d}"
                if payment.reversed:
                    payment.reversed_at = min(recorded + timedelta(hours=2), timezone.localtime())
                reference = "" if payment.method == "cash" else f"TX{payment.id:010d}"
                t_rep.add(
                    (
                        payment.id, loan_pk, payment.amount, payment.paid_on, payment.method,
                        reference, payment.settlement, payment.outstanding_after, cashier.pk,
                        recorded, None, "", payment.reversed_at,
                        cashier.pk if payment.reversed else None,
                        reversal_reason if payment.reversed else "",
                    )
                )  # fmt: skip
                t_receipt.add(
                    (ids[Receipt].take(), payment.id, receipt, recorded, payment.reversed_at)
                )
            booked_at: datetime | None
            for event in state.events:
                paid_by: _Payment | None = event.payment
                if event.kind is Kind.DISBURSEMENT:
                    booked_at, booked_by = decided_at, decided_by.pk
                elif event.kind is Kind.WRITE_OFF:
                    booked_at, booked_by = written_off_at, cashier.pk
                else:
                    assert paid_by is not None and paid_by.recorded is not None
                    booked_at, booked_by = paid_by.recorded, cashier.pk
                split, effect = event.effect.split, event.effect
                t_txn.add(
                    (
                        event.id, loan_pk, event.kind.value, event.value_date, booked_at,
                        booked_by, event.amount, split.principal, split.interest, split.fees,
                        split.penalties, effect.overpaid, effect.outstanding_after,
                        event.end_of_day, event.method,
                        paid_by.id if paid_by is not None else None, None, "",
                        paid_by.reversed_at if event.reversed and paid_by else None,
                        cashier.pk if event.reversed else None,
                        reversal_reason if event.reversed else "", office,
                    )
                )  # fmt: skip
                for line in effect.lines:
                    parts = line.parts
                    t_alloc.add(
                        (
                            ids[Allocation].take(), event.id, line.installment_id,
                            parts.principal, parts.interest, parts.fees, parts.penalties,
                            True, None,
                        )
                    )  # fmt: skip
                if journal:
                    book_entries(
                        event, loan_pk, number, accounts[product_pk], booked_at, booked_by, office
                    )
            if settled_on is not None and status != "closed":
                raise AssertionError(f"settled loan {number} is not closed")
        repayable, paid_total, waived, outstanding, overpaid = totals
        t_loan.add(
            (
                loan_pk, number, borrower_ids[owner], product_pk, status,
                plan.terms["principal"], plan.terms["annual_interest_rate"],
                plan.terms["installments"], plan.terms["frequency"],
                plan.terms["interest_method"], plan.terms["amortization"],
                plan.terms["grace_periods"], None, plan.terms["installment_multiple"],
                plan.terms["installment_rounding"], plan.terms["interest_period"],
                plan.terms["days_in_year"], rng.choice(PURPOSES), disbursed,
                # Approved as it was disbursed (these products disburse on approval).
                plan.terms["principal"] if disbursed else None, disbursed, None, "",
                repayable,
                paid_total, waived, outstanding, overpaid, resume_on, CASH, days_past_due,
                submitted_by.pk, officer_in[office], submitted_at,
                decided_by.pk if decided_by is not None else None, decided_at, reason,
                closed_on, now, office, *(getattr(plan.product, name) for name in FROZEN_TERMS),
            )
        )  # fmt: skip
        by_status[status] += 1
        flush()
        if done % 500 == 0 or done == n_loans:
            progress.show(done, sum(t.count + len(t.rows) for t in tables))
    flush(force=True)

    counters.save()
    with connection.cursor() as cursor:
        for sql in connection.ops.sequence_reset_sql(no_style(), [t.model for t in tables]):
            cursor.execute(sql)

    result.borrowers, result.loans = t_borrower.count, t_loan.count
    result.installments, result.repayments = t_inst.count, t_rep.count
    result.allocations, result.receipts = t_alloc.count, t_receipt.count
    result.transactions = t_txn.count
    result.journal_entries, result.journal_lines = t_entry.count, t_line.count
    return dict(by_status)


def _officers_by_office(offices: list[int], fallback: int) -> dict[int, int]:
    """The loan officer who looks after an office's portfolio: the first (by id) whose office
    it is, else `fallback` (the demo's head-office officer)."""
    found = dict(
        UserOffice.objects.filter(office_id__in=offices, user__groups__name=LOAN_OFFICER)
        .order_by("-user_id")
        .values_list("office_id", "user_id")
    )
    return {office: found.get(office, fallback) for office in offices}


def _accounts(products: Iterable[LoanProduct]) -> dict[int, dict[str, int]]:
    """Role -> account id per product: the defaults (rows without a product), overridden by
    the product's own rows, as `lending.services.transactions.accounts_for`."""
    pks = [p.pk for p in products]
    rows = list(
        ProductAccount.objects.filter(Q(product=None) | Q(product_id__in=pks)).values_list(
            "product_id", "role", "account_id"
        )
    )
    defaults = {role: account for product, role, account in rows if product is None}
    missing = set(ProductAccount.Role.values) - set(defaults)
    if missing:
        raise ValueError(f"No default ledger account for {', '.join(sorted(missing))}.")
    return {
        pk: {**defaults, **{role: acc for product, role, acc in rows if product == pk}}
        for pk in pks
    }


__all__ = ["PRODUCTS", "BulkResult", "ensure_products", "seed_bulk_portfolio"]
