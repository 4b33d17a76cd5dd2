"""Reads for loan officers: My portfolio, Waiting for my approval, and the borrowers an Admin
reassigns (DESIGN.md, "Offices, loan officers, holidays and origination")."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.db.models import Count, Q, QuerySet, Sum

from accounts.offices import scope
from lending.models import Borrower, Loan
from lending.services.officers import OPEN_STATUSES

Status = Loan.Status
# What an officer follows up: applications waiting, and loans still being repaid.
PORTFOLIO_STATUSES = [Status.PENDING, Status.APPROVED, Status.ACTIVE]


def my_portfolio(*, officer: User) -> QuerySet[Loan]:
    """The officer's loans being followed up, the latest ones first (most days past due),
    then the rest by the next thing to happen."""
    return (
        scope(Loan.objects.all(), officer)
        .filter(officer=officer, status__in=PORTFOLIO_STATUSES)
        .select_related("borrower", "product")
        .order_by("-days_past_due", "status", "-submitted_at", "-id")
    )


def waiting_for_approval(*, user: User) -> QuerySet[Loan]:
    """Applications this user may decide (four eyes: never their own), the oldest first."""
    return (
        scope(Loan.objects.all(), user)
        .filter(status=Status.PENDING)
        .exclude(submitted_by=user)
        .select_related("borrower", "product", "submitted_by")
        .order_by("submitted_at", "id")
    )


def borrowers_to_reassign(
    *, user: User, officer_id: int | None, query: str = ""
) -> QuerySet[Borrower]:
    """Borrowers of the user's offices (of one officer, or of nobody with `officer_id=0`),
    each with the count and outstanding of its open loans, which move with it."""
    borrowers = scope(Borrower.objects.select_related("officer", "office"), user)
    if officer_id == 0:
        borrowers = borrowers.filter(officer__isnull=True)
    elif officer_id is not None:
        borrowers = borrowers.filter(officer_id=officer_id)
    query = query.strip()
    if query:
        borrowers = borrowers.filter(Q(full_name__icontains=query) | Q(number__icontains=query))
    open_loans = Q(loans__status__in=OPEN_STATUSES)
    return borrowers.annotate(
        open_loans=Count("loans", filter=open_loans),
        open_outstanding=Sum("loans__outstanding", filter=open_loans),
    ).order_by("full_name", "id")
