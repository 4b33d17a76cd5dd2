"""Borrower reads: the searchable, sortable list, the picker's matches and a borrower's loans.

Each function returns a queryset (or one aggregate) with its joins done, so a page renders in a
fixed number of queries however many rows it shows.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import Coalesce

from accounts.offices import scope
from lending.models import ZERO, Borrower, Loan
from lending.phones import phone_search_digits

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    AnyUser = User | AnonymousUser

# ?sort= value -> ordering. Every ordering ends with the primary key so pages never overlap.
BORROWER_SORTS: dict[str, tuple[str, list[str]]] = {
    "name": ("Name, A to Z", ["full_name", "id"]),
    "-name": ("Name, Z to A", ["-full_name", "-id"]),
    "number": ("Number", ["number", "id"]),
    "-number": ("Number, newest first", ["-number", "-id"]),
    "created": ("Registered, oldest first", ["created_at", "id"]),
    "-created": ("Registered, newest first", ["-created_at", "-id"]),
}
DEFAULT_BORROWER_SORT = "name"
DISBURSED = [Loan.Status.ACTIVE, Loan.Status.CLOSED, Loan.Status.WRITTEN_OFF]


def borrower_matching(query: str) -> Q:
    """Name, number, phone or national ID containing the text. The national ID is stored
    normalised, so the query is normalised too ("ab 12-3" finds AB123); phones are stored in
    E.164, so a query that looks like a phone number is looked for by its digits without
    country code or trunk prefix ("0776 780 218" and "+254776780218" find +254776780218)."""
    query = query.strip()
    if not query:
        return Q()
    condition = (
        Q(full_name__icontains=query) | Q(number__icontains=query) | Q(phone__icontains=query)
    )
    phone_digits = phone_search_digits(query)
    if phone_digits:
        condition |= Q(phone__icontains=phone_digits)  # icontains: the trigram index
    national_id = Borrower.normalise_national_id(query)
    if national_id:
        condition |= Q(national_id__contains=national_id)
    return condition


def borrower_list(*, query: str = "", sort: str = DEFAULT_BORROWER_SORT) -> QuerySet[Borrower]:
    ordering = BORROWER_SORTS.get(sort, BORROWER_SORTS[DEFAULT_BORROWER_SORT])[1]
    return Borrower.objects.filter(borrower_matching(query)).order_by(*ordering)


def borrower_search(*, query: str, user: AnyUser, limit: int = 20) -> list[Borrower]:
    """Matches for the application form's borrower picker (the first `limit` by name), among
    the borrowers of the user's offices."""
    if not query.strip():
        return []
    return list(
        scope(Borrower.objects.filter(borrower_matching(query)), user)
        .order_by("full_name", "id")
        .only("id", "number", "full_name", "national_id")[:limit]
    )


def borrower_loans(*, borrower: Borrower) -> QuerySet[Loan]:
    return (
        Loan.objects.filter(borrower=borrower)
        .select_related("product", "submitted_by")
        .order_by("-submitted_at", "-id")
    )


def borrower_loan_totals(*, borrower: Borrower) -> dict[str, Any]:
    """One aggregate: what the borrower was lent (disbursed loans) and still owes (active)."""
    # Aliases must not shadow the fields they sum (Django refuses Sum("x") named "x").
    row = Loan.objects.filter(borrower=borrower).aggregate(
        n_loans=Count("id"),
        n_active=Count("id", filter=Q(status=Loan.Status.ACTIVE)),
        n_pending=Count("id", filter=Q(status=Loan.Status.PENDING)),
        sum_principal=Coalesce(Sum("principal", filter=Q(status__in=DISBURSED)), ZERO),
        sum_outstanding=Coalesce(Sum("outstanding", filter=Q(status=Loan.Status.ACTIVE)), ZERO),
    )
    cent = Decimal("0.01")
    return {
        "loans": row["n_loans"],
        "active": row["n_active"],
        "pending": row["n_pending"],
        "principal": Decimal(row["sum_principal"]).quantize(cent),
        "outstanding": Decimal(row["sum_outstanding"]).quantize(cent),
    }
