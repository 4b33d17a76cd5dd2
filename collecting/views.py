"""The collection sheet: pick an officer and a date, see every loan with something due, post
the amounts collected in one submit, print it on A4 for the field.

Viewing and printing: every role (DESIGN.md's matrix). Posting: whoever may record repayments
(Accountant, Admin), each row through the repayment service (`collecting.services`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import can_record_repayment, permission_required
from collecting.forms import AMOUNT_PREFIX, SheetFilterForm, SheetPostForm, default_filters
from collecting.selectors import MAX_SHEET_ROWS, SheetFilters, SheetRow, sheet_rows
from collecting.services import collection_sheet_post, posted_on_day_sheet
from lending.models import Repayment
from lending.views.receipts import static_only_fetcher


def _filters(request: HttpRequest) -> tuple[SheetFilterForm, SheetFilters | None]:
    if not request.GET:
        filters = default_filters()
        return SheetFilterForm(initial={"on": filters.on}, user=request.user), filters
    form = SheetFilterForm(request.GET, user=request.user)
    return form, form.filters() if form.is_valid() else None


@dataclass(frozen=True)
class ShownRow:
    row: SheetRow
    days_late: int
    amount: str  # what the input shows: the amount due, or what was typed on a refused submit
    error: str = ""
    posted: Repayment | None = None  # what this day's sheet already posted on the loan


def _sheet_context(
    request: HttpRequest,
    filters: SheetFilters | None,
    submitted: dict[int, str] | None = None,
    row_errors: dict[int, str] | None = None,
    *,
    postable: bool = False,
) -> dict[str, Any]:
    rows: list[SheetRow] = sheet_rows(filters, user=request.user) if filters is not None else []
    too_many = len(rows) > MAX_SHEET_ROWS
    rows = rows[:MAX_SHEET_ROWS]
    submitted, row_errors = submitted or {}, row_errors or {}
    posted: dict[int, Repayment] = {}
    if postable and filters is not None and rows:
        posted = posted_on_day_sheet(on=filters.on, loan_ids=[row.loan_id for row in rows])
    return {
        "filters": filters,
        "rows": [
            ShownRow(
                row=row,
                days_late=row.days_late(filters.on) if filters else 0,
                amount=submitted.get(row.loan_id, f"{row.due:.2f}"),
                error=row_errors.get(row.loan_id, ""),
                posted=posted.get(row.loan_id),
            )
            for row in rows
        ],
        "row_count": len(rows),
        "too_many": too_many,
        "max_rows": MAX_SHEET_ROWS,
        "total_due": sum((row.due for row in rows), start=0),
        "AMOUNT_PREFIX": AMOUNT_PREFIX,
    }


@require_GET
@permission_required("lending.view_loan")
def collection_sheet(request: HttpRequest) -> HttpResponse:
    """The sheet for the chosen officer and date, amounts due filled in (editable and posted
    by those who may record repayments, read-only for the others)."""
    form, filters = _filters(request)
    can_post = can_record_repayment(request.user)
    future = bool(filters and filters.on > timezone.localdate())
    context = _sheet_context(request, filters, postable=can_post and not future)
    post_form = None
    if can_post and filters is not None:
        post_form = SheetPostForm(
            initial={"on": filters.on, "officer": filters.officer_id, "method": "cash"}
        )
    context |= {
        "filter_form": form,
        "post_form": post_form,
        "can_post": can_post,
        "future": future,
        "query": request.GET.urlencode(),
    }
    return render(request, "collecting/sheet.html", context)


@require_POST
@permission_required("lending.add_repayment")
def collection_sheet_submit(request: HttpRequest) -> HttpResponse:
    """Post the sheet: each row with an amount is posted or refused with its reason; the day's
    sheet submitted again posts nothing twice (its rows' keys are its date and the loan, see
    `collecting.services`)."""
    form = SheetPostForm(request.POST)
    result = None
    if form.is_valid():
        try:
            result = collection_sheet_post(
                user=request.user,  # type: ignore[arg-type]
                sheet_key=None,
                on=form.paid_on,
                lines=form.lines(),
                request=request,
            )
        except ValidationError as error:
            for message in error.messages:
                form.add_error(None, message)
        except PermissionDenied:
            raise
    if result is None:
        filters = SheetFilters(
            on=form.cleaned_data.get("on") or timezone.localdate(),
            officer_id=form.cleaned_data.get("officer"),
        )
        future = filters.on > timezone.localdate()
        context = _sheet_context(
            request, filters, form.amounts, form.row_errors, postable=not future
        ) | {
            "filter_form": SheetFilterForm(
                initial={"on": filters.on, "officer": filters.officer_id}, user=request.user
            ),
            "post_form": form,
            "can_post": True,
            "future": future,
        }
        return render(request, "collecting/sheet.html", context)
    return render(request, "collecting/sheet_result.html", {"result": result})


@require_GET
@permission_required("lending.view_loan")
def collection_sheet_pdf(request: HttpRequest) -> HttpResponse:
    """The sheet on A4 for a field officer: the amounts due and empty columns to write what
    was collected and the borrower's signature."""
    from weasyprint import HTML

    form, filters = _filters(request)
    if filters is None:
        problems = "; ".join(
            f"{form.fields[name].label or name}: {' '.join(e['message'] for e in errors)}"
            for name, errors in form.errors.get_json_data(escape_html=False).items()
        )
        return HttpResponse(
            f"The sheet's filters are not valid. {problems}",
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    officer = form.cleaned_data.get("officer") if form.is_bound else None
    context = _sheet_context(request, filters) | {
        "officer": officer,
        "printed_at": timezone.localtime(),
        "printed_by": request.user,
        "INSTITUTION_NAME": settings.KARO_INSTITUTION_NAME,
        "CURRENCY": settings.KARO_CURRENCY,
    }
    html = render_to_string("collecting/sheet_print.html", context, request=request)
    pdf = HTML(
        string=html, base_url=request.build_absolute_uri("/"), url_fetcher=static_only_fetcher()
    ).write_pdf()
    response = HttpResponse(pdf, content_type="application/pdf")
    name = f"collection-sheet-{filters.on.isoformat()}"
    if officer is not None:
        name += f"-{officer.get_username()}"
    response["Content-Disposition"] = f'attachment; filename="{name}.pdf"'
    return response
