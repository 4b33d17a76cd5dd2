"""Loans: apply (and the seed's alias), list, read, approve, reject, schedule, status, payoff
quote, and the schedule preview. Every write is one call to a service of
`lending.services.loans`."""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from ninja import Query, Router
from ninja.responses import Status

from accounts.offices import reaches_everything, scope, user_office_id
from lending.api.common import exists_or_404, found, not_found, page_of, referenced, user_with
from lending.api.history import loan_answer, loans_for_answers
from lending.api.schemas import (
    ApproveIn,
    DisburseIn,
    Id,
    LoanDetailOut,
    LoanFilters,
    LoanIn,
    LoanOut,
    LoanPage,
    PayoffFilters,
    PayoffOut,
    PreviewIn,
    ReasonIn,
    RejectIn,
    ScheduleOut,
    SeedLoanIn,
    StatusOut,
    TermsIn,
    errors,
)
from lending.charges import LoanFees
from lending.forms import DEFAULT_TERMS, PRODUCT_DEFAULT_FIELDS
from lending.models import Borrower, Loan, LoanProduct
from lending.schedule import Schedule
from lending.selectors.calendar import working_calendar
from lending.selectors.loans import loan_list, loan_schedule
from lending.selectors.status import LoanStatus, loan_status
from lending.services.loans import (
    TERM_FIELDS,
    check_product_limits,
    due_date_rule_for,
    fees_for,
    loan_approval_undo,
    loan_approve,
    loan_disburse,
    loan_disbursement_undo,
    loan_reject,
    loan_submit,
    loan_write_off,
    loan_write_off_undo,
    preview_schedule,
    product_charge_terms,
    projected_fees,
    projected_schedule,
)
from lending.services.repayments import payoff_quote

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
    borrower = referenced(
        scope(Borrower.objects.all(), user), borrower_id, "borrower_id", "borrower"
    )
    product, values = _terms(terms)
    loan = loan_submit(
        user=user,
        borrower=borrower,  # type: ignore[arg-type]  # referenced() raised if it was missing
        product=product,
        purpose=purpose,
        request=request,
        **values,
    )
    return Status(201, _loan(loan.pk, user))


@router.post(
    "/loans", response={201: LoanOut, **errors(400, 401, 403, 422)}, summary="Apply for a loan"
)
def create_loan(request: HttpRequest, payload: LoanIn) -> Status:
    """Submit an application (status `pending`); someone else approves it."""
    return _submit(request, borrower_id=payload.borrower_id, purpose=payload.purpose, terms=payload)


# The seed's name of a field → the standard name it stands for.
SEED_NAMES = {
    "loan_amount": "principal",
    "interest_rate": "annual_interest_rate",
    "repayment_period": "installments",
}
SEED_DEFAULT_RATE = Decimal("2")


def seed_terms(payload: SeedLoanIn) -> TermsIn:
    """The standard terms of a `POST /create-loans` body: each pair of names given once."""
    sent = payload.model_fields_set
    problems: dict[str, str] = {}
    values = payload.model_dump(exclude={"borrower_id", "purpose", *SEED_NAMES})
    for seed, standard in SEED_NAMES.items():
        if seed in sent and standard in sent:
            problems[seed] = f"Give {seed} or {standard}, not both."
        elif seed in sent:
            values[standard] = getattr(payload, seed)
    for seed, standard in (("loan_amount", "principal"), ("repayment_period", "installments")):
        if values[standard] is None and seed not in problems:
            problems[standard] = f"Give {standard} (or the seed's {seed})."
    if "repayment_period" in sent and payload.frequency not in (None, "monthly"):
        problems["frequency"] = (
            "repayment_period counts months: leave frequency out, or give installments."
        )
    if "repayment_period" in sent:
        values["frequency"] = "monthly"
    if values["annual_interest_rate"] is None and payload.product_id is None:
        values["annual_interest_rate"] = SEED_DEFAULT_RATE
    if problems:
        raise ValidationError(problems)
    return TermsIn.model_construct(**values)


@router.post(
    "/create-loans",
    response={201: LoanOut, **errors(400, 401, 403, 422)},
    summary="Apply for a loan (the seed application's fields, or the standard ones)",
)
def create_loan_seed(request: HttpRequest, payload: SeedLoanIn) -> Status:
    """Alias of `POST /loans` for clients of the seed application: `loan_amount`,
    `interest_rate` (annual %, default 2) and `repayment_period` (months: a monthly loan)
    stand for `principal`, `annual_interest_rate` and `installments`; the standard names and
    every other option of `POST /loans` are accepted too. Options not given come from the
    product when one is named, else the defaults."""
    terms = seed_terms(payload)
    return _submit(request, borrower_id=payload.borrower_id, purpose=payload.purpose, terms=terms)


def _loan(pk: int, user: User) -> dict[str, Any]:
    """The answer for one loan, or 404 (also another office's): one query."""
    loan = loans_for_answers(scope(Loan.objects.filter(pk=pk), user)).first()
    if loan is None:
        raise not_found("Loan")
    return loan_answer(loan, today=timezone.localdate())


@router.get("/loans", response={200: LoanPage, **errors(401, 403, 422)}, summary="List loans")
def list_loans(request: HttpRequest, filters: Query[LoanFilters]) -> dict[str, Any]:
    user = user_with(request, "lending.view_loan")
    officer = None
    if filters.officer:
        officer = User.objects.filter(username=filters.officer).first()
        if officer is None:  # nobody by that name submitted anything
            return page_of(request, Loan.objects.none(), filters)
    matching = scope(
        loan_list(
            query=filters.q,
            status=filters.status or "",
            officer=officer,
            product_id=filters.product_id,
            borrower_id=filters.borrower_id,
        ),
        user,
    )
    # A pending application's projected totals include its product's fees: one query for all.
    page = page_of(
        request, loans_for_answers(matching).prefetch_related("product__charges"), filters
    )
    today = timezone.localdate()
    page["items"] = [loan_answer(loan, today=today) for loan in page["items"]]
    return page


@router.get(
    "/loans/{id}",
    response={200: LoanDetailOut, **errors(401, 403, 404, 422)},
    summary="Read a loan",
)
def get_loan(request: HttpRequest, id: Id) -> dict[str, Any]:
    """A pending application shows the totals its terms would give (`projected: true`); an
    active loan its `balance`: owed today by component (the same figures as the loan page and
    `/loans/{id}/status`)."""
    user = user_with(request, "lending.view_loan")
    answer = _loan(id, user)
    active = answer["status"] == Loan.Status.ACTIVE
    answer["balance"] = loan_status(id).balance if active else None
    return answer


@router.post(
    "/loans/{id}/approve",
    response={200: LoanOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Approve an application (and disburse it, when its product says so)",
    openapi_extra={"requestBody": {"required": False}},
)
def approve_loan(request: HttpRequest, id: Id, payload: ApproveIn | None = None) -> dict[str, Any]:
    """Four eyes: whoever submitted the application cannot approve it (403, naming who can).
    Only a pending application can be approved (409). When the product disburses on approval
    (the default) the loan is active, its schedule built from the disbursement date (today
    when the body is empty or left out). Otherwise it is `approved` for `approved_amount`
    and waits for `POST /loans/{id}/disburse`."""
    user = user_with(request, "lending.approve_loan")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    loan_approve(
        loan=loan,
        user=user,
        disbursement_date=payload.disbursement_date if payload else None,
        approved_amount=payload.approved_amount if payload else None,
        expected_disbursement_date=payload.expected_disbursement_date if payload else None,
        request=request,
    )
    return _loan(id, user)


@router.post(
    "/loans/{id}/disburse",
    response={200: LoanOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Disburse an approved loan (Accountant, Admin)",
)
def disburse_loan(request: HttpRequest, id: Id, payload: DisburseIn) -> dict[str, Any]:
    """The money is handed over: the schedule is built from `disbursement_date` and the
    disbursement booked with its journal entry; the loan is active. Only an approved loan
    (409); more than the approved amount, a date before the approval or in the future, or a
    closed day is a 422 naming the field."""
    user = user_with(request, "lending.disburse_loan")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    loan_disburse(
        loan=loan,
        user=user,
        disbursement_date=payload.disbursement_date,
        amount=payload.amount,
        method=payload.method,
        reference=payload.reference,
        request=request,
    )
    return _loan(id, user)


@router.post(
    "/loans/{id}/undo-approval",
    response={200: LoanOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Send an approved loan back to pending (Admin)",
)
def undo_approval(request: HttpRequest, id: Id, payload: ReasonIn) -> dict[str, Any]:
    """Only an approved loan not yet disbursed (409); the reason is required (422)."""
    user = user_with(request, "lending.undo_loan_decision")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    loan_approval_undo(loan=loan, user=user, reason=payload.reason, request=request)
    return _loan(id, user)


@router.post(
    "/loans/{id}/undo-disbursement",
    response={200: LoanOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Take a disbursement back while it is the loan's only transaction (Admin)",
)
def undo_disbursement(request: HttpRequest, id: Id, payload: ReasonIn) -> dict[str, Any]:
    """The disbursement is reversed with the mirror of its journal entry, the schedule
    removed, and the loan approved again. Only an active loan with nothing booked since its
    disbursement (409); not when the books are closed through its date, and the reason is
    required (422)."""
    user = user_with(request, "lending.undo_loan_decision")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    loan_disbursement_undo(loan=loan, user=user, reason=payload.reason, request=request)
    return _loan(id, user)


@router.post(
    "/loans/{id}/reject",
    response={200: LoanOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Reject an application",
)
def reject_loan(request: HttpRequest, id: Id, payload: RejectIn) -> dict[str, Any]:
    user = user_with(request, "lending.approve_loan")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    loan_reject(loan=loan, user=user, reason=payload.reason, request=request)
    return _loan(id, user)


@router.post(
    "/loans/{id}/write-off",
    response={200: LoanOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Write off an active loan (Admin)",
)
def write_off_loan(request: HttpRequest, id: Id, payload: ReasonIn) -> dict[str, Any]:
    """Collection stops: everything left is written off by component and journalled as a
    loss. Only an active loan (409); the reason is required (400)."""
    user = user_with(request, "lending.write_off_loan")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    loan_write_off(loan=loan, user=user, reason=payload.reason, request=request)
    return _loan(id, user)


@router.post(
    "/loans/{id}/undo-write-off",
    response={200: LoanOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Take a write-off back while nothing was recovered (Admin)",
)
def undo_write_off(request: HttpRequest, id: Id, payload: ReasonIn) -> dict[str, Any]:
    """The loan is active again as if never written off, the write-off's journal entry
    mirrored. Only a written-off loan with nothing booked since (409); not when the books are
    closed through the write-off's date (400); the reason is required (400)."""
    user = user_with(request, "lending.write_off_loan")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    loan_write_off_undo(loan=loan, user=user, reason=payload.reason, request=request)
    return _loan(id, user)


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


def _schedule(
    rows: Iterable[dict[str, Any]], *, projected: bool, fees_deducted: Decimal = ZERO
) -> dict[str, Any]:
    rows = list(rows)
    parts = ("principal", "interest", "fees", "penalties", "total")
    totals = {part: sum((row[part] for row in rows), ZERO) for part in parts}
    return {
        "installments": rows,
        "totals": totals,
        "projected": projected,
        "fees_deducted": fees_deducted,
    }


def _projected(schedule: Schedule, fees: LoanFees) -> dict[str, Any]:
    """A schedule not stored yet, with the fees its product would charge."""
    per = fees.by_installment()
    rows = [
        _row(
            number=r.number,
            due_date=r.due_date,
            principal=r.principal,
            interest=r.interest,
            fees=per.get(r.number, ZERO),
        )
        for r in schedule.installments
    ]
    return _schedule(rows, projected=True, fees_deducted=fees.deducted)


@router.get(
    "/loans/{id}/schedule",
    response={200: ScheduleOut, **errors(401, 403, 404, 422)},
    summary="A loan's repayment schedule",
)
def get_loan_schedule(request: HttpRequest, id: Id) -> dict[str, Any]:
    """The stored schedule with what has been paid against each installment (`overdue` when
    its due date has passed unpaid). A pending application has no stored schedule yet: its
    answer is the schedule it would get if disbursed today, marked `projected`; so has an
    approved loan not disbursed yet (for its approved amount, from the later of today and the
    expected disbursement date)."""
    user = user_with(request, "lending.view_loan")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    if loan.status in (Loan.Status.PENDING, Loan.Status.APPROVED):
        today = timezone.localdate()
        projected = projected_schedule(loan, today)
        return _projected(projected, projected_fees(loan, projected, today))
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
    return _schedule(rows, projected=False, fees_deducted=loan.fees_deducted)


@router.get(
    "/loans/{id}/status",
    response={200: StatusOut, **errors(401, 403, 404, 422)},
    summary="A loan's status against its plan",
)
def get_loan_status(request: HttpRequest, id: Id) -> LoanStatus:
    """`ahead`, `on_track` or `behind` with the figures behind it, from the same cache as the
    pages (`loan_status:{id}`, dropped on every repayment, reversal or status change). The
    status is null for a loan that is not active; the figures are still given."""
    user = user_with(request, "lending.view_loan")
    if not reaches_everything(user):  # another office's loan is a 404
        exists_or_404(scope(Loan.objects.all(), user), id, "Loan")
    try:
        return loan_status(id)
    except Loan.DoesNotExist:
        raise not_found("Loan") from None


@router.get(
    "/loans/{id}/payoff",
    response={200: PayoffOut, **errors(401, 403, 404, 409, 422)},
    summary="What settling a loan early costs",
)
def get_loan_payoff(request: HttpRequest, id: Id, filters: Query[PayoffFilters]) -> dict[str, Any]:
    """The payoff quote of an active loan for a date (default today), with its parts: what is
    due, the principal not yet due, the current period's interest up to that date, unpaid
    penalties and fees, less the interest already paid on installments due after that date
    (credited, never kept). The same figures as the settlement page. 409 for a loan that is
    not active; 422 for a date before the disbursement."""
    user = user_with(request, "lending.view_loan")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    quote = payoff_quote(loan=loan, on=filters.on or timezone.localdate())
    return {
        "loan_id": loan.pk,
        "on": quote.on,
        "amount": quote.total,
        "past_due": quote.past_due,
        "principal_not_due": quote.principal_not_due,
        "accrued_interest": quote.accrued_interest,
        "penalties_and_fees": quote.penalties_and_fees,
        "interest_credited": quote.interest_credited,
        "interest_waived": quote.interest_waived,
        "fees_waived": quote.fees_waived,
        "outstanding": quote.outstanding,
    }


@router.post(
    "/schedule/preview",
    response={200: ScheduleOut, **errors(400, 401, 403, 422)},
    summary="Preview a schedule (nothing is stored)",
)
def schedule_preview(request: HttpRequest, payload: PreviewIn) -> dict[str, Any]:
    """The loan calculator: terms in, schedule out. `disbursement_date` defaults to today;
    a product's limits are checked when `product_id` is given."""
    user = user_with(request, "lending.view_loan")
    product, terms = _terms(payload)
    check_product_limits(product, terms)
    disbursed = payload.disbursement_date or timezone.localdate()
    schedule = preview_schedule(
        terms,
        disbursed,
        due_date_rule=due_date_rule_for(product),
        calendar=working_calendar(user_office_id(user)),
    )
    fees = fees_for(product_charge_terms(product), terms["principal"], disbursed, schedule)
    return _projected(schedule, fees)
