"""Origination pages: upload, download and delete a borrower's documents; add and remove an
application's guarantors and collateral. Every page reaches its borrower or loan through
`origination.access` (the one place office scoping plugs in) and writes through
`origination.services`. A refused state (the application was decided meanwhile) comes back as
a message on the loan page; bad input stays on the form, next to the field, nothing written.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorList
from django.http import FileResponse, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import permission_required
from lending.errors import StateConflict
from lending.forms import add_service_errors, error_text
from lending.models import Loan
from lending.views.borrowers import signed_in
from origination import services
from origination.access import (
    EDIT_APPLICATION,
    EDIT_DOCUMENTS,
    VIEW_APPLICATION,
    VIEW_DOCUMENTS,
    borrower_for,
    loan_for,
    visible_borrowers,
)
from origination.forms import CollateralForm, DocumentUploadForm, GuarantorForm
from origination.models import BorrowerDocument, Collateral, Guarantor
from origination.selectors import borrower_documents, loan_collateral, loan_guarantors
from origination.uploads import upload_limit


def _documents_url(borrower_id: int) -> str:
    return reverse("borrower_detail", args=[borrower_id]) + "#documents"


def _loan_url(loan_id: int, anchor: str = "application-file") -> str:
    return reverse("loan_detail", args=[loan_id]) + f"#{anchor}"


# --- documents ----------------------------------------------------------------------------------


@upload_limit(services.MAX_DOCUMENT_BYTES)
@permission_required(VIEW_DOCUMENTS, EDIT_DOCUMENTS)
@require_http_methods(["GET", "POST"])
def document_upload(request: HttpRequest, pk: int) -> HttpResponse:
    borrower = borrower_for(request.user, pk)
    status = 200
    if request.method == "POST":
        form = DocumentUploadForm(request.POST, request.FILES)
        valid = form.is_valid()
        refused = getattr(request, "upload_refused", None)
        if refused is not None:
            # Stopped while streaming in: nothing of it was kept.
            form.errors["file"] = ErrorList([services.too_large_message(refused)])
            status = 413
        elif valid:
            try:
                document = services.document_upload(
                    borrower=borrower,
                    user=signed_in(request),
                    kind=form.cleaned_data["kind"],
                    description=form.cleaned_data["description"],
                    file=form.cleaned_data["file"],
                    request=request,
                )
            except ValidationError as exc:
                add_service_errors(form, exc)
            else:
                messages.success(
                    request,
                    f"{document.get_kind_display()} \u201c{document.original_name}\u201d is "
                    f"added to {borrower.full_name}'s documents.",
                )
                return redirect(_documents_url(borrower.pk))
    else:
        form = DocumentUploadForm()
    context = {
        "borrower": borrower,
        "form": form,
        "documents": borrower_documents(borrower=borrower),
    }
    return render(request, "origination/document_upload.html", context, status=status)


def _document(request: HttpRequest, pk: int, document_pk: int) -> BorrowerDocument:
    borrower = borrower_for(request.user, pk)
    document = get_object_or_404(BorrowerDocument, pk=document_pk, borrower=borrower)
    document.borrower = borrower
    return document


@permission_required(VIEW_DOCUMENTS)
@require_GET
def document_download(request: HttpRequest, pk: int, document_pk: int) -> HttpResponse:
    """The bytes as an attachment of the type their content showed, never sniffed or cached;
    each download is audited."""
    document = _document(request, pk, document_pk)
    try:
        handle = services.document_download(
            document=document, user=signed_in(request), request=request
        )
    except FileNotFoundError:
        return render(
            request, "origination/document_missing.html", {"document": document}, status=404
        )
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=document.download_name,
        content_type=document.content_type,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Cache-Control"] = "private, no-store"
    return response  # type: ignore[return-value]  # streamed; the decorators type pages as HttpResponse


@permission_required(VIEW_DOCUMENTS, EDIT_DOCUMENTS)
@require_POST
def document_delete(request: HttpRequest, pk: int, document_pk: int) -> HttpResponse:
    document = _document(request, pk, document_pk)
    try:
        services.document_delete(document=document, user=signed_in(request), request=request)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"\u201c{document.original_name}\u201d is deleted.")
    return redirect(_documents_url(pk))


# --- guarantors and collateral -----------------------------------------------------------------


def _application(request: HttpRequest, pk: int) -> Loan | HttpResponse:
    """The loan, or a redirect to its page saying why it can no longer change."""
    loan = loan_for(request.user, pk)
    if loan.status != Loan.Status.PENDING:
        messages.error(
            request,
            f"Loan {loan.number} is {loan.get_status_display().lower()}: its guarantors and "
            "collateral can be changed only while the application is pending.",
        )
        return redirect(_loan_url(loan.pk))
    return loan


def _form_page(
    request: HttpRequest, template: str, loan: Loan, form: Any, **extra: Any
) -> HttpResponse:
    return render(request, template, {"loan": loan, "form": form, **extra})


@permission_required(VIEW_APPLICATION, EDIT_APPLICATION)
@require_http_methods(["GET", "POST"])
def guarantor_add(request: HttpRequest, pk: int) -> HttpResponse:
    loan = _application(request, pk)
    if isinstance(loan, HttpResponse):
        return loan
    borrowers = visible_borrowers(request.user)
    form = GuarantorForm(request.POST or None, borrowers=borrowers)
    if request.method == "POST" and form.is_valid():
        try:
            guarantor = services.guarantor_add(
                loan=loan,
                user=signed_in(request),
                amount=form.cleaned_data["amount"],
                request=request,
                **form.person(),
            )
        except StateConflict as exc:
            messages.error(request, error_text(exc))
            return redirect(_loan_url(loan.pk))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{guarantor.name} is added as a guarantor.")
            return redirect(_loan_url(loan.pk))
    return _form_page(
        request, "origination/guarantor_form.html", loan, form,
        guarantors=loan_guarantors(loan=loan),
    )  # fmt: skip


@permission_required(VIEW_APPLICATION, EDIT_APPLICATION)
@require_POST
def guarantor_remove(request: HttpRequest, pk: int, guarantor_pk: int) -> HttpResponse:
    loan = loan_for(request.user, pk)
    guarantor = get_object_or_404(
        Guarantor.objects.select_related("borrower"), pk=guarantor_pk, loan=loan
    )
    try:
        services.guarantor_remove(guarantor=guarantor, user=signed_in(request), request=request)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{guarantor.name} is no longer a guarantor.")
    return redirect(_loan_url(loan.pk))


@permission_required(VIEW_APPLICATION, EDIT_APPLICATION)
@require_http_methods(["GET", "POST"])
def collateral_add(request: HttpRequest, pk: int) -> HttpResponse:
    loan = _application(request, pk)
    if isinstance(loan, HttpResponse):
        return loan
    form = CollateralForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            item = services.collateral_add(
                loan=loan,
                user=signed_in(request),
                type=form.cleaned_data["type"],
                description=form.cleaned_data["description"],
                value=form.cleaned_data["value"],
                request=request,
            )
        except StateConflict as exc:
            messages.error(request, error_text(exc))
            return redirect(_loan_url(loan.pk))
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            messages.success(request, f"{item.get_type_display()} is added as collateral.")
            return redirect(_loan_url(loan.pk))
    return _form_page(
        request, "origination/collateral_form.html", loan, form,
        collateral=loan_collateral(loan=loan),
    )  # fmt: skip


@permission_required(VIEW_APPLICATION, EDIT_APPLICATION)
@require_POST
def collateral_remove(request: HttpRequest, pk: int, collateral_pk: int) -> HttpResponse:
    loan = loan_for(request.user, pk)
    item = get_object_or_404(Collateral, pk=collateral_pk, loan=loan)
    try:
        services.collateral_remove(item=item, user=signed_in(request), request=request)
    except ValidationError as exc:
        messages.error(request, error_text(exc))
    else:
        messages.success(request, f"{item.get_type_display()} is no longer collateral.")
    return redirect(_loan_url(loan.pk))
