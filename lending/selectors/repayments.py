"""Reads for the repayment pages: loan search, the repayments list and its totals, what a
loan owes now, and a receipt with everything it prints. Each returns its rows with the joins
already done, so a page runs a fixed number of queries whatever the data."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce

from accounts.offices import get_scoped_or_404, scope
from lending.models import (
    Allocation,
    Installment,
    Loan,
    LoanTransaction,
    Receipt,
    Repayment,
    money_field,
)
from lending.phones import phone_search_digits

ZERO = Decimal("0.00")
CENTS = Decimal("0.01")
SEARCHABLE_STATUSES = [Loan.Status.ACTIVE, Loan.Status.CLOSED, Loan.Status.WRITTEN_OFF]


def loan_search(query: str, *, user: Any, limit: int = 20) -> QuerySet[Loan]:
    """Loans of the user's offices a cashier may be looking for: by borrower name, loan
    number or phone. Active loans first (those can take a payment), newest first within a
    status."""
    query = (query or "").strip()
    loans = scope(Loan.objects.filter(status__in=SEARCHABLE_STATUSES), user).select_related(
        "borrower"
    )
    if not query:
        return loans.none()
    match = (
        Q(borrower__full_name__icontains=query)
        | Q(number__icontains=query)
        | Q(borrower__number__icontains=query)
        | Q(borrower__phone__icontains=query)
    )
    # Phones are stored in E.164: "0712 345 678" finds "+254712345678" (lending.phones).
    phone_digits = phone_search_digits(query)
    if phone_digits:
        match |= Q(borrower__phone__icontains=phone_digits)
    # "active" sorts before "closed" and "written_off"; good enough and index-free.
    return loans.filter(match).order_by("status", "-disbursement_date", "-id")[:limit]


@dataclass(frozen=True)
class RepaymentFilters:
    date_from: date | None = None
    date_to: date | None = None
    method: str = ""
    recorded_by: int | None = None
    loan: int | None = None

    def as_dict(self) -> dict[str, str]:
        return {k: str(v) for k, v in self.__dict__.items() if v not in (None, "")}


def with_balance_after(qs: QuerySet[Repayment]) -> QuerySet[Repayment]:
    """Add `balance_after`: what the loan owed after the payment as the books stand now (a
    later reversal or backdated payment can change it; the receipt keeps the figure it
    printed, `outstanding_after`)."""
    current = LoanTransaction.objects.filter(
        repayment=OuterRef("pk"), kind=LoanTransaction.Kind.REPAYMENT
    ).values("outstanding_after")[:1]
    return qs.annotate(
        balance_after=Coalesce(
            Subquery(current), F("outstanding_after"), output_field=money_field()
        )
    )


def repayment_list(filters: RepaymentFilters, *, user: Any) -> QuerySet[Repayment]:
    """Repayments of the user's offices, newest first, with what each row of the list and the
    export shows."""
    qs = with_balance_after(scope(Repayment.objects.all(), user, "loan__office")).select_related(
        "loan", "loan__borrower", "recorded_by", "reversed_by", "receipt"
    )
    if filters.date_from:
        qs = qs.filter(paid_on__gte=filters.date_from)
    if filters.date_to:
        qs = qs.filter(paid_on__lte=filters.date_to)
    if filters.method:
        qs = qs.filter(method=filters.method)
    if filters.recorded_by:
        qs = qs.filter(recorded_by_id=filters.recorded_by)
    if filters.loan:
        qs = qs.filter(loan_id=filters.loan)
    return qs.order_by("-paid_on", "-recorded_at", "-id")


def with_allocation_totals(qs: QuerySet[Repayment]) -> QuerySet[Repayment]:
    """Add principal / interest / fees / penalties per repayment (one grouped query)."""
    return qs.annotate(
        **{
            f"alloc_{c}": Coalesce(
                Sum(
                    f"transactions__{c}",
                    filter=Q(transactions__kind=LoanTransaction.Kind.REPAYMENT),
                ),
                ZERO,
                output_field=money_field(),
            )
            for c in ("principal", "interest", "fees", "penalties")
        }
    )


@dataclass(frozen=True)
class RepaymentTotals:
    count: int
    amount: Decimal  # received and not reversed
    reversed_count: int
    reversed_amount: Decimal


def repayment_totals(qs: QuerySet[Repayment]) -> RepaymentTotals:
    """Totals of a filtered list, in one query. Reversed payments are counted apart: they are
    not money received."""
    live = Q(reversed_at__isnull=True)
    row = qs.order_by().aggregate(
        n_live=Count("id", filter=live),
        sum_live=Coalesce(Sum("amount", filter=live), ZERO, output_field=money_field()),
        n_reversed=Count("id", filter=~live),
        sum_reversed=Coalesce(Sum("amount", filter=~live), ZERO, output_field=money_field()),
    )
    # SQLite sums decimals as floats-in-text ("6008.51000000000"); back to cents.
    return RepaymentTotals(
        count=row["n_live"],
        amount=Decimal(row["sum_live"]).quantize(CENTS),
        reversed_count=row["n_reversed"],
        reversed_amount=Decimal(row["sum_reversed"]).quantize(CENTS),
    )


def recorders(user: Any = None) -> QuerySet[AbstractBaseUser]:
    """Users who have recorded at least one repayment (of the user's offices): the "recorded
    by" filter."""
    User = get_user_model()
    users = User.objects.filter(recorded_repayments__isnull=False)
    if user is not None:
        users = scope(users, user, "recorded_repayments__loan__office")
    return users.distinct().order_by("username")


@dataclass(frozen=True)
class DueNow:
    """What a loan asks for today: the amount the payment form suggests, and why."""

    overdue: Decimal  # due before today, unpaid
    due_today: Decimal
    next_installment: Installment | None  # first unpaid one due after today
    suggested: Decimal
    overdue_count: int


def due_now(loan: Loan, installments: list[Installment], today: date) -> DueNow:
    """The default payment: what is overdue plus what falls due today; if nothing does, the
    next installment. Never above the loan's outstanding."""
    overdue = due_today = ZERO
    overdue_count = 0
    upcoming: Installment | None = None
    for inst in installments:
        if inst.status == Installment.Status.PAID:
            continue
        if inst.due_date < today:
            overdue += inst.remaining
            overdue_count += 1
        elif inst.due_date == today:
            due_today += inst.remaining
        elif upcoming is None:
            upcoming = inst
    suggested = overdue + due_today
    if suggested == 0 and upcoming is not None:
        suggested = upcoming.remaining
    return DueNow(
        overdue=overdue,
        due_today=due_today,
        next_installment=upcoming,
        suggested=min(suggested, loan.outstanding),
        overdue_count=overdue_count,
    )


def loan_schedule(loan: Loan) -> list[Installment]:
    return list(Installment.objects.filter(loan=loan).order_by("number"))


def loan_for_payment(pk: int, user: Any, *, page: bool = True) -> Loan:
    """The loan with its borrower, for the payment and payoff pages (404 when unknown or
    another office's). A posted payment that is recorded shows no page (it redirects):
    `page=False` reads the loan alone, the borrower only if the form comes back."""
    loans = Loan.objects.select_related("borrower", "product") if page else Loan.objects.all()
    return get_scoped_or_404(loans, user, pk=pk)


def recent_repayments_for_loan(loan: Loan, *, limit: int = 10) -> list[Repayment]:
    return list(
        Repayment.objects.filter(loan=loan)
        .select_related("recorded_by", "receipt")
        .order_by("-recorded_at", "-id")[:limit]
    )


def repayment_for_detail(pk: int, user: Any) -> Repayment:
    return get_scoped_or_404(
        Repayment.objects.select_related(
            "loan", "loan__borrower", "recorded_by", "reversed_by", "receipt"
        ),
        user,
        "loan__office",
        pk=pk,
    )


def receipt_for_print(number: str, user: Any) -> tuple[Receipt, list[Allocation]]:
    """A receipt (of the user's offices) with its repayment, loan, borrower and people (one
    query) and the repayment's allocations with their installments (one query)."""
    receipt = get_scoped_or_404(
        Receipt.objects.select_related(
            "repayment",
            "repayment__loan",
            "repayment__loan__borrower",
            "repayment__recorded_by",
            "repayment__reversed_by",
        ),
        user,
        "repayment__loan__office",
        number=number,
    )
    allocations = list(
        allocations_of(receipt.repayment_id, as_booked=True).select_related("installment")
    )
    return receipt, allocations


def allocations_of(repayment_id: int, *, as_booked: bool = False) -> QuerySet[Allocation]:
    """How a repayment was spread over the installments: as booked (what its receipt
    printed) or as it stands after any replay (the default)."""
    qs = Allocation.objects.filter(
        transaction__repayment_id=repayment_id,
        transaction__kind=LoanTransaction.Kind.REPAYMENT,
    )
    qs = qs.filter(as_booked=True) if as_booked else qs.filter(superseded_at=None)
    return qs.order_by("installment__number")


def allocation_totals(allocations: list[Allocation]) -> dict[str, Decimal]:
    totals = {c: ZERO for c in ("principal", "interest", "fees", "penalties")}
    for a in allocations:
        for c in totals:
            totals[c] += getattr(a, c)
    return totals
