"""Loan reads: the filtered list, one loan with its schedule, repayments and history.

Lists and the detail page read the totals kept on the loan row (`total_repayable`,
`outstanding`) and never sum installments per row; the detail page loads the schedule in one
query and totals it in Python from the rows it shows anyway.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db.models import Q, QuerySet
from django.shortcuts import get_object_or_404

from lending.models import ZERO, AuditLog, Installment, Loan, Repayment


def loan_list(
    *,
    query: str = "",
    status: str = "",
    officer: User | None = None,
    product_id: int | None = None,
    borrower_id: int | None = None,
    submitted_from: date | None = None,
    submitted_to: date | None = None,
) -> QuerySet[Loan]:
    """Loans newest first, with what a list row shows joined in (borrower, product, officer)."""
    loans = Loan.objects.select_related("borrower", "product", "submitted_by")
    query = query.strip()
    if query:
        loans = loans.filter(
            Q(number__icontains=query)
            | Q(borrower__full_name__icontains=query)
            | Q(borrower__number__icontains=query)
        )
    if status:
        loans = loans.filter(status=status)
    if officer is not None:
        loans = loans.filter(submitted_by=officer)
    if product_id is not None:
        loans = loans.filter(product_id=product_id)
    if borrower_id is not None:
        loans = loans.filter(borrower_id=borrower_id)
    if submitted_from is not None:
        loans = loans.filter(submitted_at__date__gte=submitted_from)
    if submitted_to is not None:
        loans = loans.filter(submitted_at__date__lte=submitted_to)
    return loans.order_by("-submitted_at", "-id")


def loan_officers() -> QuerySet[User]:
    """Everyone who has submitted an application: the choices of the list's officer filter."""
    return (
        User.objects.filter(pk__in=Loan.objects.values("submitted_by_id"))
        .only("id", "username", "first_name", "last_name")
        .order_by("first_name", "last_name", "username")
    )


def loan_for_page(pk: int) -> Loan:
    """One loan with the people and records its page names, or 404."""
    return get_object_or_404(
        Loan.objects.select_related("borrower", "product", "submitted_by", "decided_by"), pk=pk
    )


@dataclass
class ScheduleTotals:
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    fees: Decimal = ZERO
    penalties: Decimal = ZERO
    total: Decimal = ZERO
    interest_waived: Decimal = ZERO
    paid: Decimal = ZERO
    remaining: Decimal = ZERO
    overdue: int = 0


@dataclass
class LoanSchedule:
    rows: list[Installment] = field(default_factory=list)
    totals: ScheduleTotals = field(default_factory=ScheduleTotals)


def loan_schedule(*, loan: Loan, today: date) -> LoanSchedule:
    """The stored installments in order, each marked `overdue` (unpaid past its due date as of
    `today`) or `written_off` (unpaid on a written-off loan), and their totals; `totals.overdue`
    counts the overdue rows of a loan still collected (one query whatever the number of
    installments)."""
    schedule = LoanSchedule(rows=list(Installment.objects.filter(loan=loan).order_by("number")))
    written_off = loan.status == Loan.Status.WRITTEN_OFF
    t = schedule.totals
    for row in schedule.rows:
        row.overdue = row.is_overdue(today)  # type: ignore[attr-defined]
        row.written_off = written_off and row.status != Installment.Status.PAID  # type: ignore[attr-defined]
        t.principal += row.principal
        t.interest += row.interest
        t.fees += row.fees
        t.penalties += row.penalties
        t.total += row.total
        t.interest_waived += row.interest_waived
        t.paid += row.paid
        t.remaining += row.remaining
        t.overdue += 1 if row.overdue and not written_off else 0  # type: ignore[attr-defined]
    return schedule


LOAN_PAGE_REPAYMENTS = 20


def loan_repayments(*, loan: Loan, limit: int | None = LOAN_PAGE_REPAYMENTS) -> list[Repayment]:
    """A loan's latest repayments (all with `limit=None`), newest first, with their receipt
    and who recorded them. The loan page shows the latest few: a loan paid weekly for years
    must not make its page slower; the repayments list has them all."""
    qs = (
        Repayment.objects.filter(loan=loan)
        .select_related("receipt", "recorded_by")
        .order_by("-paid_on", "-recorded_at", "-id")
    )
    return list(qs if limit is None else qs[:limit])


def loan_history(*, loan: Loan) -> list[AuditLog]:
    """The loan's audit entries, oldest first (the story of the application)."""
    return list(AuditLog.objects.filter(object_type="loan", object_id=str(loan.pk)).order_by("id"))


MONEY_DETAILS = {"principal", "total_repayable", "written_off", "outstanding", "amount"}


def _status_label(value: str) -> str:
    return str(Loan.Status(value).label) if value in Loan.Status.values else value


def _detail_text(key: str, value: Any) -> Any:
    """A stored detail as staff read it: amounts with separators and currency, dates day
    first (details keep the ISO text they were written with)."""
    if key in MONEY_DETAILS:
        try:
            return f"{settings.KARO_CURRENCY} {Decimal(str(value)):,}"
        except InvalidOperation:
            return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).strftime("%d %b %Y")
        except ValueError:
            return value
    return value


def describe_audit(entry: AuditLog) -> list[tuple[str, Any]]:
    """An entry's details as short label/value pairs for the history list."""
    details = entry.details or {}
    out: list[tuple[str, Any]] = []
    before, after = details.get("before") or {}, details.get("after") or {}
    if before.get("status") and after.get("status"):
        out.append(
            ("status", f"{_status_label(before['status'])} → {_status_label(after['status'])}")
        )
    elif after.get("status"):
        out.append(("status", _status_label(after["status"])))
    for key, value in after.items():
        if key != "status":
            out.append((key.replace("_", " "), _detail_text(key, value)))
    for key in ("reason", "written_off", "outstanding"):
        if details.get(key) not in (None, ""):
            out.append((key.replace("_", " "), _detail_text(key, details[key])))
    return out
