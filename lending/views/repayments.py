"""Repayment pages: find a loan, record a payment, see what was recorded, reverse it, quote a
payoff and settle early. Views turn forms into service calls; the services decide."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import can_record_repayment, can_reverse_repayment, permission_required
from accounts.offices import scope
from ledger.services import closed_through
from lending.errors import StateConflict
from lending.forms_repayments import (
    PayoffForm,
    RepaymentConfirmForm,
    RepaymentFilterForm,
    RepaymentForm,
    ReverseForm,
    SettleForm,
    is_confirmed,
    new_idempotency_key,
    stored_idempotency_key,
)
from lending.models import Loan, LoanTransaction, Receipt, Repayment
from lending.replay import Parts
from lending.selectors import repayments as selectors
from lending.services.repayments import (
    IdempotencyConflict,
    PayoffQuote,
    loan_settle,
    money,
    payoff_quote,
    repayment_preview,
    repayment_record,
    repayment_reverse,
    repayment_reverse_preview,
)
from lending.services.transactions import Plan, is_in_order
from reporting.exports import csv_response

PAGE_SIZE = 25
# Rows of the schedule shown on the payment page beyond what is overdue or due today.
UPCOMING_ROWS = 6


def htmx_target(request: HttpRequest) -> str | None:
    """The element an htmx swap targets (None for a plain request or a history restore,
    which want the whole page)."""
    htmx = getattr(request, "htmx", None)
    if not htmx or htmx.history_restore_request:
        return None
    return str(htmx.target) if htmx.target else None


def loan_url(loan: Loan) -> str:
    """The loan page (owned by the loans feature) or, until it exists, the payment page."""
    try:
        return reverse("loan_detail", args=[loan.pk])
    except NoReverseMatch:
        return reverse("repayment_create", args=[loan.pk])


# --- what a replay will change ------------------------------------------------------------


@dataclass(frozen=True)
class SplitChange:
    """A later transaction the replay re-splits, as the preview lists it."""

    value_date: date
    kind: str
    receipt: str  # the receipt of the payment it comes from, if any
    repayment_id: int | None
    before: Parts
    after: Parts
    outstanding_before: Decimal
    outstanding_after: Decimal
    overpaid_before: Decimal
    overpaid_after: Decimal


@dataclass(frozen=True)
class PenaltyChange:
    value_date: date
    amount: Decimal
    installment: int | None  # its number


@dataclass(frozen=True)
class LoanFigures:
    status: str
    outstanding: Decimal
    overpaid: Decimal
    days_past_due: int

    @classmethod
    def of(cls, view: dict[str, Any]) -> LoanFigures:
        return cls(
            status=view["status"],
            outstanding=Decimal(view["outstanding"]),
            overpaid=Decimal(view["overpaid"]),
            days_past_due=int(view["days_past_due"]),
        )

    @property
    def status_label(self) -> str:
        return str(Loan.Status(self.status).label)


@dataclass(frozen=True)
class ReplayPreview:
    """What a reversal or a backdated payment would change on the loan, for a page to show
    before the user confirms (from a `Plan`; nothing is stored)."""

    changes: list[SplitChange]
    penalties_added: list[PenaltyChange]
    penalties_taken_back: list[PenaltyChange]
    before: LoanFigures
    after: LoanFigures
    new_split: Parts | None = None  # how the payment being previewed would be split

    @property
    def nothing_else_changes(self) -> bool:
        return not (self.changes or self.penalties_added or self.penalties_taken_back)

    @property
    def closes(self) -> bool:
        return self.before.status != Loan.Status.CLOSED and self.after.status == Loan.Status.CLOSED

    @property
    def reopens(self) -> bool:
        return self.before.status == Loan.Status.CLOSED and self.after.status != Loan.Status.CLOSED


def replay_preview(plan: Plan) -> ReplayPreview:
    """The page's view of a plan: one query for the receipts of the re-split payments."""
    numbers = {inst.pk: inst.number for inst in plan.installments}
    repayment_ids = {c.txn.repayment_id for c in plan.changes if c.txn.repayment_id}
    receipts = (
        dict(
            Receipt.objects.filter(repayment_id__in=repayment_ids).values_list(
                "repayment_id", "number"
            )
        )
        if repayment_ids
        else {}
    )
    changes = [
        SplitChange(
            value_date=c.txn.value_date,
            kind=c.txn.get_kind_display(),
            receipt=receipts.get(c.txn.repayment_id, "") if c.txn.repayment_id else "",
            repayment_id=c.txn.repayment_id,
            before=c.before.split,
            after=c.after.split,
            outstanding_before=c.before.outstanding_after,
            outstanding_after=c.after.outstanding_after,
            overpaid_before=c.before.overpaid,
            overpaid_after=c.after.overpaid,
        )
        for c in plan.changes
    ]
    added = [
        PenaltyChange(
            t.value_date,
            t.amount,
            numbers.get(t.lines[0].installment_id) if t.lines else None,
        )
        for t in plan.penalties_added
    ]
    taken_back = []
    for t in plan.penalties_taken_back:
        lines = plan.lines.get(t.pk) or []
        taken_back.append(
            PenaltyChange(
                t.value_date, t.amount, numbers.get(lines[0].installment_id) if lines else None
            )
        )
    new_effect = plan.new_effect
    return ReplayPreview(
        changes=changes,
        penalties_added=added,
        penalties_taken_back=taken_back,
        before=LoanFigures.of(plan.loan_before),
        after=LoanFigures.of(plan.loan_after),
        new_split=new_effect.split if new_effect is not None else None,
    )


# --- list, search, export -----------------------------------------------------------------


@require_GET
@permission_required("lending.add_repayment")
def repayment_list(request: HttpRequest) -> HttpResponse:
    """Find a loan to take a payment for, and the recent repayments with filters and totals."""
    query = request.GET.get("q", "").strip()[:100]
    loans = list(selectors.loan_search(query, user=request.user)) if query else []
    if htmx_target(request) == "loan-results":
        return render(
            request,
            "lending/repayments/list.html#loan_results",
            {"query": query, "loans": loans},
        )
    filter_form = RepaymentFilterForm(request.GET or None, user=request.user)
    filters = filter_form.filters() if request.GET else selectors.RepaymentFilters()
    repayments = selectors.repayment_list(filters, user=request.user)
    page = Paginator(repayments, PAGE_SIZE).get_page(request.GET.get("page"))
    one_loan = (
        scope(Loan.objects.filter(pk=filters.loan), request.user).first() if filters.loan else None
    )
    return render(
        request,
        "lending/repayments/list.html",
        {
            "query": query,
            "loans": loans,
            "filter_form": filter_form,
            "one_loan": one_loan,
            "page_obj": page,
            "totals": selectors.repayment_totals(repayments),
            "export_query": request.GET.urlencode(),
        },
    )


REPAYMENT_EXPORT_HEADER = [
    "Receipt no.",
    "Paid on",
    "Recorded at",
    "Loan",
    "Borrower number",
    "Borrower",
    "Status",
    "Amount received",
    "Amount reversed",
    "Principal",
    "Interest",
    "Fees",
    "Penalties",
    "Currency",
    "Method",
    "Reference",
    "Settlement",
    "Outstanding after",
    "Recorded by",
    "Reversed at",
    "Reversed by",
    "Reversal reason",
]


def _person(user: Any) -> str:
    if user is None:
        return ""
    return str(user.get_full_name() or user.get_username())


def _export_row(r: Repayment) -> list[Any]:
    """One repayment. A reversed payment is not money received: its amount is in "Amount
    reversed" and its split is left empty, so the sum of "Amount received" (and of each split
    column) is what was collected, as on the page's totals."""
    receipt = getattr(r, "receipt", None)
    reversed_ = r.reversed_at is not None
    split = [getattr(r, f"alloc_{c}") for c in ("principal", "interest", "fees", "penalties")]
    return [
        receipt.number if receipt else "",
        r.paid_on,
        r.recorded_at,
        r.loan.number,
        r.loan.borrower.number,
        r.loan.borrower.full_name,
        "Reversed" if reversed_ else "Received",
        None if reversed_ else r.amount,
        r.amount if reversed_ else None,
        *([None] * 4 if reversed_ else split),
        settings.KARO_CURRENCY,
        r.get_method_display(),
        r.reference,
        r.is_settlement,
        r.balance_after,  # type: ignore[attr-defined]
        _person(r.recorded_by),
        r.reversed_at,
        _person(r.reversed_by),
        r.reversal_reason,
    ]


@require_GET
@permission_required("lending.add_repayment")
def repayment_export(request: HttpRequest) -> HttpResponse:
    """The filtered repayments as CSV, written like the report exports (`csv_response`: BOM,
    headers in words, audited). Invalid filters are refused (400, with the fields): an export
    must never silently widen to every row."""
    form = RepaymentFilterForm(request.GET or None, user=request.user)
    if request.GET and not form.is_valid():
        problems = "; ".join(
            f"{form.fields[name].label if name in form.fields else name}: "
            + " ".join(error["message"] for error in errors)
            for name, errors in form.errors.get_json_data(escape_html=False).items()
        )
        return HttpResponseBadRequest(
            f"The filters are not valid, nothing was exported. {problems}",
            content_type="text/plain; charset=utf-8",
        )
    filters = form.filters() if request.GET else selectors.RepaymentFilters()
    rows = selectors.with_allocation_totals(selectors.repayment_list(filters, user=request.user))
    return csv_response(
        request=request,
        report="repayments",
        filename=f"repayments-{timezone.localdate().isoformat()}.csv",
        header=REPAYMENT_EXPORT_HEADER,
        rows=(_export_row(r) for r in rows.iterator(chunk_size=1000)),
        params=filters.as_dict(),
    )


# --- record a payment -----------------------------------------------------------------------


def _payment_context(loan: Loan, today: date) -> dict[str, Any]:
    schedule = selectors.loan_schedule(loan)
    due = selectors.due_now(loan, schedule, today)
    unpaid = [i for i in schedule if i.status != "paid"]
    shown = [i for i in unpaid if i.due_date <= today]
    shown += [i for i in unpaid if i.due_date > today][:UPCOMING_ROWS]
    return {
        "loan": loan,
        "borrower": loan.borrower,
        "due": due,
        "shown": shown,
        "hidden_count": len(unpaid) - len(shown),
        "paid_count": len(schedule) - len(unpaid),
        "today": today,
        "loan_url": loan_url(loan),
        "recent": selectors.recent_repayments_for_loan(loan, limit=5),
    }


@require_http_methods(["GET", "POST"])
@permission_required("lending.add_repayment")
def repayment_create(request: HttpRequest, pk: int) -> HttpResponse:
    """The payment form for one loan, beside what it owes now. A backdated payment that would
    change what the loan has already booked is shown for confirmation first (`_confirmation`);
    one in date order is recorded at once."""
    loan = selectors.loan_for_payment(pk, request.user, page=request.method == "GET")
    today = timezone.localdate()
    if request.method == "POST":
        form = RepaymentForm(request.POST)
        # The service decides on a loan that is no longer active: a repeated submit of the
        # payment that closed it is answered with that payment, anything else refused.
        if "change" in request.POST:
            pass  # back from a backdated payment's confirmation to the form, values kept
        elif form.is_valid():
            data = form.cleaned_data
            try:
                confirmation = (
                    None if is_confirmed(request.POST) else _confirmation(request, loan, data)
                )
                if confirmation is not None:
                    return confirmation
                repayment = repayment_record(
                    loan=loan,
                    user=request.user,  # type: ignore[arg-type]
                    amount=data["amount"],
                    paid_on=data["paid_on"],
                    method=data["method"],
                    reference=data["reference"],
                    idempotency_key=stored_idempotency_key(request.user, data["idempotency_key"]),
                    request=request,
                )
            except IdempotencyConflict as exc:
                form = _fresh_payment_form(request.POST)
                form.add_error(None, exc.message)
            except ValidationError as exc:
                form.add_service_error(exc)
            else:
                receipt = repayment.receipt
                messages.success(
                    request,
                    f"Payment of {money(repayment.amount)} recorded on {loan.number}; "
                    f"receipt {receipt.number}.",
                )
                return redirect("repayment_detail", pk=repayment.pk)
        elif loan.status != Loan.Status.ACTIVE:
            form.add_error(None, f"Loan {loan.number} is {loan.get_status_display().lower()}.")
    else:
        form = None
    context = _payment_context(loan, today)
    if form is None:
        form = RepaymentForm(
            initial={
                "amount": context["due"].suggested or None,
                "paid_on": today,
                "method": Repayment.Method.CASH,
                "idempotency_key": new_idempotency_key(),
            }
        )
    context["form"] = form
    return render(request, "lending/repayments/create.html", context)


def _confirmation(request: HttpRequest, loan: Loan, data: dict[str, Any]) -> HttpResponse | None:
    """The confirmation page of a backdated payment, listing what it would change on the
    loan's later transactions; None when the payment is recorded at once.

    A payment in date order (read from the loan row the page already has: no query) or one
    whose one-time key was already spent (a second submit: the service answers it with that
    payment) needs none. The page carries the same values and the same key, so confirming
    twice still records one payment."""
    if is_in_order(loan, data["paid_on"]):
        return None
    key = stored_idempotency_key(request.user, data["idempotency_key"])
    if Repayment.objects.filter(idempotency_key=key).exists():
        return None
    plan = repayment_preview(
        loan=loan,
        user=request.user,  # type: ignore[arg-type]
        amount=data["amount"],
        paid_on=data["paid_on"],
    )
    if plan is None:
        return None
    return render(
        request,
        "lending/repayments/confirm.html",
        {
            "loan": loan,
            "borrower": loan.borrower,
            "loan_url": loan_url(loan),
            "payment": data,
            "method_label": Repayment.Method(data["method"]).label,
            "preview": replay_preview(plan),
            "form": RepaymentConfirmForm(initial={**data, "confirmed": True}),
        },
    )


def _fresh_payment_form(data: Any) -> RepaymentForm:
    """The same inputs under a new one-time key, after the old key was spent elsewhere."""
    values = data.copy()
    values["idempotency_key"] = new_idempotency_key()
    form = RepaymentForm(values)
    form.is_valid()
    return form


@require_GET
@permission_required("lending.view_repayment")
def repayment_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """What was recorded: the payment, its allocation as it stands now (after any replay: the
    page says when and why it was re-split; the receipt keeps the split as booked), its
    receipt (new tab) and PDF."""
    repayment = selectors.repayment_for_detail(pk, request.user)
    allocations = list(selectors.allocations_of(repayment.pk).select_related("installment"))
    txn = (
        LoanTransaction.objects.filter(repayment=repayment, kind=LoanTransaction.Kind.REPAYMENT)
        .only("split_changed_at", "split_change_reason", "outstanding_after")
        .first()
    )
    can_reverse = can_reverse_repayment(request.user) and not repayment.is_reversed
    # A payment dated inside closed books can no longer be reversed (repayment_reverse refuses
    # it): say so instead of offering the button. One query, only when it could be offered.
    books_closed_through = closed_through() if can_reverse else None
    closed = books_closed_through is not None and repayment.paid_on <= books_closed_through
    return render(
        request,
        "lending/repayments/detail.html",
        {
            "repayment": repayment,
            "loan": repayment.loan,
            "receipt": getattr(repayment, "receipt", None),
            "allocations": allocations,
            "totals": selectors.allocation_totals(allocations),
            "resplit": txn if txn is not None and txn.split_changed_at else None,
            "loan_url": loan_url(repayment.loan),
            "can_reverse": can_reverse and not closed,
            "books_closed_through": books_closed_through if closed else None,
            "can_record": can_record_repayment(request.user),
        },
    )


@require_http_methods(["GET", "POST"])
@permission_required("lending.reverse_repayment")
def repayment_reverse_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm and reverse one repayment, with a reason. The page shows first what the
    reversal would change on the loan (later payments re-split, penalties, days past due, the
    loan re-opening), from a dry run of the same replay."""
    repayment = selectors.repayment_for_detail(pk, request.user)
    if repayment.is_reversed:
        messages.info(request, "This repayment was already reversed.")
        return redirect("repayment_detail", pk=repayment.pk)
    form = ReverseForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            repayment_reverse(
                repayment=repayment,
                user=request.user,  # type: ignore[arg-type]
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except StateConflict as exc:
            messages.error(request, exc.message)
            return redirect("repayment_detail", pk=repayment.pk)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(
                request,
                f"Repayment of {money(repayment.amount)} reversed; its receipt is void.",
            )
            return redirect("repayment_detail", pk=repayment.pk)
    preview: ReplayPreview | None = None
    refusal = ""
    try:
        preview = replay_preview(
            repayment_reverse_preview(
                repayment=repayment,
                user=request.user,  # type: ignore[arg-type]
            )
        )
    except ValidationError as exc:  # a loan no longer reversible, closed books
        refusal = " ".join(exc.messages)
    return render(
        request,
        "lending/repayments/reverse.html",
        {
            "repayment": repayment,
            "loan": repayment.loan,
            "receipt": getattr(repayment, "receipt", None),
            "form": form,
            "preview": preview,
            "refusal": refusal,
        },
    )


# --- payoff and settlement ---------------------------------------------------------------


def _quote_or_error(loan: Loan, form: PayoffForm) -> PayoffQuote | None:
    if not form.is_valid() or loan.status != Loan.Status.ACTIVE:
        return None
    try:
        return payoff_quote(loan=loan, on=form.cleaned_data["on"])
    except ValidationError as exc:
        form.add_service_error(exc)
        return None


@require_GET
@permission_required("lending.view_loan")
def loan_payoff(request: HttpRequest, pk: int) -> HttpResponse:
    """Payoff quote for a chosen date; cashiers also get the form that settles the loan."""
    loan = selectors.loan_for_payment(pk, request.user)
    today = timezone.localdate()
    form = PayoffForm(request.GET if "on" in request.GET else {"on": today.isoformat()})
    quote = _quote_or_error(loan, form)
    settle_form = None
    can_settle = (
        can_record_repayment(request.user)
        and quote is not None
        and quote.on <= today
        and quote.total > 0
    )
    if can_settle and quote is not None:
        settle_form = SettleForm(
            initial={
                "on": quote.on,
                "expected_amount": quote.total,
                "method": Repayment.Method.CASH,
                "idempotency_key": new_idempotency_key(),
            }
        )
    context = {
        "loan": loan,
        "form": form,
        "quote": quote,
        "today": today,
        "settle_form": settle_form,
        "loan_url": loan_url(loan),
        "future": quote is not None and quote.on > today,
    }
    if htmx_target(request) == "payoff-quote":
        return render(request, "lending/repayments/payoff.html#quote", context)
    return render(request, "lending/repayments/payoff.html", context)


@require_POST
@permission_required("lending.add_repayment")
def loan_settle_view(request: HttpRequest, pk: int) -> HttpResponse:
    """Settle at the quoted payoff; on a refusal, the quote page again with the reason."""
    loan = selectors.loan_for_payment(pk, request.user)
    form = SettleForm(request.POST)
    if form.is_valid():
        data = form.cleaned_data
        try:
            repayment = loan_settle(
                loan=loan,
                user=request.user,  # type: ignore[arg-type]
                on=data["on"],
                method=data["method"],
                reference=data["reference"],
                idempotency_key=stored_idempotency_key(request.user, data["idempotency_key"]),
                expected_amount=data["expected_amount"],
                request=request,
            )
        except IdempotencyConflict as exc:
            fresh = request.POST.copy()
            fresh["idempotency_key"] = new_idempotency_key()
            form.data = fresh
            form.add_error(None, exc.message)
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(
                request,
                f"Loan {loan.number} settled with {money(repayment.amount)}; "
                f"receipt {repayment.receipt.number}.",
            )
            return redirect("repayment_detail", pk=repayment.pk)
    on = form.cleaned_data.get("on") or timezone.localdate()
    payoff_form = PayoffForm({"on": on.isoformat()})
    quote = _quote_or_error(loan, payoff_form)
    if quote is not None:
        updated = request.POST.copy()
        updated["expected_amount"] = str(quote.total)
        updated["idempotency_key"] = form.data.get("idempotency_key") or new_idempotency_key()
        form.data = updated
    return render(
        request,
        "lending/repayments/payoff.html",
        {
            "loan": loan,
            "form": payoff_form,
            "quote": quote,
            "today": timezone.localdate(),
            "settle_form": form if quote is not None and quote.total > 0 else None,
            "loan_url": loan_url(loan),
            "future": False,
        },
    )
