"""What the active portfolio owes, by component, by days past due and by product: one query.

Definitions (DESIGN.md "Dashboard and reports" and "Charges, penalties and delinquency"; where
the spec is silent the choice is written here and in README "Portfolio figures"):

- *principal outstanding* of a loan: principal lent - principal repaid (every installment).
- *interest due*: interest of the installments due on or before today, less what was waived
  and paid of it. Interest of later installments is not owed yet (it is not earned under cash
  basis, and under accrual basis the part earned so far is the general ledger's interest
  receivable, shown in the trial balance): it is reported apart as *not yet due*, never in
  PAR or in the outstanding total.
- *fees* and *penalties*: charged and unpaid on installments due on or before today.
- *total outstanding* = principal outstanding + interest due + fees + penalties: what the
  borrower owes as of today.
- *days past due*: today - due date of the oldest installment not paid in full whose due date
  has passed (read from the installments, so it is right before the daily close has run).
- *PARn* = principal outstanding of active loans more than n days past due ÷ principal
  outstanding of all active loans. PAR1 and PARn at each aging bucket's lower limit (PAR30,
  PAR60, PAR90 with the default limits, which an Admin may change: `AgingSettings`); PAR30
  is counted on its own, whatever the limits.

The loan-level balances are one GROUP BY over the active loans' installments; every total,
bucket and product row is a conditional sum over those rows, in the same statement (Django
wraps the grouped query in a subquery when aggregating over its aggregates).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.db.models import Count, F, FilteredRelation, Min, Q, QuerySet, Sum
from django.utils import timezone

from lending.models import Installment, Loan, LoanProduct
from lending.selectors.status import MONEY, PAR_DAYS, ZERO, Outstanding, money
from reporting.models import DEFAULT_AGING_LIMITS

ACTIVE = Loan.Status.ACTIVE
PAID = Installment.Status.PAID
COMPONENTS = ("principal", "interest", "fees", "penalties")

Bucket = tuple[str, str, int | None]


def aging_buckets(limits: tuple[int, ...] = DEFAULT_AGING_LIMITS) -> list[Bucket]:
    """(key, label, more than this many days past due; None for the loans not past due), from
    the limits an Admin sets (`AgingSettings`): (30, 60, 90) gives current, 1-30, 31-60,
    61-90 and 90+."""
    buckets: list[Bucket] = [("current", "Current (not past due)", None)]
    lower = 0
    for limit in limits:
        buckets.append((f"{lower + 1}-{limit}", f"{lower + 1}\N{EN DASH}{limit} days", lower))
        lower = limit
    buckets.append((f"{lower}+", f"{lower}+ days", lower))
    return buckets


def percent(part: Decimal, whole: Decimal) -> Decimal:
    """part / whole in percent, to two decimals; 0 when whole is 0."""
    if not whole:
        return Decimal("0.00")
    return (part * 100 / whole).quantize(Decimal("0.01"))


@dataclass(frozen=True)
class AgingRow:
    key: str
    label: str
    loans: int
    outstanding: Outstanding
    share: Decimal  # percent of the principal outstanding of all active loans
    par: Decimal | None = None  # PARn at this bucket's lower limit (past-due buckets)
    par_days: int | None = None
    more_than: int | None = None  # days past due of the bucket's lower limit (None: current)
    last: bool = False  # the open-ended bucket (90+)

    @property
    def principal_outstanding(self) -> Decimal:
        return self.outstanding.principal


@dataclass(frozen=True)
class ProductPar:
    product_id: int | None
    name: str
    loans: int
    outstanding: Outstanding
    par30: Decimal  # principal outstanding of its loans more than 30 days past due
    loans_par30: int

    @property
    def par30_percent(self) -> Decimal:
        return percent(self.par30, self.outstanding.principal)


@dataclass(frozen=True)
class PortfolioBalances:
    as_of: date
    rows: list[AgingRow]  # the aging buckets
    total: AgingRow
    at_risk: AgingRow  # every bucket past due (1 day or more)
    by_product: list[ProductPar]
    par30: Decimal  # principal outstanding of active loans more than 30 days past due
    # PAR30 per office (`product_id` holds the office's id), when asked for
    by_office: list[ProductPar] = field(default_factory=list)

    def par(self, days: int) -> Decimal:
        """Principal outstanding of active loans more than `days` days past due, for `days`
        at a bucket's lower limit (0 is PAR1)."""
        rows = [r for r in self.rows if r.more_than is not None and r.more_than >= days]
        if not any(r.more_than == days for r in rows):
            raise ValueError(f"No aging bucket starts at more than {days} days past due.")
        return sum((r.outstanding.principal for r in rows), ZERO)

    @property
    def par30_percent(self) -> Decimal:
        return percent(self.par30, self.total.outstanding.principal)

    @property
    def overdue_loans(self) -> int:
        return self.at_risk.loans


def loan_balances(today: date, loans: QuerySet[Loan] | None = None) -> QuerySet[Loan]:
    """Active loans (of `loans`), each with its components outstanding as of `today`
    (`b_principal`, `b_interest`, `b_fees`, `b_penalties`), everything it still has to repay
    (`b_contract`) and the due date of its oldest installment past due (`b_oldest`, NULL when
    none)."""
    # A paid installment owes nothing in any component: only the others are joined.
    due = Q(open__due_date__lte=today)
    base = Loan.objects.all() if loans is None else loans
    return (
        base.filter(status=ACTIVE)
        .annotate(open=FilteredRelation("schedule", condition=~Q(schedule__status=PAID)))
        .annotate(
            b_product=F("product_id"),
            b_office=F("office_id"),
            b_principal=Sum(F("open__principal") - F("open__principal_paid"), output_field=MONEY),
            b_interest=Sum(
                F("open__interest") - F("open__interest_waived") - F("open__interest_paid"),
                filter=due,
                output_field=MONEY,
            ),
            b_fees=Sum(F("open__fees") - F("open__fees_paid"), filter=due, output_field=MONEY),
            b_penalties=Sum(
                F("open__penalties") - F("open__penalties_paid"), filter=due, output_field=MONEY
            ),
            # Everything still to repay (the stored `Loan.outstanding`, which equals what its
            # installments have left: DESIGN.md "Money"), less what is owed today, is what
            # later installments ask for: read, not summed again over the installments.
            b_contract=F("outstanding"),
            b_oldest=Min("open__due_date", filter=Q(open__due_date__lt=today)),
        )
    )


def _sums(prefix: str, where: Q | None) -> dict[str, Any]:
    """Count and component sums over the loan balances matching `where`."""
    return {
        f"{prefix}__n": Count("pk", filter=where),
        **{
            f"{prefix}__{c}": Sum(f"b_{c}", filter=where, output_field=MONEY)
            for c in (*COMPONENTS, "contract")
        },
    }


def _outstanding(row: dict[str, Any], prefix: str) -> Outstanding:
    owed = Outstanding(
        principal=money(row[f"{prefix}__principal"]),
        interest=money(row[f"{prefix}__interest"]),
        fees=money(row[f"{prefix}__fees"]),
        penalties=money(row[f"{prefix}__penalties"]),
    )
    later = max(money(row[f"{prefix}__contract"]) - owed.total, ZERO)
    return Outstanding(**{**vars(owed), "not_yet_due": later})


def _bucket_filter(today: date, buckets: list[Bucket], index: int) -> Q:
    _, _, more_than = buckets[index]
    if more_than is None:
        return Q(b_oldest__isnull=True)
    where = Q(b_oldest__lt=today - timedelta(days=more_than))
    if index + 1 < len(buckets):
        upper = buckets[index + 1][2]
        assert upper is not None
        where &= Q(b_oldest__gte=today - timedelta(days=upper))
    return where


def portfolio_balances(
    *,
    today: date | None = None,
    loans: QuerySet[Loan] | None = None,
    by_product: bool = False,
    limits: tuple[int, ...] = DEFAULT_AGING_LIMITS,
    by_office: list[tuple[int, str]] | None = None,
) -> PortfolioBalances:
    """The active loans (of `loans`) by days past due (buckets split at `limits`), with
    totals, PAR30, PAR at each bucket's lower limit, with `by_product` PAR30 per product and
    with `by_office` (id, name of the offices to list, read by the caller) PAR30 per office
    (a loan counts in its own office): one query (two with `by_product`, which reads the
    product names first)."""
    today = today or timezone.localdate()
    buckets = aging_buckets(limits)
    par30 = Q(b_oldest__lt=today - timedelta(days=PAR_DAYS))
    aggregates: dict[str, Any] = {"par30": Sum("b_principal", filter=par30, output_field=MONEY)}
    for i in range(len(buckets)):
        aggregates.update(_sums(f"bucket_{i}", _bucket_filter(today, buckets, i)))
    products: list[tuple[int | None, str]] = []
    if by_product:
        products = [(p.pk, p.name) for p in LoanProduct.objects.only("pk", "name")]
        products.append((None, "Custom terms (no product)"))
        for pid, _ in products:
            in_product = Q(b_product__isnull=True) if pid is None else Q(b_product=pid)
            aggregates.update(_sums(f"product_{pid or 0}", in_product))
            aggregates[f"product_{pid or 0}__par30"] = Sum(
                "b_principal", filter=in_product & par30, output_field=MONEY
            )
            aggregates[f"product_{pid or 0}__par30n"] = Count("pk", filter=in_product & par30)
    for oid, _ in by_office or []:
        in_office = Q(b_office=oid)
        aggregates.update(_sums(f"office_{oid}", in_office))
        aggregates[f"office_{oid}__par30"] = Sum(
            "b_principal", filter=in_office & par30, output_field=MONEY
        )
        aggregates[f"office_{oid}__par30n"] = Count("pk", filter=in_office & par30)
    row = loan_balances(today, loans).aggregate(**aggregates)

    parts = [
        (i, row[f"bucket_{i}__n"], _outstanding(row, f"bucket_{i}")) for i in range(len(buckets))
    ]
    total_principal = sum((o.principal for _, _, o in parts), ZERO)
    rows = []
    for i, n, outstanding in parts:
        key, label, more_than = buckets[i]
        at_or_above = sum((o.principal for j, _, o in parts if j >= i), ZERO)
        rows.append(
            AgingRow(
                key=key,
                label=label,
                loans=n,
                outstanding=outstanding,
                share=percent(outstanding.principal, total_principal),
                par=None if more_than is None else percent(at_or_above, total_principal),
                par_days=None if more_than is None else max(more_than, 1),
                more_than=more_than,
                last=i == len(buckets) - 1,
            )
        )

    def combined(key: str, label: str, of: list[AgingRow]) -> AgingRow:
        outstanding = sum((r.outstanding for r in of), Outstanding())
        return AgingRow(
            key=key,
            label=label,
            loans=sum(r.loans for r in of),
            outstanding=outstanding,
            share=percent(outstanding.principal, total_principal),
        )

    product_rows = [
        ProductPar(
            product_id=pid,
            name=name,
            loans=row[f"product_{pid or 0}__n"],
            outstanding=_outstanding(row, f"product_{pid or 0}"),
            par30=money(row[f"product_{pid or 0}__par30"]),
            loans_par30=row[f"product_{pid or 0}__par30n"],
        )
        for pid, name in products
    ]
    office_rows = [
        ProductPar(
            product_id=oid,
            name=name,
            loans=row[f"office_{oid}__n"],
            outstanding=_outstanding(row, f"office_{oid}"),
            par30=money(row[f"office_{oid}__par30"]),
            loans_par30=row[f"office_{oid}__par30n"],
        )
        for oid, name in by_office or []
    ]
    return PortfolioBalances(
        as_of=today,
        by_office=[o for o in office_rows if o.loans],
        rows=rows,
        total=combined("total", "All active loans", rows),
        at_risk=combined("past_due", "Past due (1 day or more)", rows[1:]),
        by_product=[p for p in product_rows if p.loans],
        par30=money(row["par30"]),
    )
