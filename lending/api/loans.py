"""Loans: apply (and the seed's alias), list, read, approve, reject, schedule, status, and the
schedule preview. Every write is one call to a service of `lending.services.loans`."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import Http404, HttpRequest
from django.shortcuts import get_object_or_404
from django.utils import timezone
from ninja import Query, Router
from ninja.responses import Status

from lending.api.common import page_of, referenced, user_with
from lending.api.schemas import (
    ApproveIn,
    Id,
    LoanDetailOut,
    LoanFilters,
    LoanIn,
    LoanOut,
    LoanPage,
    PreviewIn,
    RejectIn,
    ScheduleOut,
    SeedLoanIn,
    StatusOut,
    TermsIn,
    errors,
)
from lending.forms import DEFAULT_TERMS, PRODUCT_DEFAULT_FIELDS
from lending.models import Borrower, Loan, LoanProduct
from lending.schedule import Schedule, build_schedule
from lending.selectors.loans import loan_for_page, loan_list, loan_schedule
from lending.selectors.status import LoanStatus, loan_status
from lending.services.loans import (
    TERM_FIELDS,
    check_product_limits,
    loan_approve,
    loan_reject,
    loan_submit,
    preview_schedule,
    terms_for,
)

router = Router(tags=["loans"])

ZERO = Decimal("0.00")


def _terms(payload: TermsIn) -> tuple[LoanProduct | None, dict[str, Any]]:
    """The product named (if any) and the terms as sent, each omitted option taken from the
    product, else from the default: the same defaults the application form starts from."""
    product = referenced(LoanProduct.objects.all(), payload.product_id, "product_id", "product")
    terms = {name: getattr(payload, name) for name in TERM_FIELDS}
    for name in PRODUCT_DEFAULT_FIELDS:
        if terms[name] is None:
            terms[name] = getattr(product, name) if product is not None else DEFAULT_TERMS[name]
    if terms["annual_interest_rate"] is None:
        if product is None:
            raise ValidationError(
                {"annual_interest_rate": "Give the annual interest rate, or a product_id."}
            )
        terms["annual_interest_rate"] = product.default_interest_rate
    return product, terms


def _submit(request: HttpRequest, *, borrower_id: int, purpose: str, terms: TermsIn) -> Status:
    user = user_with(request, "lending.add_loan")
    borrower = referenced(Borrower.objects.all(), borrower_id, "borrower_id", "borrower")
    product, values = _terms(terms)
    loan = loan_submit(
        user=user,
        borrower=borrower,  # type: ignore[arg-type]  # referenced() raised if it was missing
        product=product,
        purpose=purpose,
        request=request,
        **values,
    )
    return Status(201, loan)


@router.post(
    "/loans", response={201: LoanOut, **errors(400, 401, 403, 422)}, summary="Apply for a loan"
)
def create_loan(request: HttpRequest, payload: LoanIn) -> Status:
    """Submit an application (status `pending`); someone else approves it."""
    return _submit(request, borrower_id=payload.borrower_id, purpose=payload.purpose, terms=payload)


@router.post(
    "/create-loans",
    response={201: LoanOut, **errors(400, 401, 403, 422)},
    summary="Apply for a loan (the seed application's fields)",
)
def create_loan_seed(request: HttpRequest, payload: SeedLoanIn) -> Status:
    """Alias of `POST /loans` for clients of the seed application: `loan_amount`,
    `interest_rate` (annual %, default 2) and `repayment_period` (months) make a monthly loan;
    the other options come from the product when one is named, else the defaults."""
    terms = TermsIn.model_validate(
        {
            "product_id": payload.product_id,
            "principal": payload.loan_amount,
            "annual_interest_rate": payload.interest_rate,
            "installments": payload.repayment_period,
            "frequency": "monthly",
        }
    )
    return _submit(request, borrower_id=payload.borrower_id, purpose=payload.purpose, terms=terms)


@router.get("/loans", response={200: LoanPage, **errors(401, 403, 422)}, summary="List loans")
def list_loans(request: HttpRequest, filters: Query[LoanFilters]) -> dict[str, Any]:
    user_with(request, "lending.view_loan")
    officer = None
    if filters.officer:
        officer = User.objects.filter(username=filters.officer).first()
        if officer is None:  # nobody by that name submitted anything
            return page_of(Loan.objects.none(), filters)
    found = loan_list(
        query=filters.q,
        status=filters.status or "",
        officer=officer,
        product_id=filters.product_id,
        borrower_id=filters.borrower_id,
    )
    return page_of(found, filters)


@router.get(
    "/loans/{id}",
    response={200: LoanDetailOut, **errors(401, 403, 404, 422)},
    summary="Read a loan",
)
def get_loan(request: HttpRequest, id: Id) -> Loan:
    """The loan, and for an active loan its `balance`: owed today by component (the same
    figures as the loan page and `/loans/{id}/status`)."""
    user_with(request, "lending.view_loan")
    loan = loan_for_page(id)
    active = loan.status == Loan.Status.ACTIVE
    loan.balance = loan_status(loan).balance if active else None  # type: ignore[attr-defined]
    return loan


@router.post(
    "/loans/{id}/approve",
    response={200: LoanOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Approve and disburse an application",
)
def approve_loan(request: HttpRequest, id: Id, payload: ApproveIn | None = None) -> Loan:
    """Four eyes: whoever submitted the application cannot approve it (403). Only a pending
    application can be approved (409). The schedule is built from the disbursement date."""
    user = user_with(request, "lending.approve_loan")
    loan = loan_for_page(id)
    disbursement_date = payload.disbursement_date if payload else None
    loan_approve(loan=loan, user=user, disbursement_date=disbursement_date, request=request)
    return loan_for_page(id)


@router.post(
    "/loans/{id}/reject",
    response={200: LoanOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Reject an application",
)
def reject_loan(request: HttpRequest, id: Id, payload: RejectIn) -> Loan:
    user = user_with(request, "lending.approve_loan")
    loan = loan_for_page(id)
    loan_reject(loan=loan, user=user, reason=payload.reason, request=request)
    return loan_for_page(id)


def _row(
    *,
    number: int,
    due_date: Any,
    principal: Decimal,
    interest: Decimal,
    fees: Decimal = ZERO,
    penalties: Decimal = ZERO,
    waived: Decimal = ZERO,
    paid: Decimal = ZERO,
    status: str = "due",
) -> dict[str, Any]:
    return {
        "number": number,
        "due_date": due_date,
        "principal": principal,
        "interest": interest,
        "fees": fees,
        "penalties": penalties,
        "total": principal + interest + fees + penalties,
        "waived": waived,
        "paid": paid,
        "status": status,
    }


def _schedule(rows: Iterable[dict[str, Any]], *, projected: bool) -> dict[str, Any]:
    rows = list(rows)
    parts = ("principal", "interest", "fees", "penalties", "total")
    totals = {part: sum((row[part] for row in rows), ZERO) for part in parts}
    return {"installments": rows, "totals": totals, "projected": projected}


def _from_engine(schedule: Schedule) -> list[dict[str, Any]]:
    return [
        _row(number=r.number, due_date=r.due_date, principal=r.principal, interest=r.interest)
        for r in schedule.installments
    ]


@router.get(
    "/loans/{id}/schedule",
    response={200: ScheduleOut, **errors(401, 403, 404, 422)},
    summary="A loan's repayment schedule",
)
def get_loan_schedule(request: HttpRequest, id: Id) -> dict[str, Any]:
    """The stored schedule with what has been paid against each installment (`overdue` when
    its due date has passed unpaid). A pending application has no stored schedule yet: its
    answer is the schedule it would get if disbursed today, marked `projected`."""
    user_with(request, "lending.view_loan")
    loan = get_object_or_404(Loan, pk=id)
    if loan.status == Loan.Status.PENDING:
        projected = build_schedule(terms_for(loan, timezone.localdate()))
        return _schedule(_from_engine(projected), projected=True)
    stored = loan_schedule(loan=loan, today=timezone.localdate())
    rows = (
        _row(
            number=row.number,
            due_date=row.due_date,
            principal=row.principal,
            interest=row.interest,
            fees=row.fees,
            penalties=row.penalties,
            waived=row.interest_waived,
            paid=row.paid,
            status="overdue" if row.overdue else row.status,  # type: ignore[attr-defined]
        )
        for row in stored.rows
    )
    return _schedule(rows, projected=False)


@router.get(
    "/loans/{id}/status",
    response={200: StatusOut, **errors(401, 403, 404, 422)},
    summary="A loan's status against its plan",
)
def get_loan_status(request: HttpRequest, id: Id) -> LoanStatus:
    """`ahead`, `on_track` or `behind` with the figures behind it, from the same cache as the
    pages (`loan_status:{id}`, dropped on every repayment, reversal or status change). The
    status is null for a loan that is not active; the figures are still given."""
    user_with(request, "lending.view_loan")
    try:
        return loan_status(id)
    except Loan.DoesNotExist:
        raise Http404("Not found.") from None


@router.post(
    "/schedule/preview",
    response={200: ScheduleOut, **errors(400, 401, 403, 422)},
    summary="Preview a schedule (nothing is stored)",
)
def schedule_preview(request: HttpRequest, payload: PreviewIn) -> dict[str, Any]:
    """The loan calculator: terms in, schedule out. `disbursement_date` defaults to today;
    a product's limits are checked when `product_id` is given."""
    user_with(request, "lending.view_loan")
    product, terms = _terms(payload)
    check_product_limits(product, terms)
    schedule = preview_schedule(terms, payload.disbursement_date or timezone.localdate())
    return _schedule(_from_engine(schedule), projected=True)
