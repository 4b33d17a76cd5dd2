"""Demo portfolio for `manage.py seed_demo`: a branch's last ten months, told through the
services.

Everything goes through the services (`borrower_create`, `loan_submit`, `loan_approve`,
`loan_reject`, `loan_withdraw`, `loan_write_off`, `repayment_record`, `repayment_reverse`,
`loan_settle`) and the daily close (`lending.services.close_day.day_close`), so the demo obeys
the same rules as the pages: numbers, four-eyes approval, audit entries, stored schedules,
late penalties. A fixed random seed makes it the same every time (for the same today). It
does nothing when any borrower exists, so running it twice adds nothing.

The history is dated honestly: each step runs on its own day under `lending.demo_clock`'s
clock, in time order, so every stamp (audit entries, `created_at`, submitted and decided
times, bookings, receipts) agrees with it and the audit chain is written in order:

- the institution's capital is paid in first; borrowers are registered on or before the day
  of their first application; applications are decided one to six days after they are
  submitted; an approved loan is disbursed on the day of its approval;
- payments fall on or after their loan's disbursement and never after today: most borrowers
  pay on the due date or a little after, some fall behind or pay part, some pay ahead, a few
  repay in full; one cheque bounces and is reversed, one loan is settled early;
- loans that stopped paying are written off some 6 months after disbursement;
- the daily close runs at the end of every day from the first disbursement through yesterday
  (today is not over: `manage.py close_day` closes it), so overdue installments carry the
  late penalties their products define, charged on their own days, and days past due are
  those of the last close.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import random
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from accounts.models import Office
from ledger.models import Account
from lending.demo_clock import HistoryClock, history_clock
from lending.models import Borrower, Loan, LoanProduct, Repayment
from lending.schedule import Frequency, add_periods
from lending.services.books import journal_entry_record
from lending.services.borrowers import borrower_create
from lending.services.close_day import day_close
from lending.services.loans import (
    loan_approve,
    loan_reject,
    loan_submit,
    loan_withdraw,
    loan_write_off,
)
from lending.services.repayments import loan_settle, repayment_record, repayment_reverse

SEED = 20260131
D = Decimal

PRODUCTS: list[dict[str, Any]] = [
    {
        "name": "Business Growth",
        "min_principal": D("1000.00"),
        "max_principal": D("50000.00"),
        "min_interest_rate": D("10"),
        "max_interest_rate": D("30"),
        "min_installments": 6,
        "max_installments": 36,
        "default_interest_rate": D("18"),
        "frequency": "monthly",
        "interest_method": "declining",
        "amortization": "equal_installments",
        "penalty_type": LoanProduct.PenaltyType.FLAT,
        "penalty_amount": D("25.00"),
        "penalty_grace_days": 5,
        "reminder_days_before": "3, 0",
        "reminder_days_after": "1, 7",
    },
    {
        "name": "Salary Advance",
        "min_principal": D("200.00"),
        "max_principal": D("5000.00"),
        "min_interest_rate": D("5"),
        "max_interest_rate": D("24"),
        "min_installments": 1,
        "max_installments": 12,
        "default_interest_rate": D("12"),
        "frequency": "monthly",
        "interest_method": "flat",
        "amortization": "equal_installments",
        "installment_multiple": D("1.00"),
        "installment_rounding": "up",
    },
    {
        "name": "Group Micro",
        "min_principal": D("100.00"),
        "max_principal": D("3000.00"),
        "min_interest_rate": D("10"),
        "max_interest_rate": D("40"),
        "min_installments": 8,
        "max_installments": 52,
        "default_interest_rate": D("24"),
        "frequency": "weekly",
        "interest_method": "declining",
        "amortization": "equal_principal",
        "penalty_type": LoanProduct.PenaltyType.PERCENT,
        "penalty_rate": D("2"),
        "penalty_grace_days": 3,
        "reminder_days_before": "1",
        "reminder_days_after": "1, 7",
        "reminder_by_email": False,
    },
]

FIRST_NAMES = [
    "Ama", "Kofi", "Abena", "Yaw", "Esi", "Kwame", "Amina", "Musa", "Fatima", "Ibrahim",
    "Grace", "Peter", "Ruth", "Daniel", "Esther", "Samuel", "Wanjiru", "Otieno", "Achieng",
    "Chipo", "Tendai", "Thandiwe", "Sipho", "Lerato",
]  # fmt: skip
LAST_NAMES = [
    "Mensah", "Owusu", "Boateng", "Asante", "Banda", "Phiri", "Mwale", "Tembo", "Zulu",
    "Dlamini", "Okafor", "Adeyemi", "Mutua", "Kariuki", "Odhiambo", "Moyo", "Ncube", "Chanda",
]  # fmt: skip
EMPLOYERS = ["Self-employed", "Market stall", "County office", "District school", "Clinic", ""]
PURPOSES = {
    "Business Growth": ["Shop stock", "Delivery motorbike", "Sewing machines", "Farm inputs"],
    "Salary Advance": ["School fees", "Medical bill", "Rent deposit"],
    "Group Micro": ["Vegetable trading", "Poultry", "Tailoring group"],
    "": ["Home improvement", "Solar kit"],
}
# (story, share): most demo loans are running; a few of every other story. `_kinds` deals
# them out in these proportions.
STATES = [
    ("active", 62),
    ("pending", 12),
    ("rejected", 8),
    ("withdrawn", 6),
    ("written_off", 5),
    ("custom", 7),  # active, on custom terms (no product)
]
REJECT_REASONS = [
    "Income does not cover the installment.",
    "Incomplete documents: no proof of address.",
    "Existing arrears with another lender.",
]


def _demo_user(username: str) -> User:
    try:
        return User.objects.get(username=username)
    except User.DoesNotExist:
        raise ImproperlyConfigured(
            f"The demo user {username!r} is missing: run `manage.py seed_demo` (it creates "
            "the users first)."
        ) from None


def _products() -> list[LoanProduct]:
    products = []
    for spec in PRODUCTS:
        product, _ = LoanProduct.objects.get_or_create(name=spec["name"], defaults=spec)
        products.append(product)
    return products


def _borrower_fields(rng: random.Random, n: int, today: date) -> dict[str, Any]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    age_days = rng.randint(20 * 365, 65 * 365)
    return {
        "full_name": f"{first} {last}",
        "national_id": f"DM{n:04d}{rng.randint(100, 999)}",
        "date_of_birth": today - timedelta(days=age_days),
        "phone": f"+254 7{rng.randint(10, 99)} {rng.randint(100, 999)} {rng.randint(100, 999)}",
        "email": f"{first}.{last}{n}@example.org".lower() if rng.random() < 0.6 else "",
        "address": f"{rng.randint(1, 200)} {rng.choice(['Market', 'Station', 'Church'])} Road",
        "employer": rng.choice(EMPLOYERS),
        "monthly_income": D(rng.randrange(300, 6000, 50)).quantize(D("0.01")),
        "notes": "",
    }


def _terms(rng: random.Random, product: LoanProduct | None) -> dict[str, Any]:
    """Terms inside the product's limits, starting from its defaults."""
    if product is None:
        return {
            "principal": D(rng.randrange(500, 8000, 100)).quantize(D("0.01")),
            "annual_interest_rate": D(rng.choice([0, 9, 15, 21])),
            "installments": rng.choice([6, 10, 12, 18]),
            "frequency": rng.choice(["monthly", "biweekly"]),
            "interest_method": "declining",
            "amortization": "equal_installments",
            "grace_periods": rng.choice([0, 0, 1]),
            "installment_multiple": D("0.01"),
            "installment_rounding": "nearest",
            "interest_period": rng.choice(["per_period", "daily"]),
            "days_in_year": 365,
        }
    step = D("100") if product.max_principal >= 1000 else D("10")
    low, high = int(product.min_principal / step), int(product.max_principal / step)
    return {
        "principal": (D(rng.randint(low, max(low, high // 2))) * step).quantize(D("0.01")),
        "annual_interest_rate": product.default_interest_rate,
        "installments": rng.randint(
            product.min_installments, min(product.max_installments, product.min_installments + 18)
        ),
        "frequency": product.frequency,
        "interest_method": product.interest_method,
        "amortization": product.amortization,
        "grace_periods": 0,
        "installment_multiple": product.installment_multiple,
        "installment_rounding": product.installment_rounding,
        "interest_period": product.interest_period,
        "days_in_year": product.days_in_year,
    }


OPENING_CAPITAL = Decimal("1000000.00")
HISTORY_DAYS = 300  # loans are disbursed over the last ten months
OPENING_DAYS = 400  # the capital is paid in before anything else
WRITE_OFF_AFTER = 181  # days without a payment before collection stops
CENT = D("0.01")
CLOSE_AT = time(21, 0)  # the daily close runs after the office shuts
BEHAVIOURS = [
    ("on_time", 40),
    ("late", 25),
    ("behind", 12),
    ("ahead", 10),
    ("repaid", 8),
    ("silent", 5),
]
METHODS, METHOD_WEIGHTS = ["cash", "mobile_money", "bank_transfer", "cheque"], [5, 4, 2, 1]


def _month_end(today: date) -> date:
    """A 31st, four to ten months ago: a loan disbursed then shows month-end due dates
    (31 Jan, 28/29 Feb, 31 Mar ...) instead of drifting to the 28th."""
    first_of_month = today.replace(day=1)
    for months_back in range(4, 11):
        end = add_periods(first_of_month, Frequency.MONTHLY, 1 - months_back) - timedelta(days=1)
        if end.day == 31:
            return end
    return first_of_month - timedelta(days=1)  # unreachable: every 7 months hold a 31st


def _at(day: date, hour: int, minute: int = 0) -> datetime:
    """`hour:minute` on `day` in the institution's time zone."""
    return datetime.combine(day, time(hour, minute), tzinfo=timezone.get_current_timezone())


def _office_hours(rng: random.Random, day: date, first: int = 8, last: int = 16) -> datetime:
    return _at(day, rng.randint(first, last), rng.randint(0, 59))


def _opening_capital(admin: Any, on: date) -> None:
    """The institution's capital paid into its bank account before its first loan, so the
    demo's trial balance reads like a lender's (the bank lends from it)."""
    accounts = dict(Account.objects.filter(code__in=["1020", "3010"]).values_list("code", "pk"))
    journal_entry_record(
        value_date=on,
        memo="Opening capital paid in",
        lines=[
            (accounts["1020"], OPENING_CAPITAL, Decimal("0.00")),
            (accounts["3010"], Decimal("0.00"), OPENING_CAPITAL),
        ],
        user=admin,
    )


@dataclass
class _Person:
    """A borrower to register: who registers them, when, and their details."""

    n: int
    registrar: User
    registered_on: date | None = None  # the day of their first application, or earlier
    borrower: Borrower | None = None
    office_id: int | None = None  # the branch they bank with (None: the registrar's office)


@dataclass
class _Application:
    """One demo loan's story: what is asked, when it is submitted and decided."""

    kind: str  # a STATES name
    person: _Person
    product: LoanProduct | None
    terms: dict[str, Any]
    purpose: str
    submitter: User
    approver: User
    submitted_on: date
    decided_on: date | None = None  # approved and disbursed, rejected or withdrawn
    written_off_on: date | None = None
    loan: Loan | None = field(default=None, repr=False)


Step = Callable[[], None]


class _Timeline:
    """The history's steps in time order, each run with the clock at its moment; at the end
    of every day from `close_from` through yesterday, the daily close."""

    def __init__(self, clock: HistoryClock, today: date) -> None:
        self.clock, self.today = clock, today
        self.steps: list[tuple[datetime, int, Step]] = []
        self.order = itertools.count()
        self.close_from: date | None = None
        self.closed: list[date] = []
        self.penalties = 0
        self.penalty_total = D("0.00")
        self.penalised: set[int] = set()

    def at(self, moment: datetime, step: Step) -> None:
        """Run `step` at `moment` (a step may add later ones, never earlier)."""
        heapq.heappush(self.steps, (moment, next(self.order), step))

    def run(self) -> None:
        while self.steps:
            moment, _, step = heapq.heappop(self.steps)
            self._close_through(timezone.localdate(moment) - timedelta(days=1))
            self.clock.set(moment)
            step()
        self._close_through(self.today - timedelta(days=1))

    def _close_through(self, last: date) -> None:
        if self.close_from is None:
            return
        day = self.closed[-1] + timedelta(days=1) if self.closed else self.close_from
        with _quiet("karo.audit"):  # one checkpoint line a day would bury the summary
            while day <= last:
                self.clock.set(_at(day, CLOSE_AT.hour, CLOSE_AT.minute))
                result = day_close(on=day)
                self.closed.append(day)
                self.penalties += result.penalties_applied
                self.penalty_total += result.penalty_total
                self.penalised.update(result.penalised_loan_ids)
                day += timedelta(days=1)


@contextmanager
def _quiet(name: str) -> Iterator[None]:
    logger = logging.getLogger(name)
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _kinds(rng: random.Random, loans: int) -> list[str]:
    """Each loan's story, in the STATES proportions (largest remainders), shuffled: every
    seed of the same size has the same mix."""
    total = sum(weight for _, weight in STATES)
    shares = [(name, loans * weight / total) for name, weight in STATES]
    counts = {name: int(share) for name, share in shares}
    by_remainder = sorted(shares, key=lambda s: s[1] - int(s[1]), reverse=True)
    for name, _ in by_remainder[: loans - sum(counts.values())]:
        counts[name] += 1
    kinds = [name for name, _ in STATES for _ in range(counts[name])]
    rng.shuffle(kinds)
    return kinds


def _plan_applications(
    rng: random.Random,
    people: list[_Person],
    loans: int,
    products: list[LoanProduct],
    staff: tuple[User, User, User],
    today: date,
) -> list[_Application]:
    officer, officer2, admin = staff
    kinds = _kinds(rng, loans)
    month_end_shown = False
    plans = []
    for i in range(loans):
        kind = kinds[i]
        person = people[i % len(people)] if i < len(people) else rng.choice(people)
        product = None if kind == "custom" else rng.choice(products)
        # Four eyes: whoever submits, someone else decides.
        submitter, approver = (
            (officer, rng.choice([officer2, admin]))
            if i % 4
            else (officer2, rng.choice([officer, admin]))
        )
        purpose = rng.choice(PURPOSES[product.name if product else ""])
        terms = _terms(rng, product)
        plan = _Application(
            kind, person, product, terms, purpose, submitter, approver, submitted_on=today
        )
        if kind == "pending":
            plan.submitted_on = today - timedelta(days=rng.randint(0, 14))
        elif kind in ("rejected", "withdrawn"):
            plan.decided_on = today - timedelta(days=rng.randint(0, HISTORY_DAYS))
            plan.submitted_on = plan.decided_on - timedelta(days=rng.randint(1, 6))
        else:
            earliest = 200 if kind == "written_off" else 0
            disbursed = today - timedelta(days=rng.randint(earliest, HISTORY_DAYS))
            if not month_end_shown and kind == "active" and terms["frequency"] == "monthly":
                # Due dates stay at month end: 31 Jan, 28/29 Feb, 31 Mar ...
                disbursed, month_end_shown = _month_end(today), True
            plan.decided_on = disbursed
            plan.submitted_on = disbursed - timedelta(days=rng.randint(1, 6))
            if kind == "written_off":
                latest = (today - disbursed).days
                plan.written_off_on = disbursed + timedelta(
                    days=rng.randint(WRITE_OFF_AFTER, max(WRITE_OFF_AFTER, min(latest, 240)))
                )
        first = person.registered_on
        person.registered_on = min(first, plan.submitted_on) if first else plan.submitted_on
        plans.append(plan)
    for person in people:
        if person.registered_on is None:  # no loan (yet): registered some time this year
            person.registered_on = today - timedelta(days=rng.randint(0, HISTORY_DAYS))
        else:  # registered on the day of the first application or up to a month before
            person.registered_on -= timedelta(days=rng.randint(0, 30))
    return plans


class _Cashier:
    """The demo's payments: planned when a loan is disbursed, recorded on their days through
    `repayment_record`; one bounced cheque reversed, one early settlement."""

    def __init__(self, timeline: _Timeline, today: date, cashier: User) -> None:
        self.timeline, self.today, self.cashier = timeline, today, cashier
        self.rng = random.Random(SEED + 4)
        self.recorded: list[Repayment] = []
        self.reversed = 0
        self.settled = 0
        self.cheque_planned = False

    def plan(self, loan: Loan, behaviour: str | None = None) -> None:
        """Schedule `loan`'s payments (just disbursed: its schedule is stored)."""
        rng, today = self.rng, self.today
        assert loan.disbursement_date is not None
        names, weights = zip(*BEHAVIOURS, strict=True)
        behaviour = behaviour or rng.choices(names, weights)[0]
        if behaviour == "silent":
            return
        due = [i for i in loan.schedule.order_by("number") if i.due_date <= today]
        if behaviour == "behind":
            due = due[: max(0, len(due) - rng.randint(1, 3))]
        for inst in due:
            paid_on, amount = inst.due_date, inst.total
            if behaviour in ("late", "behind"):
                paid_on = min(inst.due_date + timedelta(days=rng.randint(1, 20)), today)
                if rng.random() < 0.3:
                    amount = (inst.total * D("0.6")).quantize(CENT)  # a part payment
            method = rng.choices(METHODS, METHOD_WEIGHTS)[0]
            bounces = (
                not self.cheque_planned
                and behaviour == "on_time"
                and today - timedelta(days=45) <= paid_on <= today - timedelta(days=10)
            )
            if bounces:
                self.cheque_planned, method = True, "cheque"
            self._pay_on(loan.pk, paid_on, method=method, amount=amount, bounces=bounces)
        # Extra and final payments fall on the last few days, so the dashboard's 7-day chart
        # shows a working week rather than one spike today.
        recent = max(loan.disbursement_date, today - timedelta(days=rng.randint(0, 6)))
        method = rng.choices(METHODS, METHOD_WEIGHTS)[0]
        if behaviour == "ahead":
            self._pay_on(loan.pk, recent, method=method, share=D("0.15"))
        if behaviour == "repaid":
            self._pay_on(loan.pk, recent, method=method, share=D("1"), reference="Final payment")

    def _pay_on(
        self,
        loan_id: int,
        day: date,
        *,
        method: str,
        amount: Decimal | None = None,
        share: Decimal | None = None,
        reference: str = "",
        bounces: bool = False,
    ) -> None:
        rng = self.rng
        if not reference and method == "mobile_money":
            reference = f"MP{rng.randint(10**7, 10**8 - 1)}"
        elif not reference and method == "cheque":
            reference = f"CHQ {rng.randint(100000, 999999)}"
        moment = _office_hours(rng, day, 8, 17)

        def step() -> None:
            repayment = self._pay(loan_id, day, method, reference, amount=amount, share=share)
            if repayment is not None and bounces:
                # The bank returns the cheque unpaid three days later.
                self.timeline.at(
                    _at(day + timedelta(days=3), 10, rng.randint(0, 59)),
                    lambda: self._bounce(repayment),
                )

        self.timeline.at(moment, step)

    def _pay(
        self,
        loan_id: int,
        paid_on: date,
        method: str,
        reference: str,
        *,
        amount: Decimal | None,
        share: Decimal | None,
    ) -> Repayment | None:
        """Record one payment (capped at what is owed, nothing once the loan is over)."""
        loan = Loan.objects.get(pk=loan_id)
        if loan.status != Loan.Status.ACTIVE or loan.outstanding <= 0:
            return None
        value = amount if amount is not None else loan.outstanding * (share or D("0"))
        value = min(value, loan.outstanding).quantize(CENT)
        if value <= 0:
            return None
        try:
            repayment = repayment_record(
                loan=loan,
                user=self.cashier,
                amount=value,
                paid_on=paid_on,
                method=method,
                reference=reference,
            )
        except ValidationError:
            return None
        self.recorded.append(repayment)
        return repayment

    def _bounce(self, repayment: Repayment) -> None:
        repayment_reverse(
            repayment=repayment, user=self.cashier, reason="Cheque returned unpaid by the bank."
        )
        self.reversed += 1

    def settle_one(self, loan_ids: list[int]) -> None:
        """Early settlement of the running loan, not in arrears, with the most left to pay."""
        loan = (
            Loan.objects.filter(pk__in=loan_ids, status=Loan.Status.ACTIVE, days_past_due=0)
            .order_by("-outstanding", "pk")
            .first()
        )
        if loan is None:
            return
        try:
            loan_settle(
                loan=loan,
                user=self.cashier,
                on=timezone.localdate(),
                method="bank_transfer",
                reference="Early settlement",
            )
        except ValidationError:
            return
        self.settled += 1


def seed_portfolio(*, borrowers: int, loans: int, stdout: Any) -> None:
    if Borrower.objects.exists():
        stdout.write("Demo data: borrowers already exist, nothing added.")
        return
    rng = random.Random(SEED)
    today = timezone.localdate()
    officer, officer2, admin = (_demo_user(name) for name in ("officer", "officer2", "admin"))
    cashier = User.objects.filter(username="accountant").first() or admin
    opened = today - timedelta(days=OPENING_DAYS)
    products = _products()
    stdout.write(f"Demo data: {len(products)} loan products.")
    people = [_Person(n, officer if n % 3 else officer2) for n in range(1, max(borrowers, 1) + 1)]
    # Borrowers bank with the branches in turn (seed_demo creates them; none: the head office),
    # so the branches' staff each see their own half (DESIGN.md "Offices").
    branches = list(
        Office.objects.filter(name__in=["North branch", "South branch"]).values_list(
            "pk", flat=True
        )
    )
    for person in people:
        person.office_id = branches[person.n % len(branches)] if branches else None
    plans = _plan_applications(rng, people, loans, products, (officer, officer2, admin), today)

    # One transaction: a run that fails half way leaves nothing (and a rerun starts afresh);
    # on SQLite it also spares a commit per step.
    with transaction.atomic(), history_clock() as clock:
        timeline = _Timeline(clock, today)
        cash = _Cashier(timeline, today, cashier)
        # The staff were there before the branch's first day.
        User.objects.filter(
            pk__in=[officer.pk, officer2.pk, admin.pk, cashier.pk], date_joined__gt=_at(opened, 8)
        ).update(date_joined=_at(opened, 8))
        timeline.at(_at(opened, 9), lambda: _opening_capital(admin, opened))
        for person in sorted(people, key=lambda p: (p.registered_on, p.n)):
            assert person.registered_on is not None
            timeline.at(_office_hours(rng, person.registered_on, 8, 10), _register(rng, person))
        for plan in plans:
            _tell(timeline, cash, rng, plan, admin)
        disbursed = [p.decided_on for p in plans if p.kind in ("active", "custom", "written_off")]
        timeline.close_from = min((d for d in disbursed if d is not None), default=None)
        settle_on = today - timedelta(days=rng.randint(1, 5))
        timeline.at(
            _at(settle_on, 14, rng.randint(0, 59)),
            lambda: cash.settle_one([p.loan.pk for p in plans if p.loan is not None]),
        )
        timeline.run()

    registered = [p.registered_on for p in people if p.registered_on is not None]
    stdout.write(
        f"Demo data: {len(people)} borrowers, registered from {min(registered):%d %b %Y} "
        f"to {max(registered):%d %b %Y}."
    )
    _summary(plans, stdout)
    repaid = Loan.objects.filter(
        pk__in=[p.loan.pk for p in plans if p.loan is not None], status=Loan.Status.CLOSED
    ).count()
    stdout.write(
        f"Demo data: {len(cash.recorded) + cash.settled} repayments ({repaid} loans repaid "
        f"in full, of which {cash.settled} settled early; {cash.reversed} reversed)."
    )
    if timeline.closed:
        stdout.write(
            f"Demo data: daily close run for each of the {len(timeline.closed)} days from "
            f"{timeline.closed[0]:%d %b %Y} to {timeline.closed[-1]:%d %b %Y}: "
            f"{timeline.penalties} late penalties ({timeline.penalty_total:,.2f}) on "
            f"{len(timeline.penalised)} loans (today is not over: `manage.py close_day` closes it)."
        )


def _register(rng: random.Random, person: _Person) -> Step:
    assert person.registered_on is not None
    fields = _borrower_fields(rng, person.n, person.registered_on)

    def step() -> None:
        person.borrower = borrower_create(
            user=person.registrar, office_id=person.office_id, **fields
        )

    return step


def _tell(
    timeline: _Timeline, cash: _Cashier, rng: random.Random, plan: _Application, admin: User
) -> None:
    """Put one application's steps on the timeline."""

    def submit() -> None:
        assert plan.person.borrower is not None
        plan.loan = loan_submit(
            user=plan.submitter,
            borrower=plan.person.borrower,
            product=plan.product,
            purpose=plan.purpose,
            **plan.terms,
        )

    def approve() -> None:
        assert plan.loan is not None
        plan.loan = loan_approve(
            loan=plan.loan, user=plan.approver, disbursement_date=timezone.localdate()
        )
        cash.plan(plan.loan, "silent" if plan.kind == "written_off" else None)

    def reject() -> None:
        assert plan.loan is not None
        plan.loan = loan_reject(
            loan=plan.loan, user=plan.approver, reason=rng.choice(REJECT_REASONS)
        )

    def withdraw() -> None:
        assert plan.loan is not None
        plan.loan = loan_withdraw(
            loan=plan.loan, user=plan.submitter, reason="The borrower no longer needs the loan."
        )

    def write_off() -> None:
        assert plan.loan is not None
        plan.loan = loan_write_off(
            loan=Loan.objects.get(pk=plan.loan.pk),
            user=admin,
            reason="Borrower relocated; no payments for more than 180 days.",
        )

    timeline.at(_office_hours(rng, plan.submitted_on, 11, 16), submit)
    decide = {"rejected": reject, "withdrawn": withdraw}.get(plan.kind, approve)
    if plan.decided_on is not None:
        timeline.at(_office_hours(rng, plan.decided_on, 9, 16), decide)
    if plan.written_off_on is not None:
        timeline.at(_at(plan.written_off_on, 15, rng.randint(0, 59)), write_off)


def _summary(plans: list[_Application], stdout: Any) -> None:
    """Loans by status, then how many of them are on custom terms."""
    ids = [p.loan.pk for p in plans if p.loan is not None]
    if not ids:
        stdout.write("Demo data: no loans.")
        return
    counts = dict(
        Loan.objects.filter(pk__in=ids).values_list("status").annotate(n=Count("pk")).order_by()
    )
    by_status = ", ".join(
        f"{counts[value]} {label.lower()}"
        for value, label in Loan.Status.choices
        if value in counts
    )
    stdout.write(f"Demo data: {len(ids)} loans by status: {by_status}.")
    custom = sum(1 for p in plans if p.loan is not None and p.product is None)
    if custom:
        stdout.write(
            f"Demo data: of these {len(ids)} loans, {custom} are on custom terms (no loan product)."
        )
