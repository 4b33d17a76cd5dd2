"""Reads for the dashboard and the reports, computed with database aggregates.

Every function here runs a fixed number of queries whatever the portfolio size (the dashboard
nine, each report one to three); none loops over loans or installments in Python beyond the
rows it returns.

Definitions (DESIGN.md "Dashboard and reports", written down where the spec is silent):

- *active principal*: principal of active loans; *outstanding*: what active loans owe as of
  today, by component (principal outstanding, interest, fees and penalties due to date; see
  `reporting.portfolio`, which also defines PAR and the aging buckets).
- *collected this month*: non-reversed repayments with `paid_on` from the 1st of this month to
  today.
- *days past due* of a loan: today - due date of its oldest installment not paid in full whose
  due date has passed. Computed from the installments at read time (not from
  `Loan.days_past_due`, which the daily close records), so the figures are right on the day
  whether or not the close has run yet.
- *PAR30*: principal outstanding of active loans more than 30 days past due, as an amount and
  as a percent of the principal outstanding of all active loans (never interest not yet due).
- *aging buckets*: current (0), 1-30, 31-60, 61-90, 90+ (91 days and more) days past due by
  default (an Admin sets the limits: `reporting.models.AgingSettings`), with
  the number of active loans, their outstanding by component and the bucket's share of the
  principal outstanding of all active loans.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any, cast

from django.core.cache import cache
from django.db.models import (
    Count,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.utils import timezone

from accounts.offices import scope, scope_key
from lending.models import Borrower, Installment, Loan, LoanTransaction, Repayment
from lending.receivers import DASHBOARD_CACHE_KEY, portfolio_generation
from lending.selectors.status import (
    INSTALLMENT_REMAINING,
    MONEY,
    PAR_DAYS,
    ZERO,
    Outstanding,
    balance_subqueries,
    late_installments,
    money,
    oldest_overdue_date,
    unpaid_installments,
)
from reporting.models import AgingSettings
from reporting.portfolio import (
    COMPONENTS,
    PortfolioBalances,
    ProductPar,
    percent,
    portfolio_balances,
)

ACTIVE = Loan.Status.ACTIVE
DISBURSED_STATUSES = [Loan.Status.ACTIVE, Loan.Status.CLOSED, Loan.Status.WRITTEN_OFF]
CHART_DAYS = 7
DASHBOARD_LIST_LIMIT = 10
DASHBOARD_CACHE_SECONDS = 600


@dataclass(frozen=True)
class Narrow:
    """The dashboard's and the reports' filter within the user's scope (DESIGN.md "Offices,
    loan officers, holidays and origination"): one office with the offices under it, and one
    loan officer (the loans assigned to them, their borrowers). Empty: everything in scope.
    Applying it adds no query (a condition on the office's path, joined)."""

    office_id: int | None = None
    office_path: str = ""
    officer_id: int | None = None

    def __bool__(self) -> bool:
        return bool(self.office_path or self.officer_id)

    def key(self) -> str:
        """A cache key part: "" when empty."""
        return f"o{self.office_id or ''}u{self.officer_id or ''}" if self else ""

    def apply(self, qs: QuerySet[Any], loan: str = "") -> QuerySet[Any]:
        """`qs` narrowed; `loan` is the path to the loan ("loan__"; "" for loans and
        borrowers, whose `office` and `officer` fields have the same names)."""
        if self.office_path:
            qs = qs.filter(**{f"{loan}office__path__startswith": self.office_path})
        if self.officer_id:
            qs = qs.filter(**{f"{loan}officer_id": self.officer_id})
        return qs


NO_FILTER = Narrow()


def _not_reversed(user: Any = None, narrow: Narrow = NO_FILTER) -> QuerySet[Repayment]:
    repayments = Repayment.objects.filter(reversed_at__isnull=True)
    return narrow.apply(_scoped(repayments, user, "loan__office"), "loan__")


def _scoped(qs: QuerySet[Any], user: Any, field: str = "office") -> QuerySet[Any]:
    """The rows of the user's offices (DESIGN.md "Offices"); every row without a user (a
    command's or the API summary's caller is always given)."""
    return qs if user is None else scope(qs, user, field)


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
    balance: Outstanding = field(default_factory=Outstanding)  # by component; total = outstanding
    par_by_product: list[ProductPar] = field(default_factory=list)

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
            "outstanding_by_component": self.balance.as_dict(),
            "par_by_product": [
                {
                    "product_id": p.product_id,
                    "product": p.name,
                    "active_loans": p.loans,
                    "principal_outstanding": str(p.outstanding.principal),
                    "outstanding": str(p.outstanding.total),
                    "par30": str(p.par30),
                    "par30_percent": str(p.par30_percent),
                }
                for p in self.par_by_product
            ],
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


def dashboard_figures(
    *, today: date | None = None, user: Any = None, narrow: Narrow = NO_FILTER
) -> DashboardFigures:
    """The dashboard's numbers in seven queries (two more for the lists below), of the
    user's offices (narrowed to one office or officer by `narrow`)."""
    today = today or timezone.localdate()
    by_status = {s.value: 0 for s in Loan.Status}
    active_principal = ZERO
    loans = narrow.apply(_scoped(Loan.objects.all(), user))
    for row in loans.order_by().values("status").annotate(n=Count("pk"), p=Sum("principal")):
        by_status[row["status"]] = row["n"]
        if row["status"] == ACTIVE:
            active_principal = money(row["p"])
    balances = portfolio_balances(today=today, loans=loans, by_product=True)

    first_day = today - timedelta(days=CHART_DAYS - 1)
    month_start = today.replace(day=1)
    repayments = _not_reversed(user, narrow).filter(paid_on__lte=today)
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
        narrow.apply(_scoped(unpaid_installments(), user, "loan__office"), "loan__")
        .filter(due_date=today, loan__status=ACTIVE)
        .aggregate(n=Count("pk"), amount=Sum(INSTALLMENT_REMAINING))
    )
    balance = balances.total.outstanding
    return DashboardFigures(
        as_of=today,
        total_borrowers=narrow.apply(_scoped(Borrower.objects.all(), user)).count(),
        total_loans=sum(by_status.values()),
        active_loans=by_status[ACTIVE],
        overdue_loans=balances.overdue_loans,
        active_principal=active_principal,
        outstanding=balance.total,
        collected_this_month=money(collected),
        par30=balances.par30,
        par30_percent=balances.par30_percent,
        loans_by_status=by_status,
        repayments_last_7_days=daily,
        due_today_count=due["n"],
        due_today_amount=money(due["amount"]),
        balance=balance,
        par_by_product=balances.by_product,
    )


@dataclass(frozen=True)
class Dashboard:
    figures: DashboardFigures
    due_today: list[Installment]
    overdue_loans: list[Loan]
    generation: str = ""  # the portfolio generation it was computed under


def dashboard(
    *, today: date | None = None, user: Any = None, narrow: Narrow = NO_FILTER
) -> Dashboard:
    """Everything the dashboard shows, from the cache when nothing changed since it was
    computed. Any loan change (posting, reversal, transition, daily close) or borrower change
    renews the portfolio generation (`lending.receivers`), which a cached copy must match
    (read before the figures, so a copy computed across a change is never served), and a new
    day recomputes it; the cache only spares the aggregates on every page view. Each office
    subtree has its own copy (a branch sees its own figures, the head office everyone's), and
    so has each filter (`narrow`)."""
    today = today or timezone.localdate()
    generation = portfolio_generation()
    key = DASHBOARD_CACHE_KEY if user is None else f"{DASHBOARD_CACHE_KEY}:{scope_key(user)}"
    if narrow:
        key = f"{key}:{narrow.key()}"
    cached = cache.get(key)
    if cached is not None and cached.figures.as_of == today and cached.generation == generation:
        return cast(Dashboard, cached)
    fresh = Dashboard(
        figures=dashboard_figures(today=today, user=user, narrow=narrow),
        due_today=installments_due_today(today=today, user=user, narrow=narrow),
        overdue_loans=most_overdue_loans(today=today, user=user, narrow=narrow),
        generation=generation,
    )
    cache.set(key, fresh, DASHBOARD_CACHE_SECONDS)
    return fresh


def installments_due_today(
    *,
    today: date | None = None,
    limit: int = DASHBOARD_LIST_LIMIT,
    user: Any = None,
    narrow: Narrow = NO_FILTER,
) -> list[Installment]:
    """Unpaid installments of active loans due today (one query), each with `remaining`."""
    today = today or timezone.localdate()
    rows: list[Installment] = list(
        narrow.apply(_scoped(unpaid_installments(), user, "loan__office"), "loan__")
        .filter(due_date=today, loan__status=ACTIVE)
        .select_related("loan", "loan__borrower")
        .annotate(remaining_amount=INSTALLMENT_REMAINING)
        .order_by("loan__borrower__full_name", "loan_id")[:limit]
    )
    for row in rows:
        row.remaining_amount = money(row.remaining_amount)  # type: ignore[attr-defined]
    return rows


def most_overdue_loans(
    *,
    today: date | None = None,
    limit: int = DASHBOARD_LIST_LIMIT,
    user: Any = None,
    narrow: Narrow = NO_FILTER,
) -> list[Loan]:
    """Active loans past due, oldest first, each with `oldest_overdue`, `overdue_amount` and
    `dpd` (days past due). Two queries: the oldest late installment of every loan in one
    grouped pass over the late installments (a subquery per active loan was seconds on a
    large portfolio), then the `limit` loans shown with their borrowers and amounts."""
    today = today or timezone.localdate()
    loans = narrow.apply(_scoped(Loan.objects.filter(status=ACTIVE), user))
    oldest = {
        row["loan_id"]: row["d"]
        for row in late_installments()
        .filter(due_date__lt=today, loan__in=loans.values("pk"))
        .order_by()
        .values("loan_id")
        .annotate(d=Min("due_date"))
        .order_by("d", "loan_id")[:limit]
    }
    if not oldest:
        return []
    rows: list[Loan] = list(
        Loan.objects.filter(pk__in=oldest)
        .annotate(
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
        .select_related("borrower")
    )
    for loan in rows:
        loan.oldest_overdue = oldest[loan.pk]  # type: ignore[attr-defined]
        loan.dpd = (today - loan.oldest_overdue).days  # type: ignore[attr-defined]
        loan.overdue_amount = money(loan.overdue_amount)  # type: ignore[attr-defined]
    rows.sort(key=lambda loan: (loan.oldest_overdue, loan.pk))  # type: ignore[attr-defined]
    return rows


# --- portfolio aging ---------------------------------------------------------------------

AgingReport = PortfolioBalances


def aging_report(
    *,
    today: date | None = None,
    disbursed_from: date | None = None,
    disbursed_to: date | None = None,
    user: Any = None,
    narrow: Narrow = NO_FILTER,
    offices: list[tuple[int, str]] | None = None,
) -> AgingReport:
    """Active loans by days past due (the buckets an Admin set), as of today, with their
    outstanding by component, PAR at each bucket's lower limit, PAR30 by product and, given
    `offices` (id, name: the user's, as the filter read them), PAR30 by office (three
    queries: the limits, the product names, the grouped sums).

    The optional range narrows the portfolio to loans disbursed in it (a vintage view)."""
    loans = narrow.apply(_scoped(Loan.objects.all(), user))
    if disbursed_from:
        loans = loans.filter(disbursement_date__gte=disbursed_from)
    if disbursed_to:
        loans = loans.filter(disbursement_date__lte=disbursed_to)
    limits = AgingSettings.current_limits()
    return portfolio_balances(
        today=today, loans=loans, by_product=True, limits=limits, by_office=offices
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


def collections_report(
    *, date_from: date, date_to: date, user: Any = None, narrow: Narrow = NO_FILTER
) -> CollectionsReport:
    """Money received (non-reversed repayments by `paid_on`) per day and method, every day of
    the range listed (zero when nothing came in), and how it was allocated (two queries)."""
    methods = list(Repayment.Method.choices)
    rows = (
        _not_reversed(user, narrow)
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
    components = narrow.apply(
        _scoped(
            LoanTransaction.objects.filter(
                kind=LoanTransaction.Kind.REPAYMENT,
                reversed_at__isnull=True,
                value_date__range=(date_from, date_to),
            ),
            user,
            "loan__office",
        ),
        "loan__",
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


def disbursed_loans(
    *, date_from: date, date_to: date, user: Any = None, narrow: Narrow = NO_FILTER
) -> QuerySet[Loan]:
    """Loans disbursed in the range (approved; whatever their status now), oldest first."""
    return (
        narrow.apply(_scoped(Loan.objects.all(), user))
        .filter(status__in=DISBURSED_STATUSES, disbursement_date__range=(date_from, date_to))
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
    balance: Outstanding  # of the active loans, by component
    overdue_loans: int
    par30: Decimal  # principal outstanding of active loans more than 30 days past due

    @property
    def outstanding(self) -> Decimal:
        return self.balance.total

    @property
    def par30_percent(self) -> Decimal:
        return percent(self.par30, self.balance.principal)


@dataclass(frozen=True)
class OfficersReport:
    date_from: date
    date_to: date
    rows: list[OfficerRow]
    total: OfficerRow


def officers_report(
    *,
    date_from: date,
    date_to: date,
    today: date | None = None,
    user: Any = None,
    narrow: Narrow = NO_FILTER,
) -> OfficersReport:
    """Per loan officer they are assigned to (their portfolio): the loans submitted in the
    range, what became of them, and how the active ones are doing today, their outstanding
    by component and PAR30 on principal outstanding (one query; each loan's balance is a
    correlated subquery)."""
    today = today or timezone.localdate()
    start, end = _day_bounds(date_from, date_to)
    active = Q(status=ACTIVE)
    par30 = active & Q(bal_oldest__lt=today - timedelta(days=PAR_DAYS))
    rows = (
        narrow.apply(_scoped(Loan.objects.all(), user))
        .filter(submitted_at__gte=start, submitted_at__lt=end)
        .annotate(bal_oldest=oldest_overdue_date(today), **balance_subqueries(today, prefix="bal_"))
        .order_by()
        .values(
            "officer_id",
            "officer__username",
            "officer__first_name",
            "officer__last_name",
        )
        .annotate(
            applications=Count("pk"),
            # Approved: disbursed since, or waiting for its money (a two-step product).
            approved=Count("pk", filter=Q(status__in=[*DISBURSED_STATUSES, Loan.Status.APPROVED])),
            rejected=Count("pk", filter=Q(status=Loan.Status.REJECTED)),
            pending=Count("pk", filter=Q(status=Loan.Status.PENDING)),
            disbursed_sum=Sum("principal", filter=Q(status__in=DISBURSED_STATUSES)),
            active_loans=Count("pk", filter=active),
            **{
                f"{c}_sum": Sum(f"bal_{c}", filter=active, output_field=MONEY)
                for c in (*COMPONENTS, "later")
            },
            overdue_loans=Count("pk", filter=active & Q(bal_oldest__isnull=False)),
            par30_sum=Sum("bal_principal", filter=par30, output_field=MONEY),
        )
    )
    out = []
    for r in rows:
        name = f"{r['officer__first_name'] or ''} {r['officer__last_name'] or ''}".strip()
        out.append(
            OfficerRow(
                user_id=r["officer_id"] or 0,
                name=name or r["officer__username"] or "Nobody (unassigned)",
                username=r["officer__username"] or "",
                applications=r["applications"],
                approved=r["approved"],
                rejected=r["rejected"],
                pending=r["pending"],
                principal_disbursed=money(r["disbursed_sum"]),
                active_loans=r["active_loans"],
                balance=Outstanding(
                    principal=money(r["principal_sum"]),
                    interest=money(r["interest_sum"]),
                    fees=money(r["fees_sum"]),
                    penalties=money(r["penalties_sum"]),
                    not_yet_due=money(r["later_sum"]),
                ),
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
        balance=sum((r.balance for r in out), Outstanding()),
        overdue_loans=sum(r.overdue_loans for r in out),
        par30=sum((r.par30 for r in out), ZERO),
    )
    return OfficersReport(date_from=date_from, date_to=date_to, rows=out, total=total)
