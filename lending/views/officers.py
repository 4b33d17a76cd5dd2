"""Loan officers' pages: My portfolio, Waiting for my approval, and the Admin's reassignment
of borrowers (with their open loans) from one officer to another."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import permission_required
from accounts.offices import scope
from lending.forms_officers import ReassignFilterForm, ReassignForm
from lending.models import Loan
from lending.selectors import officers as selectors
from lending.services.officers import officer_name, officers_reassign
from lending.views.borrowers import render_page, signed_in
from reporting.portfolio import portfolio_balances

PAGE_SIZE = 25


@require_GET
@permission_required("lending.add_loan")
def my_portfolio(request: HttpRequest) -> HttpResponse:
    """The signed-in officer's loans, the late ones first, under their portfolio's figures."""
    user = signed_in(request)
    today = timezone.localdate()
    loans = selectors.my_portfolio(officer=user)
    page_obj = Paginator(loans, PAGE_SIZE).get_page(request.GET.get("page"))
    figures = portfolio_balances(today=today, loans=scope(Loan.objects.filter(officer=user), user))
    return render_page(
        request,
        "lending/officers/portfolio.html",
        "results",
        {"page_obj": page_obj, "figures": figures, "today": today},
    )


@require_GET
@permission_required("lending.approve_loan")
def waiting_for_approval(request: HttpRequest) -> HttpResponse:
    """Applications the signed-in user may decide, the oldest first (never their own)."""
    user = signed_in(request)
    page_obj = Paginator(selectors.waiting_for_approval(user=user), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render_page(
        request, "lending/officers/approvals.html", "results", {"page_obj": page_obj}
    )


@require_http_methods(["GET", "POST"])
@permission_required("lending.reassign_officer")
def officers_reassign_page(request: HttpRequest) -> HttpResponse:
    """List borrowers (filtered by officer and name), tick some or take everyone the filter
    lists, choose the new officer: one audited reassignment."""
    user = signed_in(request)
    filters = ReassignFilterForm(request.GET, user=user)
    officer_id, query = None, ""
    if filters.is_valid():
        officer_id, query = filters.cleaned_data["officer"], filters.cleaned_data["q"]
    borrowers = selectors.borrowers_to_reassign(user=user, officer_id=officer_id, query=query)
    form = ReassignForm(request.POST if request.method == "POST" else None, user=user)
    if request.method == "POST" and form.is_valid():
        chosen = (
            borrowers.values_list("pk", flat=True)
            if form.cleaned_data["everyone"]
            else [b.pk for b in form.cleaned_data["borrowers"]]
        )
        try:
            done = officers_reassign(
                user=user,
                officer=form.cleaned_data["officer"],
                borrower_ids=list(chosen),
                request=request,
            )
        except ValidationError as exc:
            form.add_service_error(exc)
        else:
            messages.success(
                request,
                f"{done.borrowers} borrower{'s' if done.borrowers != 1 else ''} and "
                f"{done.loans} open loan{'s' if done.loans != 1 else ''} moved to "
                f"{officer_name(done.officer)}.",
            )
            return redirect(request.get_full_path())
    page_obj = Paginator(borrowers, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "lending/officers/reassign.html",
        {
            "filters": filters,
            "form": form,
            "page_obj": page_obj,
            "filtered": officer_id is not None or bool(query),
        },
    )
