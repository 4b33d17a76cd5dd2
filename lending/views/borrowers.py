"""Borrower pages: list with live search, register, view, edit, and the application picker.

Views are thin: a form converts the input, a service writes, a selector reads. htmx requests
get the named partial of the same template (`page.html#fragment`), everything else the page.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.cache import patch_vary_headers
from django.utils.functional import SimpleLazyObject
from django.utils.http import urlencode
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import permission_required
from accounts.offices import get_scoped_or_404, only_one_office, scope, visible_offices
from lending.forms import BorrowerForm, BorrowerTransferForm, add_service_errors
from lending.models import Borrower
from lending.pagination import CachedCountPaginator
from lending.receivers import portfolio_generation
from lending.selectors.borrowers import (
    BORROWER_SORTS,
    DEFAULT_BORROWER_SORT,
    borrower_loan_totals,
    borrower_loans,
)
from lending.selectors.borrowers import (
    borrower_list as select_borrowers,
)
from lending.selectors.borrowers import (
    borrower_search as select_matches,
)
from lending.services.borrowers import borrower_create as create_borrower
from lending.services.borrowers import borrower_transfer as transfer_borrower
from lending.services.borrowers import borrower_update as update_borrower

PAGE_SIZE = 25
SORTABLE = ["name", "number", "created"]


def signed_in(request: HttpRequest) -> User:
    """The signed-in user of a view behind `permission_required` (never anonymous there)."""
    assert isinstance(request.user, User)
    return request.user


def is_partial(request: HttpRequest) -> bool:
    """An htmx swap wants the fragment; a history restore (back button) wants the page."""
    htmx = getattr(request, "htmx", None)
    return htmx is not None and bool(htmx) and not htmx.history_restore_request


def render_page(
    request: HttpRequest, template: str, fragment: str, context: dict[str, Any], **kwargs: Any
) -> HttpResponse:
    fragment_only = is_partial(request)
    name = f"{template}#{fragment}" if fragment_only else template
    response = render(request, name, {**context, "is_fragment": fragment_only}, **kwargs)
    patch_vary_headers(response, ["HX-Request"])
    return response


def _sort_links(query: str, sort: str) -> dict[str, dict[str, str]]:
    """Header links: a click sorts by the column, a second click reverses it."""
    links = {}
    for column in SORTABLE:
        target = f"-{column}" if sort == column else column
        params = {"sort": target, **({"q": query} if query else {})}
        direction = "asc" if sort == column else "desc" if sort == f"-{column}" else ""
        links[column] = {"href": f"?{urlencode(params)}", "direction": direction}
    return links


@permission_required("lending.view_borrower")
@require_GET
def borrower_list(request: HttpRequest) -> HttpResponse:
    query = request.GET.get("q", "").strip()[:100]
    sort = request.GET.get("sort", DEFAULT_BORROWER_SORT)
    if sort not in BORROWER_SORTS:
        sort = DEFAULT_BORROWER_SORT
    context = {
        # The results are cached under the portfolio generation, read here before any
        # borrower: the page is read only when that cached copy is missing.
        "generation": portfolio_generation(),
        "page_obj": SimpleLazyObject(
            lambda: CachedCountPaginator(
                scope(select_borrowers(query=query, sort=sort), request.user), PAGE_SIZE
            ).get_page(request.GET.get("page"))
        ),
        "query": query,
        "sort": sort,
        "sort_links": _sort_links(query, sort),
        "sort_choices": [(key, label) for key, (label, _) in BORROWER_SORTS.items()],
    }
    return render_page(request, "lending/borrowers/list.html", "results", context)


@permission_required("lending.view_borrower")
@require_GET
def borrower_search(request: HttpRequest) -> HttpResponse:
    """`<option>`s for the application form's borrower picker (htmx swaps them in). The
    borrower already chosen stays first, so a new search never loses the selection."""
    query = (request.GET.get("borrower_q") or request.GET.get("q") or "").strip()[:100]
    matches = select_matches(query=query, user=request.user)
    selected: Borrower | None = None
    raw = request.GET.get("borrower", "")
    if raw.isdigit():
        selected = next((b for b in matches if b.pk == int(raw)), None) or (
            scope(Borrower.objects.filter(pk=int(raw)), request.user).first()
        )
    if selected is None and len(matches) == 1:
        selected = matches[0]
    options = ([selected] if selected else []) + [b for b in matches if b != selected]
    context = {"options": options, "selected": selected, "query": query, "count": len(matches)}
    return render(request, "lending/borrowers/search_options.html", context)


@permission_required("lending.view_borrower")
@require_GET
def borrower_detail(request: HttpRequest, pk: int) -> HttpResponse:
    borrower = get_scoped_or_404(
        Borrower.objects.select_related("created_by", "office", "officer"), request.user, pk=pk
    )
    page_obj = Paginator(borrower_loans(borrower=borrower), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "borrower": borrower,
        "page_obj": page_obj,
        "totals": borrower_loan_totals(borrower=borrower),
    }
    return render(request, "lending/borrowers/detail.html", context)


@permission_required("lending.add_borrower")
@require_http_methods(["GET", "POST"])
def borrower_create(request: HttpRequest) -> HttpResponse:
    # Who reaches several offices chooses the borrower's (DESIGN.md "Offices").
    offices = None if only_one_office(request.user) else visible_offices(request.user)
    form = BorrowerForm(request.POST or None, offices=offices)
    if request.method == "POST" and form.is_valid():
        fields = dict(form.cleaned_data)
        office = fields.pop("office", None)
        try:
            borrower = create_borrower(
                user=signed_in(request),
                office_id=office.pk if office is not None else None,
                request=request,
                **fields,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{borrower.full_name} is registered as {borrower.number}.")
            return redirect("borrower_detail", pk=borrower.pk)
    return render(request, "lending/borrowers/form.html", {"form": form, "borrower": None})


@permission_required("lending.change_borrower")
@require_http_methods(["GET", "POST"])
def borrower_update(request: HttpRequest, pk: int) -> HttpResponse:
    borrower = get_scoped_or_404(Borrower.objects.all(), request.user, pk=pk)
    form = BorrowerForm(request.POST or None, instance=borrower)
    if request.method == "POST" and form.is_valid():
        try:
            update_borrower(
                borrower=borrower, user=signed_in(request), request=request, **form.cleaned_data
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{borrower.number} is saved.")
            return redirect("borrower_detail", pk=borrower.pk)
    # The form edits the instance in memory; the heading shows what is stored.
    stored = Borrower.objects.get(pk=pk) if form.is_bound else borrower
    return render(request, "lending/borrowers/form.html", {"form": form, "borrower": stored})


@permission_required("lending.view_borrower", "lending.transfer_borrower")
@require_http_methods(["GET", "POST"])
def borrower_transfer(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a borrower and their loans to another office (Admin; DESIGN.md "Offices"),
    confirmed on its own page with a reason. A borrower of another office is a 404."""
    borrower = get_scoped_or_404(Borrower.objects.select_related("office"), request.user, pk=pk)
    form = BorrowerTransferForm(request.POST or None, user=request.user, borrower=borrower)
    if request.method == "POST" and form.is_valid():
        try:
            moved = transfer_borrower(
                borrower=borrower,
                office_id=form.cleaned_data["office"].pk,
                user=signed_in(request),
                reason=form.cleaned_data["reason"],
                request=request,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(
                request,
                f"{moved.full_name} and their loans are now in {form.cleaned_data['office']}.",
            )
            return redirect("borrower_detail", pk=borrower.pk)
    return render(request, "lending/borrowers/transfer.html", {"borrower": borrower, "form": form})
