"""Payment file imports: upload, map the columns and dry run, commit (posted in the background
with a progress bar), and the report as CSV. Accountant and Admin (DESIGN.md's matrix)."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import permission_required
from accounts.offices import scope
from collecting.forms import ImportMappingForm, ImportUploadForm
from collecting.imports import (
    MAX_BYTES,
    payment_import_check,
    payment_import_commit,
    payment_import_upload,
    report_rows,
    suggested_mapping,
    verdict_counts,
)
from collecting.models import PaymentImport, PaymentImportRow
from karo.spreadsheet import formula_safe
from lending.audit import audit_record
from lending.errors import StateConflict
from lending.models import AuditLog

PAGE_SIZE = 50


def _add_errors(form: Any, error: ValidationError) -> None:
    for field, errors in error.message_dict.items():
        form.add_error(field if field in form.fields else None, errors)


@require_http_methods(["GET", "POST"])
@permission_required("lending.add_repayment")
def payment_import_list(request: HttpRequest) -> HttpResponse:
    """Upload a file; the imports so far."""
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_BYTES:
            form.add_error(
                "file",
                f"The file is {upload.size / 1024 / 1024:.1f} MB; an import takes at most "
                f"{MAX_BYTES // 1024 // 1024} MB. Split it into smaller files.",
            )
        else:
            try:
                payment_import = payment_import_upload(
                    user=request.user,  # type: ignore[arg-type]
                    source_name=form.cleaned_data["source"],
                    file_name=upload.name or "payments",
                    content=upload.read(),
                    method=form.cleaned_data["method"],
                )
            except ValidationError as error:
                _add_errors(form, error)
            else:
                return redirect("payment_import_detail", pk=payment_import.pk)
    imports = (
        visible_imports(request)
        .select_related("source", "uploaded_by")
        .order_by("-uploaded_at", "-id")
    )
    page = Paginator(imports, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "collecting/imports.html",
        {"form": form, "page_obj": page, "max_mb": MAX_BYTES // 1024 // 1024},
    )


def visible_imports(request: HttpRequest) -> QuerySet[PaymentImport]:
    """The imports uploaded in the user's offices (an import is its uploader's office's:
    DESIGN.md "Offices"); another office's is a 404."""
    return scope(PaymentImport.objects.all(), request.user, "uploaded_by__office_link__office")


def _detail_context(
    request: HttpRequest, payment_import: PaymentImport, form: Any
) -> dict[str, Any]:
    rows = report_rows(payment_import)
    verdict = request.GET.get("verdict", "")
    if verdict in PaymentImportRow.Verdict.values:
        rows = rows.filter(verdict=verdict)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    counts = verdict_counts(payment_import)
    return {
        "imp": payment_import,
        "form": form,
        "page_obj": page,
        "counts": [
            (value, label, counts.get(value, 0))
            for value, label in PaymentImportRow.Verdict.choices
            if counts.get(value)
        ],
        "ready": counts.get(PaymentImportRow.Verdict.READY, 0),
        "verdict": verdict,
        "editable": payment_import.status
        in (PaymentImport.Status.UPLOADED, PaymentImport.Status.CHECKED),
    }


@require_http_methods(["GET", "POST"])
@permission_required("lending.add_repayment")
def payment_import_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The mapping and the dry run (POST runs it), the rows with their verdicts, and the
    commit's progress."""
    payment_import = get_object_or_404(
        visible_imports(request).select_related("source", "uploaded_by"), pk=pk
    )
    initial = suggested_mapping(payment_import)
    form = ImportMappingForm(
        request.POST if request.method == "POST" else None,
        header=payment_import.header,
        initial=initial,
    )
    if request.method == "POST" and form.is_valid():
        try:
            payment_import_check(
                payment_import=payment_import,
                user=request.user,  # type: ignore[arg-type]
                mapping=form.mapping(),
            )
        except ValidationError as error:
            _add_errors(form, error)
        except StateConflict as conflict:
            form.add_error(None, str(conflict))
        else:
            return redirect("payment_import_detail", pk=payment_import.pk)
        payment_import.refresh_from_db()
    return render(
        request, "collecting/import_detail.html", _detail_context(request, payment_import, form)
    )


@require_GET
@permission_required("lending.add_repayment")
def payment_import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    """The progress bar (polled by htmx while the rows are posted; a plain link otherwise)."""
    payment_import = get_object_or_404(visible_imports(request), pk=pk)
    if not request.htmx:  # type: ignore[attr-defined]
        return redirect("payment_import_detail", pk=pk)
    return render(request, "collecting/import_detail.html#progress", {"imp": payment_import})


@require_POST
@permission_required("lending.add_repayment")
def payment_import_commit_view(request: HttpRequest, pk: int) -> HttpResponse:
    payment_import = get_object_or_404(visible_imports(request), pk=pk)
    try:
        payment_import_commit(
            payment_import=payment_import,
            user=request.user,  # type: ignore[arg-type]
            request=request,
        )
    except StateConflict as conflict:
        messages.error(request, str(conflict))
    return redirect("payment_import_detail", pk=pk)


class _Echo:
    def write(self, value: str) -> str:
        return value


@require_GET
@permission_required("lending.add_repayment")
def payment_import_report(request: HttpRequest, pk: int) -> HttpResponse:
    """Every row with its verdict, loan and receipt, as CSV (audited, like every export)."""
    payment_import = get_object_or_404(visible_imports(request).select_related("source"), pk=pk)
    writer = csv.writer(_Echo())
    lines = [
        writer.writerow(
            ["row", "date_paid", "amount", "reference", "loan_number", "matched_by",
             "verdict", "message", "receipt_number"]
        )
    ]  # fmt: skip
    count = 0
    for row in report_rows(payment_import):
        receipt = getattr(row.repayment, "receipt", None) if row.repayment else None
        lines.append(
            writer.writerow(
                [
                    row.number,
                    row.paid_on.isoformat() if row.paid_on else "",
                    f"{row.amount:.2f}" if row.amount is not None else "",
                    formula_safe(row.reference),
                    row.loan.number if row.loan else "",
                    row.matched_by,
                    row.verdict,
                    formula_safe(row.message),
                    receipt.number if receipt else "",
                ]
            )
        )
        count += 1
    audit_record(
        action=AuditLog.Action.REPORT_EXPORTED,
        user=request.user,
        details={"report": "payment_import", "import": payment_import.pk, "rows": count},
        request=request,
    )
    response = HttpResponse("".join(lines), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = (
        f'attachment; filename="payment-import-{payment_import.pk}-report.csv"'
    )
    return response
