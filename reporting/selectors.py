"""Reads for the dashboard and the reports, computed with database aggregates.

Every function here runs a fixed number of queries whatever the portfolio size (the dashboard
eight, each report one to three); none loops over loans or installments in Python beyond the
rows it returns.

Definitions (DESIGN.md "Dashboard and reports", written down where the spec is silent):

- *active principal*: principal of active loans; *outstanding*: `Loan.outstanding` of active
  loans (principal, interest, fees and penalties still to be repaid).
- *collected this month*: non-reversed repayments with `paid_on` from the 1st of this month to
  today.
- *days past due* of a loan: today - due date of its oldest installment not paid in full whose
  due date has passed. Computed from the installments at read time (not from
  `Loan.days_past_due`, which the daily close records), so the figures are right on the day
  whether or not the close has run yet.
- *PAR30*: outstanding of active loans more than 30 days past due, as an amount and as a percent
  of the outstanding of all active loans.
- *aging buckets*: current (0), 1-30, 31-60, 61-90, 90+ (91 days and more) days past due, with
  the number of active loans, their outstanding principal (principal - principal paid) and the
  bucket's share of the outstanding principal of all active loans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from django.core.cache import cache
from django.db.models import (
    Case,
    CharField,
    Count,
    F,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils import timezone

from lending.models import Borrower, Installment, Loan, LoanTransaction, Repayment
from lending.receivers import DASHBOARD_CACHE_KEY, portfolio_generation
from lending.selectors.status import (
    INSTALLMENT_REMAINING,
    MONEY,
    ZERO,
    money,
    oldest_overdue_date,
    overdue_exists,
    unpaid_installments,
)

ACTIVE = Loan.Status.ACTIVE
DISBURSED_STATUSES = [Loan.Status.ACTIVE, Loan.Status.CLOSED, Loan.Status.WRITTEN_OFF]
PAR_DAYS = 30
CHART_DAYS = 7
DASHBOARD_LIST_LIMIT = 10
DASHBOARD_CACHE_SECONDS = 600


def percent(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole in percent, to two decimals; 0 when whole is 0."""
    if not whole:
        return Decimal("0.00")
    return (part * 100 / whole).quantize(Decimal("0.01"))


def _not_reversed() -> QuerySet[Repayment]:
    return Repayment.objects.filter(reversed_at__isnull=True)


def _day_bounds(date_from: date, date_to: date) -> tuple[datetime, datetime]:
    """A date range as aware datetimes [start of date_from, start of the day after date_to)."""
    tz = timezone.get_current_timezone()
    start = timezone.make_aware(datetime.combine(date_from, time.min), tz)
    end = timezone.make_aware(datetime.combine(date_to + timedelta(days=1), time.min), tz)
    return start, end


def _days(date_from: date, date_to: date) -> list[date]:
    return [date_from + timedelta(days=i) for i in range((date_to - date_from).days + 1)]


# --- dashboard -----------------------------------------------------------------------------


@dataclass(frozen=True)
class DailyAmount:
    day: date
    amount: Decimal
    count: int


@dataclass(frozen=True)
class DashboardFigures:
    as_of: date
    total_borrowers: int
    total_loans: int
    active_loans: int
    overdue_loans: int
    active_principal: Decimal
    outstanding: Decimal
    collected_this_month: Decimal
    par30: Decimal
    par30_percent: Decimal
    loans_by_status: dict[str, int]
    repayments_last_7_days: list[DailyAmount]
    due_today_count: int
    due_today_amount: Decimal

    def summary(self) -> dict[str, Any]:
        """The API's `GET /api/reports/summary` shape: amounts as decimal strings."""
        return {
            "as_of": self.as_of.isoformat(),
            "total_borrowers": self.total_borrowers,
            "total_loans": self.total_loans,
            "active_principal": str(self.active_principal),
            "outstanding": str(self.outstanding),
            "collected_this_month": str(self.collected_this_month),
            "par30": str(self.par30),
            "par30_percent": str(self.par30_percent),
            "loans_by_status": dict(self.loans_by_status),
            "repayments_last_7_days": [
                {"date": d.day.isoformat(), "amount": str(d.amount)}
                for d in self.repayments_last_7_days
            ],
        }

    def chart_data(self, *, currency: str) -> dict[str, Any]:
        """What static/js/dashboard.js draws (via json_script). Amounts stay decimal strings;
        the script turns them into numbers only to size the bars."""
        return {
            "currency": currency,
            "loans_by_status": {
                "keys": list(self.loans_by_status),
                "labels": [Loan.Status(k).label for k in self.loans_by_status],
                "counts": list(self.loans_by_status.values()),
            },
            "repayments_last_7_days": {
                "dates": [d.day.isoformat() for d in self.repayments_last_7_days],
                "labels": [d.day.strftime("%a %d %b") for d in self.repayments_last_7_days],
                "amounts": [str(d.amount) for d in self.repayments_last_7_days],
                "counts": [d.count for d in self.repayments_last_7_days],
            },
        }


def dashboard_figures(*, today: date | None = None) -> DashboardFigures:
    """The dashboard's numbers in six queries (two more for the lists below)."""
    today = today or timezone.localdate()
    active = Q(status=ACTIVE)
    loans = Loan.objects.aggregate(
        total_loans=Count("pk"),
        active_loans=Count("pk", filter=active),
        overdue_loans=Count("pk", filter=active & Q(overdue_exists(today))),
        active_principal_sum=Sum("principal", filter=active),
        outstanding_sum=Sum("outstanding", filter=active),
        par30_sum=Sum("outstanding", filter=active & Q(overdue_exists(today, days=PAR_DAYS))),
    )
    by_status = {s.value: 0 for s in Loan.Status}
    for row in Loan.objects.order_by().values("status").annotate(n=Count("pk")):
        by_status[row["status"]] = row["n"]

    first_day = today - timedelta(days=CHART_DAYS - 1)
    month_start = today.replace(day=1)
    repayments = _not_reversed().filter(paid_on__lte=today)
    collected = repayments.filter(paid_on__gte=month_start).aggregate(s=Sum("amount"))["s"]
    per_day = {
        row["paid_on"]: row
        for row in repayments.filter(paid_on__gte=first_day)
        .order_by()
        .values("paid_on")
        .annotate(amount=Sum("amount"), n=Count("pk"))
    }
    daily = [
        DailyAmount(
            day=day,
            amount=money(per_day[day]["amount"]) if day in per_day else ZERO,
            count=per_day[day]["n"] if day in per_day else 0,
        )
        for day in _days(first_day, today)
    ]
    due = (
        unpaid_installments()
        .filter(due_date=today, loan__status=ACTIVE)
        .aggregate(n=Count("pk"), amount=Sum(INSTALLMENT_REMAINING))
    )
    outstanding = money(loans["outstanding_sum"])
    par30 = money(loans["par30_sum"])
    return DashboardFigures(
        as_of=today,
        total_borrowers=Borrower.objects.count(),
        total_loans=loans["total_loans"],
        active_loans=loans["active_loans"],
        overdue_loans=loans["overdue_loans"],
        active_principal=money(loans["active_principal_sum"]),
        outstanding=outstanding,
        collected_this_month=money(collected),
        par30=par30,
        par30_percent=percent(par30, outstanding),
        loans_by_status=by_status,
        repayments_last_7_days=daily,
        due_today_count=due["n"],
        due_today_amount=money(due["amount"]),
    )


@dataclass(frozen=True)
class Dashboard:
    figures: DashboardFigures
    due_today: list[Installment]
    overdue_loans: list[Loan]
    generation: str = ""  # the portfolio generation it was computed under


def dashboard(*, today: date | None = None) -> Dashboard:
    """Everything the dashboard shows, from the cache when nothing changed since it was
    computed. Any loan change (posting, reversal, transition, daily close) or borrower change
    renews the portfolio generation (`lending.receivers`), which a cached copy must match
    (read before the figures, so a copy computed across a change is never served), and a new
    day recomputes it; the cache only spares the aggregates on every page view."""
    today = today or timezone.localdate()
    generation = portfolio_generation()
    cached = cache.get(DASHBOARD_CACHE_KEY)
    if cached is not None and cached.figures.as_of == today and cached.generation == generation:
        return cast(Dashboard, cached)
    fresh = Dashboard(
        figures=dashboard_figures(today=today),
        due_today=installments_due_today(today=today),
        overdue_loans=most_overdue_loans(today=today),
        generation=generation,
    )
    cache.set(DASHBOARD_CACHE_KEY, fresh, DASHBOARD_CACHE_SECONDS)
    return fresh


def installments_due_today(
    *, today: date | None = None, limit: int = DASHBOARD_LIST_LIMIT
) -> list[Installment]:
    """Unpaid installments of active loans due today (one query), each with `remaining`."""
    today = today or timezone.localdate()
    rows: list[Installment] = list(
        unpaid_installments()
        .filter(due_date=today, loan__status=ACTIVE)
        .select_related("loan", "loan__borrower")
        .annotate(remaining_amount=INSTALLMENT_REMAINING)
        .order_by("loan__borrower__full_name", "loan_id")[:limit]
    )
    for row in rows:
        row.remaining_amount = money(row.remaining_amount)  # type: ignore[attr-defined]
    return rows


def most_overdue_loans(
    *, today: date | None = None, limit: int = DASHBOARD_LIST_LIMIT
) -> list[Loan]:
    """Active loans past due, oldest first (one query), each with `oldest_overdue`,
    `overdue_amount` and `dpd` (days past due)."""
    today = today or timezone.localdate()
    rows: list[Loan] = list(
        Loan.objects.filter(status=ACTIVE)
        .annotate(
            oldest_overdue=oldest_overdue_date(today),
            overdue_amount=Subquery(
                unpaid_installments()
                .filter(loan_id=OuterRef("pk"), due_date__lt=today)
                .order_by()
                .values("loan_id")
                .annotate(s=Sum(INSTALLMENT_REMAINING))
                .values("s")[:1],
                output_field=MONEY,
            ),
        )
        .filter(oldest_overdue__isnull=False)
        .select_related("borrower")
        .order_by("oldest_overdue", "pk")[:limit]
    )
    for loan in rows:
        loan.dpd = (today - loan.oldest_overdue).days  # type: ignore[attr-defined]
        loan.overdue_amount = money(loan.overdue_amount)  # type: ignore[attr-defined]
    return rows


# --- portfolio aging ---------------------------------------------------------------------

AGING_BUCKETS: list[tuple[str, str]] = [
    ("current", "Current (not past due)"),
    ("1-30", "1\N{EN DASH}30 days"),
    ("31-60", "31\N{EN DASH}60 days"),
    ("61-90", "61\N{EN DASH}90 days"),
    ("90+", "90+ days"),
]


@dataclass(frozen=True)
class AgingRow:
    key: str
    label: str
    loans: int
    principal_outstanding: Decimal
    outstanding: Decimal
    share: Decimal  # percent of the principal outstanding of all active loans


@dataclass(frozen=True)
class AgingReport:
    as_of: date
    rows: list[AgingRow]
    total: AgingRow
    at_risk: AgingRow  # every bucket past due (1 day or more)


def aging_report(
    *,
    today: date | None = None,
    disbursed_from: date | None = None,
    disbursed_to: date | None = None,
) -> AgingReport:
    """Active loans by days past due, as of today (one query, grouped in the database).

    The optional range narrows the portfolio to loans disbursed in it (a vintage view)."""
    today = today or timezone.localdate()
    loans = Loan.objects.filter(status=ACTIVE)
    if disbursed_from:
        loans = loans.filter(disbursement_date__gte=disbursed_from)
    if disbursed_to:
        loans = loans.filter(disbursement_date__lte=disbursed_to)
    oldest = oldest_overdue_date(today)
    principal_paid = Subquery(
        Installment.objects.filter(loan_id=OuterRef("pk"))
        .order_by()
        .values("loan_id")
        .annotate(s=Sum("principal_paid"))
        .values("s")[:1],
        output_field=MONEY,
    )
    rows = (
        loans.annotate(
            oldest=oldest,
            principal_left=F("principal")
            - Coalesce(principal_paid, Value(ZERO), output_field=MONEY),
        )
        .annotate(
            bucket=Case(
                When(oldest__isnull=True, then=Value("current")),
                When(oldest__gte=today - timedelta(days=30), then=Value("1-30")),
                When(oldest__gte=today - timedelta(days=60), then=Value("31-60")),
                When(oldest__gte=today - timedelta(days=90), then=Value("61-90")),
                default=Value("90+"),
                output_field=CharField(),
            )
        )
        .order_by()
        .values("bucket")
        .annotate(
            n=Count("pk"),
            principal_sum=Sum("principal_left", output_field=MONEY),
            outstanding_sum=Sum("outstanding"),
        )
    )
    found = {row["bucket"]: row for row in rows}
    total_principal = sum((money(r["principal_sum"]) for r in found.values()), ZERO)

    def row_for(key: str, label: str) -> AgingRow:
        r = found.get(key, {})
        principal = money(r.get("principal_sum"))
        return AgingRow(
            key=key,
            label=label,
            loans=r.get("n", 0),
            principal_outstanding=principal,
            outstanding=money(r.get("outstanding_sum")),
            share=percent(principal, total_principal),
        )

    bucket_rows = [row_for(key, label) for key, label in AGING_BUCKETS]

    def combined(key: str, label: str, parts: list[AgingRow]) -> AgingRow:
        principal = sum((p.principal_outstanding for p in parts), ZERO)
        return AgingRow(
            key=key,
            label=label,
            loans=sum(p.loans for p in parts),
            principal_outstanding=principal,
            outstanding=sum((p.outstanding for p in parts), ZERO),
            share=percent(principal, total_principal),
        )

    return AgingReport(
        as_of=today,
        rows=bucket_rows,
        total=combined("total", "All active loans", bucket_rows),
        at_risk=combined("past_due", "Past due (1 day or more)", bucket_rows[1:]),
    )


# --- collections -----------------------------------------------------------------------------


@dataclass(frozen=True)
class CollectionsDay:
    day: date
    count: int
    by_method: dict[str, Decimal]
    total: Decimal


@dataclass(frozen=True)
class CollectionsMethod:
    method: str
    label: str
    count: int
    amount: Decimal
    share: Decimal  # percent of the range's total


@dataclass(frozen=True)
class CollectionsReport:
    date_from: date
    date_to: date
    methods: list[tuple[str, str]]
    days: list[CollectionsDay]
    by_method: list[CollectionsMethod]
    count: int
    total: Decimal
    components: dict[str, Decimal] = field(default_factory=dict)

    @property
    def fees_and_penalties(self) -> Decimal:
        return self.components.get("fees", ZERO) + self.components.get("penalties", ZERO)


def collections_report(*, date_from: date, date_to: date) -> CollectionsReport:
    """Money received (non-reversed repayments by `paid_on`) per day and method, every day of
    the range listed (zero when nothing came in), and how it was allocated (two queries)."""
    methods = list(Repayment.Method.choices)
    rows = (
        _not_reversed()
        .filter(paid_on__range=(date_from, date_to))
        .order_by()
        .values("paid_on", "method")
        .annotate(n=Count("pk"), amount=Sum("amount"))
    )
    cells: dict[tuple[date, str], tuple[int, Decimal]] = {}
    for row in rows:
        cells[(row["paid_on"], row["method"])] = (row["n"], money(row["amount"]))
    days = []
    for day in _days(date_from, date_to):
        amounts = {m: cells.get((day, m), (0, ZERO))[1] for m, _ in methods}
        days.append(
            CollectionsDay(
                day=day,
                count=sum(cells.get((day, m), (0, ZERO))[0] for m, _ in methods),
                by_method=amounts,
                total=sum(amounts.values(), ZERO),
            )
        )
    amounts = {
        m: sum((a for (_, mm), (_, a) in cells.items() if mm == m), ZERO) for m, _ in methods
    }
    total = sum(amounts.values(), ZERO)
    by_method = [
        CollectionsMethod(
            method=m,
            label=label,
            count=sum(n for (_, mm), (n, _) in cells.items() if mm == m),
            amount=amounts[m],
            share=percent(amounts[m], total),
        )
        for m, label in methods
    ]
    components = LoanTransaction.objects.filter(
        kind=LoanTransaction.Kind.REPAYMENT,
        reversed_at__isnull=True,
        value_date__range=(date_from, date_to),
    ).aggregate(
        principal_sum=Sum("principal"),
        interest_sum=Sum("interest"),
        fees_sum=Sum("fees"),
        penalties_sum=Sum("penalties"),
    )
    return CollectionsReport(
        date_from=date_from,
        date_to=date_to,
        methods=methods,
        days=days,
        by_method=by_method,
        count=sum(m.count for m in by_method),
        total=total,
        components={k.removesuffix("_sum"): money(v) for k, v in components.items()},
    )


# --- disbursements ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DisbursementTotals:
    count: int
    principal: Decimal
    total_repayable: Decimal


def disbursed_loans(*, date_from: date, date_to: date) -> QuerySet[Loan]:
    """Loans disbursed in the range (approved; whatever their status now), oldest first."""
    return (
        Loan.objects.filter(
            status__in=DISBURSED_STATUSES, disbursement_date__range=(date_from, date_to)
        )
        .select_related("borrower", "product", "submitted_by", "decided_by")
        .order_by("disbursement_date", "number")
    )


def disbursement_totals(loans: QuerySet[Loan]) -> DisbursementTotals:
    totals = loans.order_by().aggregate(
        n=Count("pk"), principal_sum=Sum("principal"), repayable=Sum("total_repayable")
    )
    return DisbursementTotals(
        count=totals["n"],
        principal=money(totals["principal_sum"]),
        total_repayable=money(totals["repayable"]),
    )


# --- loans by officer ------------------------------------------------------------------------


@dataclass(frozen=True)
class OfficerRow:
    user_id: int
    name: str
    username: str
    applications: int
    approved: int
    rejected: int
    pending: int
    principal_disbursed: Decimal
    active_loans: int
    outstanding: Decimal
    overdue_loans: int
    par30: Decimal

    @property
    def par30_percent(self) -> Decimal:
        return percent(self.par30, self.outstanding)


@dataclass(frozen=True)
class OfficersReport:
    date_from: date
    date_to: date
    rows: list[OfficerRow]
    total: OfficerRow


def officers_report(*, date_from: date, date_to: date, today: date | None = None) -> OfficersReport:
    """Per officer who submitted them: the loans submitted in the range, what became of them,
    and how the active ones are doing today (one query)."""
    today = today or timezone.localdate()
    start, end = _day_bounds(date_from, date_to)
    active = Q(status=ACTIVE)
    rows = (
        Loan.objects.filter(submitted_at__gte=start, submitted_at__lt=end)
        .order_by()
        .values(
            "submitted_by_id",
            "submitted_by__username",
            "submitted_by__first_name",
            "submitted_by__last_name",
        )
        .annotate(
            applications=Count("pk"),
            approved=Count("pk", filter=Q(status__in=DISBURSED_STATUSES)),
            rejected=Count("pk", filter=Q(status=Loan.Status.REJECTED)),
            pending=Count("pk", filter=Q(status=Loan.Status.PENDING)),
            principal_sum=Sum("principal", filter=Q(status__in=DISBURSED_STATUSES)),
            active_loans=Count("pk", filter=active),
            outstanding_sum=Sum("outstanding", filter=active),
            overdue_loans=Count("pk", filter=active & Q(overdue_exists(today))),
            par30_sum=Sum("outstanding", filter=active & Q(overdue_exists(today, days=PAR_DAYS))),
        )
    )
    out = []
    for r in rows:
        name = f"{r['submitted_by__first_name']} {r['submitted_by__last_name']}".strip()
        out.append(
            OfficerRow(
                user_id=r["submitted_by_id"],
                name=name or r["submitted_by__username"],
                username=r["submitted_by__username"],
                applications=r["applications"],
                approved=r["approved"],
                rejected=r["rejected"],
                pending=r["pending"],
                principal_disbursed=money(r["principal_sum"]),
                active_loans=r["active_loans"],
                outstanding=money(r["outstanding_sum"]),
                overdue_loans=r["overdue_loans"],
                par30=money(r["par30_sum"]),
            )
        )
    out.sort(key=lambda row: (row.name.lower(), row.user_id))
    total = OfficerRow(
        user_id=0,
        name="All officers",
        username="",
        applications=sum(r.applications for r in out),
        approved=sum(r.approved for r in out),
        rejected=sum(r.rejected for r in out),
        pending=sum(r.pending for r in out),
        principal_disbursed=sum((r.principal_disbursed for r in out), ZERO),
        active_loans=sum(r.active_loans for r in out),
        outstanding=sum((r.outstanding for r in out), ZERO),
        overdue_loans=sum(r.overdue_loans for r in out),
        par30=sum((r.par30 for r in out), ZERO),
    )
    return OfficersReport(date_from=date_from, date_to=date_to, rows=out, total=total)
