"""Loan pages: the list, the application form with its schedule preview, the loan page and
the transitions (approve, reject, withdraw, write off).

Transitions are POST-only. Who may act is decided by `accounts.access` and, for the object
rules (four eyes, own application), by the service itself, which raises PermissionDenied
(a 403 page). A wrong state or bad input comes back as a message on the loan page; the
service has written nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Page
from django.forms import Form
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import (
    can_approve,
    can_disburse,
    can_record_repayment,
    can_undo_decision,
    can_view_ledger,
    can_waive,
    can_withdraw,
    can_write_off,
    permission_required,
)
from accounts.offices import check_office, get_scoped_or_404, scope
from karo.caching import reads_ahead
from lending.charges import with_fees
from lending.forms import (
    DEFAULT_TERMS,
    ROUNDING_FIELDS,
    ApproveForm,
    ApproveOnlyForm,
    DisburseForm,
    LoanApplicationForm,
    LoanFilterForm,
    ReasonForm,
    WithdrawForm,
    add_service_errors,
    error_text,
    product_defaults,
)
from lending.models import Borrower, Loan, LoanProduct
from lending.pagination import CachedCountPaginator
from lending.receivers import portfolio_generation
from lending.schedule import Schedule
from lending.selectors.borrowers import borrower_search
from lending.selectors.calendar import working_calendar
from lending.selectors.loans import (
    LOAN_PAGE_HISTORY,
    LOAN_PAGE_REPAYMENTS,
    loan_adjustments,
    loan_for_page,
    loan_history,
    loan_repayments,
    loan_row_key,
    loan_schedule,
    loan_status_change,
    loan_with_generations,
)
from lending.selectors.loans import loan_list as select_loans
from lending.selectors.status import loan_status, loan_statuses
from lending.selectors.transactions import LOAN_PAGE_TRANSACTIONS, loan_transactions
from lending.services import loans as services
from lending.views.borrowers import is_partial, render_page, signed_in

PAGE_SIZE = 25
Status = Loan.Status


@permission_required("lending.view_loan")
@require_GET
def loan_list(request: HttpRequest) -> HttpResponse:
    # The filters and results are cached under the portfolio generation, read first: the form
    # is built and checked (its choices read) and the loans read only when that cached copy is
    # missing.
    generation = portfolio_generation()
    form: LoanFilterForm = SimpleLazyObject(lambda: LoanFilterForm(request.GET, user=request.user))  # type: ignore[assignment]

    @cache
    def filters() -> dict[str, Any]:
        form.is_valid()
        return form.filters()

    def page() -> Page[Loan]:
        loans = scope(select_loans(**filters()), request.user)
        page_obj = CachedCountPaginator(loans, PAGE_SIZE).get_page(request.GET.get("page"))
        # Status against plan for the active loans on this page (cached; one query for misses).
        plans = loan_statuses([loan for loan in page_obj if loan.status == Status.ACTIVE])
        for loan in page_obj:
            loan.plan = plans.get(loan.pk)  # type: ignore[attr-defined]
        return page_obj

    def borrower() -> Borrower | None:
        borrower_id = filters()["borrower_id"]
        if not borrower_id:
            return None
        return scope(Borrower.objects.filter(pk=borrower_id), request.user).first()

    context = {
        "generation": generation,
        "today": timezone.localdate(),
        "form": form,
        "page_obj": SimpleLazyObject(page),
        "borrower": SimpleLazyObject(borrower),
        "filtered": lambda: any(value not in (None, "") for value in filters().values()),
    }
    return render_page(request, "lending/loans/list.html", "results", context)


# --- Application --------------------------------------------------------------------------------


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _borrower_options(request: HttpRequest, selected_id: int | None, query: str) -> list[Borrower]:
    """The picker lists the chosen borrower first, then the search matches (of the user's
    offices)."""
    matches = borrower_search(query=query, user=request.user) if query else []
    selected = next((b for b in matches if b.pk == selected_id), None)
    if selected is None and selected_id is not None:
        selected = scope(Borrower.objects.filter(pk=selected_id), request.user).first()
    return ([selected] if selected else []) + [b for b in matches if b != selected]


def _initial_from(data: QueryDict | dict[str, Any]) -> dict[str, Any]:
    """What the officer typed, as initial values of a fresh (unvalidated) form."""
    names = [*LoanApplicationForm.base_fields]
    return {name: data.get(name) for name in names if data.get(name) not in (None, "")}


def _with_product_defaults(initial: dict[str, Any]) -> dict[str, Any]:
    product_id = _int_or_none(initial.get("product"))
    product = None
    if product_id is not None:
        product = LoanProduct.objects.filter(pk=product_id, is_active=True).first()
    if product is None:
        initial.pop("product", None)
        return initial
    return {**initial, **product_defaults(product, initial), "product": product.pk}


@permission_required("lending.view_loan", "lending.add_loan")
@require_http_methods(["GET", "POST"])
def loan_apply(request: HttpRequest) -> HttpResponse:
    """One form, four buttons: "Use product defaults" and "Find" refill the form, "Preview
    schedule" checks the terms and shows the schedule (also live, as the terms change: htmx
    posts `live`), "Submit application" calls `loan_submit`. Only the last writes anything."""
    data = request.POST
    preview = False
    if request.method == "GET":
        initial = {**DEFAULT_TERMS, **_initial_from(request.GET)}
        initial = _with_product_defaults(initial)
        query = initial.get("borrower_q", "")
        form = LoanApplicationForm(
            initial=initial,
            user=request.user,
            borrower_options=_borrower_options(
                request, _int_or_none(initial.get("borrower")), query
            ),
        )
    elif "use_defaults" in data or "find_borrower" in data:
        initial = _initial_from(data)
        if "use_defaults" in data:
            initial = _with_product_defaults(initial)
        query = str(initial.get("borrower_q", "")).strip()[:100]
        options = _borrower_options(request, _int_or_none(initial.get("borrower")), query)
        if "find_borrower" in data and len(options) == 1:
            initial["borrower"] = options[0].pk
        form = LoanApplicationForm(initial=initial, borrower_options=options, user=request.user)
    else:
        query = data.get("borrower_q", "").strip()[:100]
        options = _borrower_options(request, _int_or_none(data.get("borrower")), query)
        form = LoanApplicationForm(data, borrower_options=options, user=request.user)
        preview = "preview" in data
        if preview and "live" in data and is_partial(request):
            # The live preview as the terms change: only the preview, and each term's error
            # slot out of band (the form being typed in is left alone).
            form.is_valid()
            return render(
                request,
                "lending/loans/apply.html#preview",
                {
                    "form": form,
                    "schedule": form.schedule,
                    "live": True,
                    "term_fields": services.TERM_FIELDS,
                    "today": timezone.localdate(),
                },
            )
        if form.is_valid() and not preview:
            cleaned = form.cleaned_data
            try:
                loan = services.loan_submit(
                    user=signed_in(request),
                    borrower=cleaned["borrower"],
                    product=cleaned["product"],
                    purpose=cleaned["purpose"],
                    request=request,
                    **form.terms(),
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"Application {loan.number} for {loan.borrower.full_name} is submitted and "
                    "waits for approval by another officer.",
                )
                return redirect("loan_detail", pk=loan.pk)
    products = list(LoanProduct.objects.filter(is_active=True).order_by("name"))
    context = {
        "form": form,
        "schedule": form.schedule if form.is_bound and not form.errors else None,
        "previewed": preview,
        "products": products,
        "rounding_fields": ROUNDING_FIELDS,
        "today": timezone.localdate(),
    }
    return render_page(request, "lending/loans/apply.html", "application", context)


# --- The loan page ------------------------------------------------------------------------------


@reads_ahead(lambda pk: [loan_row_key(pk)])
@permission_required("lending.view_loan")
@require_GET
def loan_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _loan_page(request, pk)


def _loan_page(request: HttpRequest, pk: int, **forms: Form) -> HttpResponse:
    """The loan page; `forms` replace its empty decision forms (a submitted one, with its
    errors next to its fields)."""
    # The generations the page's sections are cached under, with the loan's row (the borrower,
    # product and staff appear only in cached sections: read when one is missing).
    loan, generation, staff_generation = loan_with_generations(pk)
    check_office(request.user, loan.office_id)  # another office's loan is a 404
    today = timezone.localdate()
    user = request.user
    pending, active = loan.status == Status.PENDING, loan.status == Status.ACTIVE
    full = request.GET.get("schedule") == "all"  # a long schedule in full, not only near today
    # Read only when the cached table (keyed on the loan's last change and today) is missing.
    schedule = (
        None
        if pending or not loan.disbursement_date
        else SimpleLazyObject(lambda: loan_schedule(loan=loan, today=today, window=not full))
    )

    @cache
    def projection() -> tuple[Schedule | None, str]:
        """For an application: what the approver would create today (the stored schedule is
        built at approval), or why these terms cannot be scheduled from today."""
        if not pending:
            return None, ""
        try:
            terms = {name: getattr(loan, name) for name in services.TERM_FIELDS}
            schedule = services.preview_schedule(
                terms,
                today,
                due_date_rule=services.due_date_rule_for(loan.product),
                calendar=working_calendar(loan.office_id),
            )
            charges = services.product_charge_terms(loan.product)
            fees = services.fees_for(charges, loan.principal, today, schedule)
            return with_fees(schedule, fees, loan.principal), ""
        except ValidationError as exc:
            return None, error_text(exc)

    # Like the schedule, the rest is read only when its cached section is missing.
    plan = SimpleLazyObject(lambda: loan_status(loan)) if active else None
    repayments = SimpleLazyObject(lambda: loan_repayments(loan=loan))
    show_ledger = can_view_ledger(user)
    all_transactions = request.GET.get("transactions") == "all"
    transactions = SimpleLazyObject(
        lambda: loan_transactions(
            loan=loan,
            with_entries=show_ledger,
            limit=None if all_transactions else LOAN_PAGE_TRANSACTIONS,
        )
    )

    all_history = request.GET.get("history") == "all"  # the whole history, not the latest events
    history = SimpleLazyObject(
        lambda: loan_history(loan=loan, limit=None if all_history else LOAN_PAGE_HISTORY)
    )

    @cache  # the template asks twice
    def repayment_count() -> int:
        shown = len(repayments)
        return shown if shown < LOAN_PAGE_REPAYMENTS else loan.repayments.count()

    may_approve = pending and can_approve(user, loan)
    may_withdraw = pending and can_withdraw(user, loan)
    may_write_off = active and can_write_off(user)
    may_undo_write_off = loan.status == Status.WRITTEN_OFF and can_write_off(user)
    approved = loan.status == Status.APPROVED
    may_disburse = approved and can_disburse(user)
    may_undo_approval = approved and can_undo_decision(user)
    # Offered while the disbursement may be its only transaction (the service checks it).
    may_undo_disbursement = (
        active and loan.total_paid == 0 and loan.approved_on is not None and can_undo_decision(user)
    )
    # Read only for an approver: whether approving disburses at once (the product says).
    product = loan.product if may_approve and loan.product_id is not None else None
    separate = product is not None and not product.disburse_on_approval
    # Read only when the cached records are missing, for a loan that was disbursed.
    adjustments = SimpleLazyObject(lambda: loan_adjustments(loan=loan))
    context = {
        "generation": generation,
        "staff_generation": staff_generation,
        "loan": loan,
        "plan": plan,
        "today": today,
        "schedule": schedule,
        "full_schedule": full,
        "projected": lambda: projection()[0],
        "projection_error": lambda: projection()[1],
        "repayments": repayments,
        "repayment_count": repayment_count,
        "transactions": transactions,
        "all_transactions": all_transactions,
        "show_ledger": show_ledger,
        "history": history,
        "all_history": all_history,
        "status_change": lambda: loan_status_change(loan=loan),
        "may_approve": may_approve,
        "own_application": pending and loan.submitted_by_id == user.pk,
        "may_withdraw": may_withdraw,
        "may_write_off": may_write_off,
        "may_undo_write_off": may_undo_write_off,
        "may_disburse": may_disburse,
        "may_undo_approval": may_undo_approval,
        "may_undo_disbursement": may_undo_disbursement,
        "separate_disbursement": separate,
        "may_waive": active and can_waive(user),
        "may_record_recovery": loan.status == Status.WRITTEN_OFF and can_record_repayment(user),
        "adjustments": adjustments,
        "may_record_repayment": active and user.has_perm("lending.add_repayment"),
        # Empty decision forms, for the decisions this user may take on this page.
        "approve_form": _approve_form(loan, today, separate) if may_approve else None,
        "reject_form": ReasonForm(prefix="reject", what="rejection") if may_approve else None,
        "withdraw_form": WithdrawForm(prefix="withdraw") if may_withdraw else None,
        **forms,
    }
    return render(request, "lending/loans/detail.html", context)


def _own(request: HttpRequest, loan: Loan) -> bool:
    return loan.submitted_by_id == request.user.pk


def _shown_on_form(form: Form, exc: ValidationError) -> bool:
    """Put a service's error next to the form's field it names; False when it names none (a
    refused state, shown as a message instead)."""
    if hasattr(exc, "error_dict") and set(exc.error_dict) & set(form.fields):
        add_service_errors(form, exc)
        return True
    return False


def _transition(
    request: HttpRequest,
    pk: int,
    form_name: str,
    form: Form,
    action: Callable[[Loan, dict[str, Any]], Loan],
    success: str,
) -> HttpResponse:
    """Check the submitted decision form, then run the transition service with its cleaned
    data. Bad input (from the form or the service) shows on the loan page next to the field,
    nothing written; a refused state (already decided, not active) becomes a message at the
    top. PermissionDenied is left to become the 403 page."""
    if not form.is_valid():
        return _loan_page(request, pk, **{form_name: form})
    loan = get_scoped_or_404(Loan.objects.all(), request.user, pk=pk)
    try:
        loan = action(loan, form.cleaned_data)
    except ValidationError as exc:
        if _shown_on_form(form, exc):
            return _loan_page(request, pk, **{form_name: form})
        messages.error(request, error_text(exc))
    else:
        messages.success(request, success.format(number=loan.number))
    return redirect("loan_detail", pk=pk)


def _approve_form(loan: Loan, today: Any, separate: bool) -> Form:
    if separate:
        initial = {"approved_amount": loan.principal, "expected_disbursement_date": today}
        return ApproveOnlyForm(initial=initial)
    return ApproveForm(initial={"disbursement_date": today})


@permission_required("lending.view_loan", "lending.approve_loan")
@require_POST
def loan_approve(request: HttpRequest, pk: int) -> HttpResponse:
    # With the product's one flag, in the same query: does approving disburse at once?
    loan = get_scoped_or_404(
        Loan.objects.select_related("product").only(
            "id", "submitted_by_id", "product__disburse_on_approval"
        ),
        request.user,
        pk=pk,
    )
    # Four eyes before anything else, so one's own application is a 403 whatever was posted
    # (the service checks it again under the row lock).
    if _own(request, loan):
        raise PermissionDenied(services.four_eyes_refusal(loan))
    if loan.product is not None and not loan.product.disburse_on_approval:
        return _transition(
            request,
            pk,
            "approve_form",
            ApproveOnlyForm(request.POST),
            lambda loan, data: services.loan_approve(
                loan=loan,
                user=signed_in(request),
                approved_amount=data["approved_amount"],
                expected_disbursement_date=data["expected_disbursement_date"],
                request=request,
            ),
            "Loan {number} is approved; an accountant hands the money over from its page.",
        )
    return _transition(
        request,
        pk,
        "approve_form",
        ApproveForm(request.POST),
        lambda loan, data: services.loan_approve(
            loan=loan,
            user=signed_in(request),
            disbursement_date=data["disbursement_date"],
            request=request,
        ),
        "Loan {number} is approved and disbursed; its schedule is below.",
    )


@permission_required("lending.view_loan", "lending.approve_loan")
@require_POST
def loan_reject(request: HttpRequest, pk: int) -> HttpResponse:
    loan = get_scoped_or_404(Loan.objects.only("id", "submitted_by_id"), request.user, pk=pk)
    if _own(request, loan):
        raise PermissionDenied(services.four_eyes_refusal(loan, "decide"))
    return _transition(
        request,
        pk,
        "reject_form",
        ReasonForm(_reason_data(request, "reject"), prefix="reject", what="rejection"),
        lambda loan, data: services.loan_reject(
            loan=loan, user=signed_in(request), reason=data["reason"], request=request
        ),
        "Application {number} is rejected.",
    )


def _reason_data(request: HttpRequest, prefix: str) -> QueryDict:
    """The posted form; API-style clients may send a plain `reason` instead of the
    prefixed field."""
    data = request.POST.copy()
    if f"{prefix}-reason" not in data and "reason" in data:
        data[f"{prefix}-reason"] = request.POST.get("reason", "")
    return data


@permission_required("lending.view_loan", "lending.add_loan")
@require_POST
def loan_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _transition(
        request,
        pk,
        "withdraw_form",
        WithdrawForm(_reason_data(request, "withdraw"), prefix="withdraw"),
        lambda loan, data: services.loan_withdraw(
            loan=loan, user=signed_in(request), reason=data["reason"], request=request
        ),
        "Application {number} is withdrawn.",
    )


@permission_required("lending.view_loan", "lending.write_off_loan")
@require_http_methods(["GET", "POST"])
def loan_write_off(request: HttpRequest, pk: int) -> HttpResponse:
    """Its own page, as a confirmation: what would be written off, and the reason (required).
    Bad input stays on this page next to the field; a refused state (no longer active) goes
    back to the loan page with the reason at the top."""
    loan = loan_for_page(pk, request.user)
    if loan.status != Status.ACTIVE:  # the service refuses it again under the row lock
        messages.error(
            request,
            f"Loan {loan.number} is {loan.get_status_display().lower()}; only active loans "
            "can be written off.",
        )
        return redirect("loan_detail", pk=pk)
    data = _reason_data(request, "write_off") if request.method == "POST" else None
    form = ReasonForm(data, prefix="write_off", what="write-off")
    if form.is_bound and form.is_valid():
        try:
            services.loan_write_off(
                loan=loan, user=signed_in(request), reason=form.cleaned_data["reason"],
                request=request,
            )  # fmt: skip
        except ValidationError as exc:
            if not _shown_on_form(form, exc):
                messages.error(request, error_text(exc))
                return redirect("loan_detail", pk=pk)
        else:
            messages.success(request, f"Loan {loan.number} is written off.")
            return redirect("loan_detail", pk=pk)
    return render(request, "lending/loans/write_off.html", {"loan": loan, "form": form})


@permission_required("lending.view_loan", "lending.write_off_loan")
@require_http_methods(["GET", "POST"])
def loan_write_off_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Its own page, as the write-off's: what comes back into collection, and the reason."""
    loan = loan_for_page(pk, request.user)
    if loan.status != Status.WRITTEN_OFF:  # the service refuses it again under the row lock
        messages.error(
            request,
            f"Loan {loan.number} is {loan.get_status_display().lower()}; only a written-off "
            "loan can be taken back into collection.",
        )
        return redirect("loan_detail", pk=pk)
    data = _reason_data(request, "undo") if request.method == "POST" else None
    form = ReasonForm(data, prefix="undo")
    form.fields["reason"].error_messages["required"] = "Give a reason for undoing the write-off."
    if form.is_bound and form.is_valid():
        try:
            services.loan_write_off_undo(
                loan=loan, user=signed_in(request), reason=form.cleaned_data["reason"],
                request=request,
            )  # fmt: skip
        except ValidationError as exc:
            if not _shown_on_form(form, exc):
                messages.error(request, error_text(exc))
                return redirect("loan_detail", pk=pk)
        else:
            messages.success(
                request, f"Loan {loan.number} is active again; its write-off is undone."
            )
            return redirect("loan_detail", pk=pk)
    return render(request, "lending/loans/write_off_undo.html", {"loan": loan, "form": form})


# --- Disbursement as its own step ----------------------------------------------------------------


def _refuse_unless(
    request: HttpRequest, loan: Loan, status: str, words: str
) -> HttpResponse | None:
    """Back to the loan page with the reason when the loan is not in `status` (the service
    refuses it again under the row lock)."""
    if loan.status == status:
        return None
    messages.error(request, f"Loan {loan.number} is {loan.get_status_display().lower()}; {words}")
    return redirect("loan_detail", pk=loan.pk)


@permission_required("lending.view_loan", "lending.disburse_loan")
@require_http_methods(["GET", "POST"])
def loan_disburse(request: HttpRequest, pk: int) -> HttpResponse:
    """Its own page: the approval (amount, date, approver), the schedule the approved amount
    would get, and the disbursement form; the browser asks for confirmation before it posts.
    Bad input stays here next to its field, nothing written."""
    loan = loan_for_page(pk, request.user)
    refused = _refuse_unless(request, loan, Status.APPROVED, "only approved loans are disbursed.")
    if refused:
        return refused
    today = timezone.localdate()
    initial = {
        "amount": loan.approved_amount or loan.principal,
        "disbursement_date": today,
        "method": "bank_transfer",
    }
    form = DisburseForm(request.POST if request.method == "POST" else None, initial=initial)
    if form.is_bound and form.is_valid():
        data = form.cleaned_data
        try:
            services.loan_disburse(
                loan=loan, user=signed_in(request), amount=data["amount"],
                disbursement_date=data["disbursement_date"], method=data["method"],
                reference=data["reference"], request=request,
            )  # fmt: skip
        except ValidationError as exc:
            if not _shown_on_form(form, exc):
                messages.error(request, error_text(exc))
                return redirect("loan_detail", pk=pk)
        else:
            messages.success(
                request, f"Loan {loan.number} is disbursed and active; its schedule is below."
            )
            return redirect("loan_detail", pk=pk)
    try:
        projected: Schedule | None = services.projected_schedule(loan, today)
    except ValidationError:
        projected = None
    context = {"loan": loan, "form": form, "projected": projected, "today": today}
    return render(request, "lending/loans/disburse.html", context)


def _undo_page(
    request: HttpRequest,
    pk: int,
    *,
    status: str,
    refused_words: str,
    what: str,
    service: Callable[..., Loan],
    success: str,
    template_context: dict[str, Any],
) -> HttpResponse:
    loan = loan_for_page(pk, request.user)
    refused = _refuse_unless(request, loan, status, refused_words)
    if refused:
        return refused
    data = _reason_data(request, "undo") if request.method == "POST" else None
    form = ReasonForm(data, prefix="undo")
    form.fields["reason"].error_messages["required"] = f"Give a reason for {what}."
    if form.is_bound and form.is_valid():
        try:
            service(
                loan=loan, user=signed_in(request), reason=form.cleaned_data["reason"],
                request=request,
            )  # fmt: skip
        except ValidationError as exc:
            if not _shown_on_form(form, exc):
                messages.error(request, error_text(exc))
                return redirect("loan_detail", pk=pk)
        else:
            messages.success(request, success.format(number=loan.number))
            return redirect("loan_detail", pk=pk)
    context = {"loan": loan, "form": form, **template_context}
    return render(request, "lending/loans/decision_undo.html", context)


@permission_required("lending.view_loan", "lending.undo_loan_decision")
@require_http_methods(["GET", "POST"])
def loan_approval_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Its own page, with the reason: the approved loan goes back to pending."""
    return _undo_page(
        request,
        pk,
        status=Status.APPROVED,
        refused_words="only an approved loan not yet disbursed can go back to pending.",
        what="undoing the approval",
        service=services.loan_approval_undo,
        success="Loan {number} is pending again; its approval is undone.",
        template_context={
            "title": "Undo the approval",
            "action": "loan_approval_undo",
            "button": "Undo the approval",
            "question": "Undo the approval? The loan goes back to pending, to be decided again.",
            "explain": [
                "The loan goes back to pending: the approved amount and expected date are "
                "cleared, and an officer decides it again (four eyes).",
                "Nothing was disbursed, so no money and no journal entry are involved.",
            ],
        },
    )


@permission_required("lending.view_loan", "lending.undo_loan_decision")
@require_http_methods(["GET", "POST"])
def loan_disbursement_undo(request: HttpRequest, pk: int) -> HttpResponse:
    """Its own page, with the reason: the disbursement is reversed, the loan approved again."""
    return _undo_page(
        request,
        pk,
        status=Status.ACTIVE,
        refused_words="only an active loan can have its disbursement undone.",
        what="undoing the disbursement",
        service=services.loan_disbursement_undo,
        success="Loan {number} is approved again; its disbursement is undone.",
        template_context={
            "title": "Undo the disbursement",
            "action": "loan_disbursement_undo",
            "button": "Undo the disbursement",
            "question": "Undo the disbursement? The money is taken back into the books and "
            "the schedule removed.",
            "explain": [
                "The disbursement is reversed with the mirror of its journal entry, dated as "
                "it was; the schedule is removed and the loan is approved again, for the same "
                "approved amount, to be disbursed anew.",
                "Possible only while the disbursement is the loan's only transaction (nothing "
                "repaid, charged or accrued since) and the books are open for its date.",
            ],
        },
    )
