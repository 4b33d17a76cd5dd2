"""Dashboard and reports. Thin: a form reads the filter, a selector computes, a template shows.

Access (DESIGN.md permission matrix): the dashboard needs `lending.view_loan` (every role);
portfolio reports (aging, disbursements, loans by officer) need
`lending.view_portfolio_reports`; collections need `lending.view_financial_reports`; the index
needs either. Every report is a page with a date-range filter and the same URL with
`?format=csv` as a download (audited as REPORT_EXPORTED). Collections list every day of
their range, so that range is capped at 366 days; the others take any range.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from functools import cache, wraps
from typing import Any, cast

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.functional import SimpleLazyObject
from django.views.decorators.http import require_GET

from accounts.access import permission_required
from lending.models import Loan
from lending.receivers import portfolio_generation
from reporting import selectors
from reporting.exports import csv_response
from reporting.forms import DateRangeForm, PortfolioFilterForm
from reporting.portfolio import Outstanding

PORTFOLIO = "lending.view_portfolio_reports"
FINANCIAL = "lending.view_financial_reports"
DISBURSEMENTS_PER_PAGE = 50


def any_report_permission(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    @wraps(view)
    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (request.user.has_perm(PORTFOLIO) or request.user.has_perm(FINANCIAL)):
            raise PermissionDenied("Your role does not allow reports.")
        return view(request, *args, **kwargs)

    return login_required(wrapped)


def _wants_csv(request: HttpRequest) -> bool:
    return request.GET.get("format") == "csv"


def _csv_query(request: HttpRequest) -> str:
    """The current filter with format=csv (for the page's download link)."""
    query = request.GET.copy()
    query.pop("page", None)
    query["format"] = "csv"
    return query.urlencode()


BALANCE_HEADER = [
    "Principal outstanding",
    "Interest due",
    "Fees due",
    "Penalties due",
    "Total outstanding",
    "Interest and fees not yet due",
]


def _balance_cells(balance: Outstanding) -> list[Decimal]:
    """The outstanding by component, in the order of BALANCE_HEADER."""
    return [
        balance.principal,
        balance.interest,
        balance.fees,
        balance.penalties,
        balance.total,
        balance.not_yet_due,
    ]


def _params(form: DateRangeForm, filters: PortfolioFilterForm | None = None) -> dict[str, Any]:
    """What the CSV's audit record says was exported: the range and the filter."""
    start, end = form.range()
    params: dict[str, Any] = {"date_from": start, "date_to": end}
    narrow = filters.narrow() if filters is not None else selectors.NO_FILTER
    if narrow.office_id:
        params["office_id"] = narrow.office_id
    if narrow.officer_id:
        params["officer_id"] = narrow.officer_id
    return params


def _filters(request: HttpRequest, generation: str | None = None) -> PortfolioFilterForm:
    return PortfolioFilterForm(request.GET, user=request.user, generation=generation)


@require_GET
@permission_required("lending.view_loan")
def dashboard(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    # The page body is cached under the portfolio generation (read first, before any figure);
    # the figures are read only when that cached body is missing.
    generation = portfolio_generation()
    # The office and officer filter: its choices are one cache read under that generation,
    # made when a filter is given or the cached form is missing; a bad value is shown as an
    # error on the form and the figures stay those of the whole scope.
    given = PortfolioFilterForm.given(request.GET)
    filters = cast(PortfolioFilterForm, SimpleLazyObject(lambda: _filters(request, generation)))
    narrow = filters.narrow() if given else selectors.NO_FILTER

    @cache
    def data() -> selectors.Dashboard:
        return selectors.dashboard(today=today, user=request.user, narrow=narrow)

    return render(
        request,
        "reporting/dashboard.html",
        {
            "today": today,
            "generation": generation,
            "filters": filters,
            "filter_errors": given and bool(filters.errors),
            "narrow_key": narrow.key() or "all",
            "figures": lambda: data().figures,
            "chart_data": lambda: data().figures.chart_data(currency=settings.KARO_CURRENCY),
            "due_today": lambda: data().due_today,
            "overdue_loans": lambda: data().overdue_loans,
        },
    )


@require_GET
@any_report_permission
def reports(request: HttpRequest) -> HttpResponse:
    return render(request, "reporting/reports.html", {})


@require_GET
@permission_required(PORTFOLIO)
def report_aging(request: HttpRequest) -> HttpResponse:
    form = DateRangeForm(
        request.GET, required=False, max_days=None, labels=("Disbursed from", "Disbursed to")
    )
    filters = _filters(request)
    report = None
    if (not form.is_bound or form.is_valid()) and (not filters.is_bound or filters.is_valid()):
        start, end = form.range()
        report = selectors.aging_report(
            disbursed_from=start,
            disbursed_to=end,
            user=request.user,
            narrow=filters.narrow(),
            offices=filters.office_pairs(),
        )
        if _wants_csv(request):
            return csv_response(
                request=request,
                report="aging",
                filename=f"portfolio-aging-{report.as_of}.csv",
                header=[
                    "Days past due",
                    "Loans",
                    *BALANCE_HEADER,
                    "Share of principal %",
                    "PAR (principal more than N days past due) %",
                ],
                rows=[
                    *(
                        [r.label, r.loans, *_balance_cells(r.outstanding), r.share, r.par]
                        for r in [*report.rows, report.at_risk, report.total]
                    ),
                    *_office_rows(report),
                ],
                params={"as_of": report.as_of, **_params(form, filters)},
            )
    return render(
        request,
        "reporting/report_aging.html",
        {
            "form": form,
            "filters": filters,
            "offices_shown": filters.offices_shown,
            "report": report,
            "csv_query": _csv_query(request),
        },
    )


def _office_rows(report: selectors.AgingReport) -> list[list[Any]]:
    """The aging CSV's "By office" part, under the buckets: PAR30 per office (the columns
    say what each cell is: loans, outstanding, then the office's PAR30 % in the PAR column)."""
    if not report.by_office:
        return []
    rows: list[list[Any]] = [
        [],
        ["By office", "Loans", *BALANCE_HEADER, "PAR30 (principal)", "PAR30 %"],
    ]
    for o in report.by_office:
        rows.append([o.name, o.loans, *_balance_cells(o.outstanding), o.par30, o.par30_percent])
    return rows


@require_GET
@permission_required(FINANCIAL)
def report_collections(request: HttpRequest) -> HttpResponse:
    form = DateRangeForm(request.GET)
    filters = _filters(request)
    report = None
    if (not form.is_bound or form.is_valid()) and (not filters.is_bound or filters.is_valid()):
        start, end = form.range()
        assert start is not None and end is not None
        report = selectors.collections_report(
            date_from=start, date_to=end, user=request.user, narrow=filters.narrow()
        )
        if _wants_csv(request):
            labels = [label for _, label in report.methods]
            rows: list[list[Any]] = [
                [d.day, d.count, *(d.by_method[m] for m, _ in report.methods), d.total]
                for d in report.days
            ]
            rows.append(
                ["Total", report.count, *(m.amount for m in report.by_method), report.total]
            )
            return csv_response(
                request=request,
                report="collections",
                filename=f"collections-{start}-to-{end}.csv",
                header=["Date", "Repayments", *labels, "Total"],
                rows=rows,
                params=_params(form, filters),
            )
    return render(
        request,
        "reporting/report_collections.html",
        {"form": form, "filters": filters, "report": report, "csv_query": _csv_query(request)},
    )


@require_GET
@permission_required(PORTFOLIO)
def report_disbursements(request: HttpRequest) -> HttpResponse:
    form = DateRangeForm(request.GET, max_days=None)
    filters = _filters(request)
    context: dict[str, Any] = {
        "form": form,
        "filters": filters,
        "csv_query": _csv_query(request),
        "page_obj": None,
    }
    if (not form.is_bound or form.is_valid()) and (not filters.is_bound or filters.is_valid()):
        start, end = form.range()
        assert start is not None and end is not None
        loans = selectors.disbursed_loans(
            date_from=start, date_to=end, user=request.user, narrow=filters.narrow()
        )
        if _wants_csv(request):
            return csv_response(
                request=request,
                report="disbursements",
                filename=f"disbursements-{start}-to-{end}.csv",
                header=[
                    "Loan",
                    "Disbursed on",
                    "Borrower number",
                    "Borrower",
                    "Product",
                    "Officer",
                    "Approved by",
                    "Status",
                    "Principal",
                    "Annual rate %",
                    "Installments",
                    "Frequency",
                    "Total repayable",
                    "Outstanding",
                ],
                rows=(_disbursement_row(loan) for loan in loans.iterator(chunk_size=1000)),
                params=_params(form, filters),
            )
        context["page_obj"] = Paginator(loans, DISBURSEMENTS_PER_PAGE).get_page(
            request.GET.get("page")
        )
        context["totals"] = selectors.disbursement_totals(loans)
        context["date_from"], context["date_to"] = start, end
        context["ready"] = True  # the range is valid: totals, table or "nothing", and the CSV
    return render(request, "reporting/report_disbursements.html", context)


def _person(user: Any) -> str:
    if user is None:
        return ""
    return user.get_full_name() or user.get_username()


def _disbursement_row(loan: Loan) -> list[Any]:
    return [
        loan.number,
        loan.disbursement_date,
        loan.borrower.number,
        loan.borrower.full_name,
        loan.product.name if loan.product else "",
        _person(loan.submitted_by),
        _person(loan.decided_by),
        loan.get_status_display(),
        loan.principal,
        loan.annual_interest_rate,
        loan.installments,
        loan.get_frequency_display(),
        loan.total_repayable,
        loan.outstanding,
    ]


@require_GET
@permission_required(PORTFOLIO)
def report_officers(request: HttpRequest) -> HttpResponse:
    form = DateRangeForm(request.GET, max_days=None, labels=("Submitted from", "Submitted to"))
    filters = _filters(request)
    report = None
    if (not form.is_bound or form.is_valid()) and (not filters.is_bound or filters.is_valid()):
        start, end = form.range()
        assert start is not None and end is not None
        report = selectors.officers_report(
            date_from=start, date_to=end, user=request.user, narrow=filters.narrow()
        )
        if _wants_csv(request):
            return csv_response(
                request=request,
                report="officers",
                filename=f"loans-by-officer-{start}-to-{end}.csv",
                header=[
                    "Officer",
                    "Username",
                    "Applications",
                    "Approved",
                    "Rejected",
                    "Pending",
                    "Principal disbursed",
                    "Active loans",
                    *BALANCE_HEADER,
                    "Overdue loans",
                    "PAR30 (principal)",
                    "PAR30 %",
                ],
                rows=[
                    [
                        r.name,
                        r.username,
                        r.applications,
                        r.approved,
                        r.rejected,
                        r.pending,
                        r.principal_disbursed,
                        r.active_loans,
                        *_balance_cells(r.balance),
                        r.overdue_loans,
                        r.par30,
                        r.par30_percent,
                    ]
                    for r in [*report.rows, report.total]
                ],
                params=_params(form, filters),
            )
    return render(
        request,
        "reporting/report_officers.html",
        {"form": form, "filters": filters, "report": report, "csv_query": _csv_query(request)},
    )
