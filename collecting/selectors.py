"""Reads of the collections pages: the collection sheet and the officers it can be drawn for.

A sheet is one query whatever its size: the unpaid installments due on or before the date are
grouped per loan in the database (amount due, oldest due date, how many), with the loan and
its borrower joined in the same statement.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.db.models import (
    Count,
    DecimalField,
    Exists,
    F,
    Min,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
)
from django.db.models.functions import Coalesce

from accounts.models import Office
from accounts.offices import scope
from collecting.models import DayCloseRun
from lending.models import DayClose, Installment, Loan

CENTS = Decimal("0.01")
# A sheet is one document posted in one submit, so it is not paginated; an officer's round is
# a few hundred loans. Past this many rows the page asks for a narrower sheet (one officer).
MAX_SHEET_ROWS = 3000


@dataclass(frozen=True)
class SheetFilters:
    """Which loans a sheet lists: those of one office and the offices under it (all of the
    user's when None; `sheet_rows` applies the user's own office scope as every list does),
    of one officer (all when None), with something due on or before the date."""

    on: date
    officer_id: int | None = None
    office_id: int | None = None


@dataclass(frozen=True)
class SheetRow:
    loan_id: int
    loan_number: str
    borrower: str
    borrower_number: str
    phone: str
    officer: str  # the officer's username (the API's `officer`)
    officer_name: str  # the officer's full name, else the username (what the page shows)
    oldest_due: date
    installments_due: int
    due: Decimal  # what is unpaid on the installments due on or before the sheet's date
    outstanding: Decimal  # the loan's whole balance (the most a payment may be)

    def days_late(self, on: date) -> int:
        return max((on - self.oldest_due).days, 0)


_UNPAID = (
    F("principal")
    + F("interest")
    + F("fees")
    + F("penalties")
    - F("interest_waived")
    - F("principal_paid")
    - F("interest_paid")
    - F("fees_paid")
    - F("penalties_paid")
)


def _full_name(first: str | None, last: str | None, username: str) -> str:
    """As `User.get_full_name()`, else the username, from values read with the row."""
    return f"{first or ''} {last or ''}".strip() or username


def sheet_rows(
    filters: SheetFilters, *, user: Any = None, limit: int = MAX_SHEET_ROWS + 1
) -> list[SheetRow]:
    """Every active loan (of the user's offices) with something unpaid due on or before
    `filters.on` (one query), by borrower name, with the loan officer it is assigned to."""
    unpaid = Installment.objects.filter(
        loan__status=Loan.Status.ACTIVE, due_date__lte=filters.on
    ).exclude(status=Installment.Status.PAID)
    if user is not None:
        unpaid = scope(unpaid, user, "loan__office")
    if filters.office_id is not None:
        subtree = Office.objects.filter(
            path__startswith=Subquery(
                Office.objects.filter(pk=filters.office_id).values("path")[:1]
            )
        ).values("pk")
        unpaid = unpaid.filter(loan__office__in=subtree)
    if filters.officer_id is not None:
        unpaid = unpaid.filter(loan__officer_id=filters.officer_id)
    grouped = (
        unpaid.values(
            "loan_id",
            "loan__number",
            "loan__outstanding",
            "loan__borrower__full_name",
            "loan__borrower__number",
            "loan__borrower__phone",
            "loan__officer__username",
            "loan__officer__first_name",
            "loan__officer__last_name",
        )
        .annotate(
            due=Sum(_UNPAID, output_field=DecimalField(max_digits=14, decimal_places=2)),
            oldest=Min("due_date"),
            count=Count("id"),
        )
        .order_by("loan__borrower__full_name", "loan__number")
    )[:limit]
    rows = []
    for g in grouped:
        due = min(Decimal(g["due"]).quantize(CENTS), g["loan__outstanding"])
        if due <= 0:
            continue  # within cents of paid (waived interest) or nothing left to take
        rows.append(
            SheetRow(
                loan_id=g["loan_id"],
                loan_number=g["loan__number"],
                borrower=g["loan__borrower__full_name"],
                borrower_number=g["loan__borrower__number"],
                phone=g["loan__borrower__phone"],
                officer=g["loan__officer__username"] or "",
                officer_name=_full_name(
                    g["loan__officer__first_name"],
                    g["loan__officer__last_name"],
                    g["loan__officer__username"] or "",
                ),
                oldest_due=g["oldest"],
                installments_due=g["count"],
                due=due,
                outstanding=g["loan__outstanding"],
            )
        )
    return rows


def sheet_officers(user: Any = None) -> QuerySet[User]:
    """The officers a sheet can be drawn for: whoever has active loans assigned (of the user's
    offices; one query)."""
    # EXISTS, not a join: joined to their loans (twice with the scope) the officers of a large
    # portfolio were millions of rows to make distinct again.
    active = Loan.objects.filter(officer_id=OuterRef("pk"), status=Loan.Status.ACTIVE)
    if user is not None:
        active = scope(active, user)
    return (
        User.objects.filter(Exists(active))
        .order_by("username")
        .only("id", "username", "first_name", "last_name")
    )


# --- the daily close page ----------------------------------------------------------------------

DAY_CLOSE_RUNS_SHOWN = 30


@dataclass(frozen=True)
class DayCloseRow:
    """One run as the daily close page lists it. The counts of a running close come from its
    chunks; its result (loans checked, penalties) only once it has finished."""

    run: DayCloseRun
    chunks_done: int
    chunks: int
    loans_done: int
    loans: int

    @property
    def started_by(self) -> str:
        """Who pressed the button, or the command (cron, a timer) when nobody did."""
        user = self.run.started_by
        if user is None:
            return "manage.py close_day"
        return user.get_full_name() or user.get_username()

    @property
    def finished(self) -> bool:
        return self.run.finished_at is not None

    @property
    def loans_checked(self) -> int:
        return int(self.run.result.get("loans_checked", self.loans)) if self.finished else 0

    @property
    def loans_overdue(self) -> int:
        return int(self.run.result.get("loans_overdue", 0))

    @property
    def penalties_applied(self) -> int:
        return int(self.run.result.get("penalties_applied", 0))

    @property
    def penalty_total(self) -> Decimal:
        return Decimal(str(self.run.result.get("penalty_total", "0"))).quantize(CENTS)


def day_close_runs(*, limit: int = DAY_CLOSE_RUNS_SHOWN) -> list[DayCloseRow]:
    """The latest runs of the daily close, newest first, each with its chunks counted in the
    same query (one query whatever the number of runs and chunks)."""
    done = Q(chunks__done_at__isnull=False)
    runs = (
        DayCloseRun.objects.select_related("started_by")
        .annotate(
            n_chunks=Count("chunks"),
            n_chunks_done=Count("chunks", filter=done),
            n_loans=Coalesce(Sum("chunks__loans"), 0),
            n_loans_done=Coalesce(Sum("chunks__loans", filter=done), 0),
        )
        .order_by("-started_at", "-id")[:limit]
    )
    return [
        DayCloseRow(
            run=run,
            chunks_done=run.n_chunks_done,  # type: ignore[attr-defined]
            chunks=run.n_chunks,  # type: ignore[attr-defined]
            loans_done=run.n_loans_done,  # type: ignore[attr-defined]
            loans=run.n_loans,  # type: ignore[attr-defined]
        )
        for run in runs
    ]


def last_day_closed() -> DayClose | None:
    """The latest day the daily close finished (however it was run)."""
    return DayClose.objects.order_by("-on").first()
