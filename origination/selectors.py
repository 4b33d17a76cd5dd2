"""Origination reads: a borrower's documents and everything the approver weighs before the
decision, each in a fixed number of queries whatever the number of loans, guarantors,
collateral or documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal

from django.db.models import Count, F, OuterRef, Q, QuerySet, Subquery, Sum, Value
from django.db.models.expressions import CombinedExpression
from django.db.models.functions import Coalesce

from lending.models import ZERO, Borrower, Installment, Loan
from origination.models import BorrowerDocument, Collateral, Guarantor

DOCUMENTS_SHOWN = 50
OTHER_LOANS_SHOWN = 10
MONEY = Loan._meta.get_field("principal")
CENT = Decimal("0.01")
ACTIVE = Loan.Status.ACTIVE
PENDING = Loan.Status.PENDING


def money(value: object) -> Decimal:
    """An amount summed by the database, to the cent (SQLite's sums lose the scale)."""
    return Decimal(str(value if value is not None else ZERO)).quantize(CENT)


def _principal_left() -> CombinedExpression:
    """A loan's principal not yet repaid: its principal less what its installments have had
    of principal (zero before disbursement, when it has no installments)."""
    paid = Subquery(
        Installment.objects.filter(loan_id=OuterRef("pk"))
        .order_by()
        .values("loan_id")
        .annotate(s=Sum("principal_paid"))
        .values("s")[:1],
        output_field=MONEY,
    )
    return F("principal") - Coalesce(paid, Value(ZERO), output_field=MONEY)


@dataclass
class DocumentList:
    rows: list[BorrowerDocument]
    total: int


def borrower_documents(*, borrower: Borrower, limit: int = DOCUMENTS_SHOWN) -> DocumentList:
    """The borrower's latest documents with who uploaded them (one query; a second counts
    them only when there are more than `limit`)."""
    rows = list(
        BorrowerDocument.objects.filter(borrower=borrower)
        .select_related("uploaded_by")
        .order_by("-uploaded_at", "-id")[: limit + 1]
    )
    if len(rows) <= limit:
        return DocumentList(rows=rows, total=len(rows))
    return DocumentList(
        rows=rows[:limit], total=BorrowerDocument.objects.filter(borrower=borrower).count()
    )


@dataclass
class ApplicationFile:
    """What the approver sees beside an application: the borrower's income, their other loans
    and total exposure, the guarantors, collateral and documents."""

    borrower: Borrower
    other_loans: list[Loan]
    other_loans_count: int
    other_active_count: int
    other_active_principal_left: Decimal
    other_active_outstanding: Decimal
    other_pending_count: int
    other_pending_principal: Decimal
    other_late_count: int
    exposure: Decimal
    guarantees_given_count: int
    guarantees_given_amount: Decimal
    other_approved_amount: Decimal = ZERO  # approved, waiting for the money: in the exposure
    guarantors: list[Guarantor] = field(default_factory=list)
    collateral: list[Collateral] = field(default_factory=list)
    documents: DocumentList | None = None

    @property
    def guaranteed_total(self) -> Decimal:
        return sum((g.amount for g in self.guarantors), ZERO)

    @property
    def collateral_total(self) -> Decimal:
        return sum((c.value for c in self.collateral), ZERO)


def other_loans(*, loan: Loan) -> QuerySet[Loan]:
    """The borrower's loans other than this one, newest first, each with `principal_left`."""
    return (
        Loan.objects.filter(borrower_id=loan.borrower_id)
        .exclude(pk=loan.pk)
        .annotate(principal_left=_principal_left())
        .order_by("-submitted_at", "-id")
    )


def loan_guarantors(*, loan: Loan) -> list[Guarantor]:
    return list(Guarantor.objects.filter(loan=loan).select_related("borrower", "added_by"))


def loan_collateral(*, loan: Loan) -> list[Collateral]:
    return list(Collateral.objects.filter(loan=loan).select_related("added_by"))


def application_file(*, loan: Loan) -> ApplicationFile:
    """Seven queries at most: the borrower, the totals of their other loans, the latest of
    them, the guarantees they give, this application's guarantors, collateral and the
    borrower's documents (and their count when there are more than shown)."""
    borrower = Borrower.objects.get(pk=loan.borrower_id)
    others = other_loans(loan=loan)
    active, pending = Q(status=ACTIVE), Q(status=PENDING)
    totals = others.order_by().aggregate(
        n=Count("pk"),
        n_active=Count("pk", filter=active),
        n_pending=Count("pk", filter=pending),
        n_late=Count("pk", filter=active & Q(days_past_due__gt=0)),
        active_left=Coalesce(Sum("principal_left", filter=active), Value(ZERO), output_field=MONEY),
        active_outstanding=Coalesce(
            Sum("outstanding", filter=active), Value(ZERO), output_field=MONEY
        ),
        pending_principal=Coalesce(
            Sum("principal", filter=pending), Value(ZERO), output_field=MONEY
        ),
        # Approved and waiting for its money (a two-step product): already promised.
        approved_amount=Coalesce(
            Sum("approved_amount", filter=Q(status=Loan.Status.APPROVED)),
            Value(ZERO),
            output_field=MONEY,
        ),
    )
    given = (
        Guarantor.objects.filter(borrower=borrower, loan__status__in=[ACTIVE, PENDING])
        .exclude(loan=loan)
        .aggregate(n=Count("pk"), amount=Coalesce(Sum("amount"), Value(ZERO), output_field=MONEY))
    )
    active_left = money(totals["active_left"])
    listed = list(others.select_related("product")[:OTHER_LOANS_SHOWN])
    for other in listed:
        other.principal_left = money(other.principal_left)  # type: ignore[attr-defined]
    return ApplicationFile(
        borrower=borrower,
        other_loans=listed,
        other_loans_count=totals["n"],
        other_active_count=totals["n_active"],
        other_active_principal_left=active_left,
        other_active_outstanding=money(totals["active_outstanding"]),
        other_pending_count=totals["n_pending"],
        other_pending_principal=money(totals["pending_principal"]),
        other_late_count=totals["n_late"],
        exposure=active_left + money(totals["approved_amount"]) + loan.principal,
        other_approved_amount=money(totals["approved_amount"]),
        guarantees_given_count=given["n"],
        guarantees_given_amount=money(given["amount"]),
        guarantors=loan_guarantors(loan=loan),
        collateral=loan_collateral(loan=loan),
        documents=borrower_documents(borrower=borrower),
    )
