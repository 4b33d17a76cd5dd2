"""Loan status against plan (DESIGN.md "Loan status against plan"): ahead, on track or behind.

For an active loan, as of today:

- `expected_paid`: what the schedule asked for so far, i.e. the amount (principal + interest +
  fees + penalties - waived interest) of every installment due on or before today;
- `paid`: `Loan.total_paid` (non-reversed repayments, including anything paid ahead);
- `ahead` if paid >= 110 % of expected and paid > 0; `behind` if paid < 90 % of expected;
  else `on_track`. So nothing due and nothing paid is on track, and something paid before the
  first due date is ahead.
- Whatever the ratio says, a loan more than 30 days past due (in PAR30) is `behind`: paying
  most of what fell due cannot hide an installment left unpaid for months.

Only active loans have a status. Pending, rejected and withdrawn loans have no schedule, and a
closed or written-off loan is no longer measured against its plan: for those `status` is None
(pages show no badge, the API returns null) while the figures are still filled in.

`days_past_due` is computed from the oldest installment whose due date has passed and that
still owes more than the loan's arrears tolerance, at read time, so it is right on the day
even before the daily close has run.
`next_due_date` / `next_due_amount` are the first installment not paid in full that falls due
today or later (None after maturity, when everything left is already overdue: see
`overdue_amount`).

The balance by component (`principal_outstanding`, `interest_due`, `fees_due`,
`penalties_due`, their `total_due`, and `not_yet_due`) follows the portfolio's definitions
(`reporting.portfolio`): principal lent less principal repaid; interest, fees and penalties of
the installments due on or before today, less what was waived and paid of them; and apart, the
interest and fees of later installments, which are not owed yet.

Results are cached under `loan_status:{id}` for `settings.KARO_LOAN_STATUS_CACHE_SECONDS`.
`lending.receivers` drops the key on `loan_changed`, which every service that changes a loan's
money or status sends (repayment, reversal, settlement, approval, close, write-off, penalty).
A cached value also carries the date it was computed for, so a value cached before midnight is
not served the next day, and the loan's `updated_at` it was computed from: given a loan (not
only its id), a value computed before the loan's last change is never served, even one that a
request reading just before the change stored just after the key was dropped.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db.models import (
    DecimalField,
    Exists,
    ExpressionWrapper,
    F,
    Min,
    OuterRef,
    QuerySet,
    Subquery,
    Sum,
)
from django.utils import timezone

from lending.models import Installment, Loan
from lending.receivers import loan_status_cache_key

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
MONEY: DecimalField[Decimal, Decimal] = DecimalField(max_digits=14, decimal_places=2)

AHEAD = "ahead"
ON_TRACK = "on_track"
BEHIND = "behind"
LABELS = {AHEAD: "Ahead", ON_TRACK: "On track", BEHIND: "Behind"}
# More than this many days past due puts a loan in PAR30: never on track, whatever it paid.
PAR_DAYS = 30

# Amount an installment asks for, and what is still unpaid of it (database expressions).
INSTALLMENT_AMOUNT = ExpressionWrapper(
    F("principal") + F("interest") + F("fees") + F("penalties") - F("interest_waived"),
    output_field=MONEY,
)
INSTALLMENT_REMAINING = ExpressionWrapper(
    F("principal")
    + F("interest")
    + F("fees")
    + F("penalties")
    - F("interest_waived")
    - F("principal_paid")
    - F("interest_paid")
    - F("fees_paid")
    - F("penalties_paid"),
    output_field=MONEY,
)


def money(value: Any) -> Decimal:
    """A database sum as cents (SQLite hands back sums of decimals with float noise)."""
    if value is None:
        return ZERO
    return Decimal(value).quantize(CENT)


def unpaid_installments() -> QuerySet[Installment]:
    return Installment.objects.exclude(status=Installment.Status.PAID)


# Half a cent: amounts are whole cents, so "more than the tolerance" is "more than the tolerance
# plus half a cent", which SQLite's float arithmetic on decimals cannot get wrong.
HALF_CENT = Decimal("0.005")


def late_installments() -> QuerySet[Installment]:
    """Installments that count as overdue once their due date has passed: those still owing
    more than their loan's arrears tolerance (DESIGN.md, "Repayments")."""
    return (
        unpaid_installments()
        .alias(left=INSTALLMENT_REMAINING)
        .filter(left__gt=F("loan__arrears_tolerance") + HALF_CENT)
    )


def overdue_exists(as_of: date, *, days: int = 0) -> Exists:
    """A loan (the outer row) has an installment more than `days` days past due that owes
    more than the loan's arrears tolerance."""
    cutoff = date.fromordinal(as_of.toordinal() - days)
    return Exists(late_installments().filter(loan_id=OuterRef("pk"), due_date__lt=cutoff))


def oldest_overdue_date(as_of: date) -> Subquery:
    """Due date of the outer loan's oldest installment past due and owing more than its
    arrears tolerance, or NULL."""
    return Subquery(
        late_installments()
        .filter(loan_id=OuterRef("pk"), due_date__lt=as_of)
        .order_by()
        .values("loan_id")
        .annotate(d=Min("due_date"))
        .values("d")[:1]
    )


def _sum_subquery(installments: QuerySet[Installment], expression: Any) -> Subquery:
    return Subquery(
        installments.filter(loan_id=OuterRef("pk"))
        .order_by()
        .values("loan_id")
        .annotate(s=Sum(expression))
        .values("s")[:1],
        output_field=MONEY,
    )


@dataclass(frozen=True)
class Outstanding:
    """What active loans owe as of a day, by component."""

    principal: Decimal = ZERO
    interest: Decimal = ZERO  # due to date
    fees: Decimal = ZERO
    penalties: Decimal = ZERO
    not_yet_due: Decimal = ZERO  # interest and fees of later installments (not outstanding)

    @property
    def total(self) -> Decimal:
        return self.principal + self.interest + self.fees + self.penalties

    def __add__(self, other: Outstanding) -> Outstanding:
        return Outstanding(
            principal=self.principal + other.principal,
            interest=self.interest + other.interest,
            fees=self.fees + other.fees,
            penalties=self.penalties + other.penalties,
            not_yet_due=self.not_yet_due + other.not_yet_due,
        )

    def as_dict(self) -> dict[str, str]:
        """The API's shape: decimal strings."""
        return {
            "principal": str(self.principal),
            "interest": str(self.interest),
            "fees": str(self.fees),
            "penalties": str(self.penalties),
            "total": str(self.total),
            "not_yet_due": str(self.not_yet_due),
        }


@dataclass(frozen=True)
class LoanStatus:
    """A loan measured against its schedule, with the figures behind the verdict."""

    loan_id: int
    as_of: date
    status: str | None  # ahead / on_track / behind; None when the loan is not active
    expected_paid: Decimal
    paid: Decimal
    outstanding: Decimal
    overdue_amount: Decimal
    next_due_date: date | None
    next_due_amount: Decimal
    days_past_due: int
    principal_outstanding: Decimal = ZERO
    interest_due: Decimal = ZERO
    fees_due: Decimal = ZERO
    penalties_due: Decimal = ZERO
    not_yet_due: Decimal = ZERO
    # The loan's last change when this was computed (not part of the figures).
    loan_updated_at: datetime | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return LABELS.get(self.status or "", "")

    @property
    def total_due(self) -> Decimal:
        """Owed as of today: principal outstanding + interest, fees and penalties due."""
        return self.balance.total

    @property
    def percent_of_expected(self) -> Decimal | None:
        """Paid as a percent of expected (None when nothing is due yet)."""
        if not self.expected_paid:
            return None
        return (self.paid * 100 / self.expected_paid).quantize(Decimal("1"))

    def as_dict(self) -> dict[str, Any]:
        """The API's shape: amounts as decimal strings, dates as ISO strings."""
        return {
            "status": self.status,
            "expected_paid": str(self.expected_paid),
            "paid": str(self.paid),
            "outstanding": str(self.outstanding),
            "overdue_amount": str(self.overdue_amount),
            "next_due_date": self.next_due_date.isoformat() if self.next_due_date else None,
            "next_due_amount": str(self.next_due_amount),
            "days_past_due": self.days_past_due,
            "balance": self.balance.as_dict(),
        }

    @property
    def balance(self) -> Outstanding:
        """Owed today by component (the API's `balance`)."""
        return Outstanding(
            principal=self.principal_outstanding,
            interest=self.interest_due,
            fees=self.fees_due,
            penalties=self.penalties_due,
            not_yet_due=self.not_yet_due,
        )


def classify(*, expected: Decimal, paid: Decimal, days_past_due: int = 0) -> str:
    """The plan rule, in exact decimal arithmetic (no 0.9 * x rounding at the boundaries); a
    loan more than `PAR_DAYS` days past due is behind whatever it paid."""
    if days_past_due > PAR_DAYS:
        return BEHIND
    if paid > 0 and paid * 100 >= expected * 110:
        return AHEAD
    if paid * 100 < expected * 90:
        return BEHIND
    return ON_TRACK


def balance_subqueries(today: date, *, prefix: str) -> dict[str, Subquery]:
    """The outer loan's outstanding by component as of `today` (correlated subqueries named
    `{prefix}principal`, `interest`, `fees`, `penalties` and `later`, for not yet due)."""
    due_by_today = Installment.objects.filter(due_date__lte=today)
    return {
        f"{prefix}principal": _sum_subquery(
            Installment.objects.all(), F("principal") - F("principal_paid")
        ),
        f"{prefix}interest": _sum_subquery(
            due_by_today, F("interest") - F("interest_waived") - F("interest_paid")
        ),
        f"{prefix}fees": _sum_subquery(due_by_today, F("fees") - F("fees_paid")),
        f"{prefix}penalties": _sum_subquery(due_by_today, F("penalties") - F("penalties_paid")),
        f"{prefix}later": _sum_subquery(
            Installment.objects.filter(due_date__gt=today),
            F("interest")
            + F("fees")
            + F("penalties")
            - F("interest_waived")
            - F("interest_paid")
            - F("fees_paid")
            - F("penalties_paid"),
        ),
    }


def _annotated_loans(today: date) -> QuerySet[Loan]:
    """Loans with everything the status needs, in one query (correlated subqueries)."""
    unpaid_from_today = unpaid_installments().filter(due_date__gte=today)
    next_due = unpaid_from_today.filter(loan_id=OuterRef("pk")).order_by("due_date", "number")
    return Loan.objects.only(
        "id", "status", "total_paid", "outstanding", "disbursement_date", "updated_at"
    ).annotate(
        st_expected=_sum_subquery(
            Installment.objects.filter(due_date__lte=today), INSTALLMENT_AMOUNT
        ),
        st_overdue=_sum_subquery(
            unpaid_installments().filter(due_date__lt=today), INSTALLMENT_REMAINING
        ),
        st_oldest=oldest_overdue_date(today),
        st_next_date=Subquery(next_due.values("due_date")[:1]),
        st_next_amount=Subquery(
            next_due.annotate(r=INSTALLMENT_REMAINING).values("r")[:1], output_field=MONEY
        ),
        **balance_subqueries(today, prefix="st_"),
    )


def _from_row(loan: Any, today: date) -> LoanStatus:
    expected = money(loan.st_expected)
    paid = money(loan.total_paid)
    oldest = loan.st_oldest
    days_past_due = (today - oldest).days if oldest else 0
    return LoanStatus(
        loan_id=loan.pk,
        as_of=today,
        status=classify(expected=expected, paid=paid, days_past_due=days_past_due)
        if loan.status == Loan.Status.ACTIVE
        else None,
        expected_paid=expected,
        paid=paid,
        outstanding=money(loan.outstanding),
        overdue_amount=money(loan.st_overdue),
        next_due_date=loan.st_next_date,
        next_due_amount=money(loan.st_next_amount),
        days_past_due=days_past_due,
        principal_outstanding=money(loan.st_principal),
        interest_due=money(loan.st_interest),
        fees_due=money(loan.st_fees),
        penalties_due=money(loan.st_penalties),
        not_yet_due=money(loan.st_later),
        loan_updated_at=loan.updated_at,
    )


def compute_loan_statuses(loan_ids: Iterable[int], *, today: date) -> dict[int, LoanStatus]:
    """Uncached: the statuses of these loans as of `today`, in one query."""
    ids = list(loan_ids)
    if not ids:
        return {}
    return {row.pk: _from_row(row, today) for row in _annotated_loans(today).filter(pk__in=ids)}


def loan_statuses(loans: Iterable[Loan | int]) -> dict[int, LoanStatus]:
    """Statuses for a page of loans: one cache round trip, one query for the misses, one cache
    write. Keyed by loan id; for a loan given as an instance, a cached value must come from
    its current `updated_at`."""
    today = timezone.localdate()
    loans = list(loans)
    ids = [loan if isinstance(loan, int) else loan.pk for loan in loans]
    if not ids:
        return {}
    changed = {
        loan.pk: loan.updated_at
        for loan in loans
        if isinstance(loan, Loan) and "updated_at" not in loan.get_deferred_fields()
    }
    keys = {loan_status_cache_key(pk): pk for pk in ids}
    cached = cache.get_many(list(keys))
    found: dict[int, LoanStatus] = {}
    for key, value in cached.items():
        pk = keys[key]
        if (
            isinstance(value, LoanStatus)
            and value.as_of == today
            and changed.get(pk, value.loan_updated_at) == value.loan_updated_at
        ):
            found[pk] = value
    missing = [pk for pk in ids if pk not in found]
    if missing:
        computed = compute_loan_statuses(missing, today=today)
        if computed:
            cache.set_many(
                {loan_status_cache_key(pk): value for pk, value in computed.items()},
                timeout=settings.KARO_LOAN_STATUS_CACHE_SECONDS,
            )
        found.update(computed)
    return found


def loan_status(loan: Loan | int) -> LoanStatus:
    """The status of one loan (cached). Raises Loan.DoesNotExist for an unknown id."""
    pk = loan if isinstance(loan, int) else loan.pk
    result = loan_statuses([loan]).get(pk)
    if result is None:
        raise Loan.DoesNotExist(f"No loan with id {pk}.")
    return result
