"""Documents staff print for a borrower: the loan statement and the payoff quote letter. Each
is one template for the page and its A4 PDF (WeasyPrint), like the receipts.

Whoever can see a loan can print them (DESIGN: "loans: list, view, schedule" for every role).
As with receipts, looking is not printing: opening the page is not audited; its Print button
(a POST to the same address, which answers with the print dialog opening) and every PDF are
(DOCUMENT_PRINTED, with the document, the format and the loan)."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import permission_required
from karo.words import amount_in_words
from lending.audit import audit_record
from lending.forms_repayments import PayoffForm
from lending.models import AuditLog, Loan
from lending.selectors.documents import loan_statement
from lending.selectors.loans import loan_for_page
from lending.services.repayments import payoff_quote
from lending.views.receipts import pdf_response, render_pdf

VIEW_LOAN = "lending.view_loan"


def _person(user: Any) -> str:
    return str(user.get_full_name() or user.get_username())


def _audit(request: HttpRequest, loan: Loan, document: str, kind: str, **extra: Any) -> None:
    audit_record(
        action=AuditLog.Action.DOCUMENT_PRINTED,
        user=request.user,
        obj=loan,
        details={"document": document, "format": kind, "loan": loan.number, **extra},
        request=request,
    )


def _base_context(request: HttpRequest, *, pdf: bool) -> dict[str, Any]:
    return {
        "pdf": pdf,
        "printed_at": timezone.localtime(),
        "INSTITUTION_NAME": settings.KARO_INSTITUTION_NAME,
        "CURRENCY": settings.KARO_CURRENCY,
    }


# --- the loan statement -------------------------------------------------------------------------


def _statement_context(request: HttpRequest, pk: int, *, pdf: bool) -> dict[str, Any]:
    statement = loan_statement(pk, timezone.localdate(), request.user)
    loan = statement.loan
    pdf_url = reverse("loan_statement_pdf", args=[loan.pk])
    return {
        **_base_context(request, pdf=pdf),
        "statement": statement,
        "loan": loan,
        "borrower": loan.borrower,
        "next_payment": statement.next_payment,
        "back_url": reverse("loan_detail", args=[loan.pk]),
        "back_label": "Loan page",
        "print_url": reverse("loan_statement", args=[loan.pk]),
        "pdf_url": pdf_url,
        "download_url": f"{pdf_url}?download=1",
    }


@require_http_methods(["GET", "POST"])
@permission_required(VIEW_LOAN)
def loan_statement_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The statement; POST (its Print button) records the print and opens the print dialog."""
    context = _statement_context(request, pk, pdf=False)
    if request.method == "POST":
        _audit(request, context["loan"], "loan_statement", "html")
        context["autoprint"] = True
    return render(request, "documents/loan_statement.html", context)


@require_GET
@permission_required(VIEW_LOAN)
def loan_statement_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    context = _statement_context(request, pk, pdf=True)
    content = render_pdf(request, "documents/loan_statement.html", context)
    loan = context["loan"]
    _audit(request, loan, "loan_statement", "pdf")
    today = timezone.localdate()
    return pdf_response(request, content, f"statement-{loan.number}-{today.isoformat()}.pdf")


# --- the payoff quote letter --------------------------------------------------------------------


def _letter_context(request: HttpRequest, pk: int, *, pdf: bool) -> dict[str, Any]:
    """The letter for `on` (GET, or the Print button's POST; today if not given). A date that
    is not valid, or a loan that is not active, gives the reason instead of a letter."""
    loan = loan_for_page(pk, request.user)
    data = request.POST if request.method == "POST" else request.GET
    on_text = data.get("on") or timezone.localdate().isoformat()
    form = PayoffForm({"on": on_text})
    quote, refusal = None, ""
    if form.is_valid():
        try:
            quote = payoff_quote(loan=loan, on=form.cleaned_data["on"])
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                form.add_service_error(exc)
            else:
                refusal = " ".join(exc.messages)
    letter_url = reverse("loan_payoff_letter", args=[loan.pk])
    pdf_url = reverse("loan_payoff_letter_pdf", args=[loan.pk]) + "?" + urlencode({"on": on_text})
    return {
        **_base_context(request, pdf=pdf),
        "loan": loan,
        "borrower": loan.borrower,
        "form": form,
        "quote": quote,
        "refusal": refusal,
        "total_in_words": amount_in_words(quote.total) if quote else "",
        "prepared_by": _person(request.user),
        "back_url": reverse("loan_payoff", args=[loan.pk]),
        "back_label": "Payoff quote",
        "letter_url": letter_url,
        "print_url": letter_url,
        "pdf_url": pdf_url,
        "download_url": f"{pdf_url}&download=1",
    }


def _quote_on(context: dict[str, Any]) -> date:
    return context["quote"].on  # type: ignore[no-any-return]


@require_http_methods(["GET", "POST"])
@permission_required(VIEW_LOAN)
def payoff_letter_page(request: HttpRequest, pk: int) -> HttpResponse:
    """The letter for a chosen date; POST (Print) records the print when there is a letter."""
    context = _letter_context(request, pk, pdf=False)
    if request.method == "POST" and context["quote"] is not None:
        _audit(
            request,
            context["loan"],
            "payoff_letter",
            "html",
            on=_quote_on(context),
            amount=str(context["quote"].total),
        )
        context["autoprint"] = True
    return render(request, "documents/payoff_letter.html", context)


@require_GET
@permission_required(VIEW_LOAN)
def payoff_letter_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The letter as a PDF; a date that is not valid, or a loan with nothing to settle, is a
    400 naming the reason (no PDF, nothing audited)."""
    context = _letter_context(request, pk, pdf=True)
    quote, loan = context["quote"], context["loan"]
    if quote is None:
        errors = [str(e) for e in context["form"].errors.get("on", [])] or [context["refusal"]]
        return HttpResponse(
            "No payoff letter: " + " ".join(errors),
            status=400,
            content_type="text/plain; charset=utf-8",
        )
    content = render_pdf(request, "documents/payoff_letter.html", context)
    _audit(request, loan, "payoff_letter", "pdf", on=quote.on, amount=str(quote.total))
    return pdf_response(request, content, f"payoff-{loan.number}-{quote.on.isoformat()}.pdf")
