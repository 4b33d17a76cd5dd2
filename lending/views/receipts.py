"""Receipts: a printable HTML page (A4, or 80 mm thermal with `?paper=thermal`) and the same
template rendered to PDF by WeasyPrint. Both read the receipt in a fixed number of queries.

Viewing a receipt is not a reprint: opening the page is not audited. Printing is: the page's
Print button posts to the same address, which records the print and answers with the page set
to open the browser's print dialog; every PDF is recorded too (DESIGN: receipt reprints and
exports are audited). The PDF opens in the browser's tab (`inline`); `?download=1` asks the
browser to save it instead.

The 80 mm thermal receipt is as long as its content, not a 297 mm page: WeasyPrint has no
page height "auto", so the PDF is laid out on a long roll page and each page is then cut to
where its content ends (`trim_to_content`); on screen, the page's script measures the receipt
and gives the browser's print the same length."""

from __future__ import annotations

import mimetypes
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from accounts.access import permission_required
from karo.words import amount_in_words
from lending.audit import audit_record
from lending.models import AuditLog, Receipt
from lending.selectors.documents import next_payment
from lending.selectors.repayments import allocation_totals, receipt_for_print

PAPERS = ("a4", "thermal")
# A receipt lists the installments a payment covered up to this many, so it stays one A4
# page and a short thermal slip; beyond (a payment far ahead, a settlement) it gives the range.
MAX_LISTED_INSTALLMENTS = 6


def _paper(request: HttpRequest) -> str:
    paper = request.POST.get("paper") or request.GET.get("paper", "a4")
    return paper if paper in PAPERS else "a4"


def _context(request: HttpRequest, number: str, *, pdf: bool) -> tuple[Receipt, dict[str, Any]]:
    receipt, allocations = receipt_for_print(number, request.user)
    repayment = receipt.repayment
    installments = [a.installment for a in allocations]
    return receipt, {
        "receipt": receipt,
        "repayment": repayment,
        "loan": repayment.loan,
        "borrower": repayment.loan.borrower,
        "allocations": allocations,
        "listed": allocations if len(allocations) <= MAX_LISTED_INSTALLMENTS else [],
        "first_installment": installments[0] if installments else None,
        "last_installment": installments[-1] if installments else None,
        "totals": allocation_totals(allocations),
        "received_by": repayment.recorded_by.get_full_name()
        or repayment.recorded_by.get_username(),
        "amount_in_words": amount_in_words(repayment.amount),
        # What to pay next, as the loan stands now (a void receipt announces nothing).
        "next_payment": None
        if receipt.is_void
        else next_payment(repayment.loan, timezone.localdate()),
        "paper": _paper(request),
        "pdf": pdf,
        "INSTITUTION_NAME": settings.KARO_INSTITUTION_NAME,
        "CURRENCY": settings.KARO_CURRENCY,
    }


@require_http_methods(["GET", "POST"])
@permission_required("lending.view_receipt")
def receipt_detail(request: HttpRequest, number: str) -> HttpResponse:
    """The printable receipt. GET shows it (not audited: looking is not reprinting); POST, the
    Print button, audits the print and shows it with the print dialog opening by itself. Printing
    a page opened by GET from the browser's own menu cannot be seen by the server."""
    receipt, context = _context(request, number, pdf=False)
    if request.method == "POST":
        _audit_print(request, receipt, context, "html")
        context["autoprint"] = True
    return render(request, "receipts/receipt.html", context)


def _audit_print(
    request: HttpRequest, receipt: Receipt, context: dict[str, Any], kind: str
) -> None:
    audit_record(
        action=AuditLog.Action.RECEIPT_PRINTED,
        user=request.user,
        obj=receipt,
        details={"format": kind, "paper": context["paper"], "void": receipt.is_void},
        request=request,
    )


def static_path(url: str) -> str:
    """The file on disk behind one of our static URLs; anything else is refused."""
    prefix = "/" + settings.STATIC_URL.lstrip("/")
    path = unquote(urlsplit(url).path)
    if not path.startswith(prefix) or ".." in path:
        raise ValueError(f"Only static files are fetched, not {url}")
    name = path[len(prefix) :]
    # The source files first (always current); then the collected copy, which is the only
    # place a hashed production name ("css/receipt.3f2a….css") exists.
    found = finders.find(name)
    if found:
        return found if isinstance(found, str) else found[0]
    if staticfiles_storage.exists(name):
        return staticfiles_storage.path(name)
    raise ValueError(f"No static file {name}")


def static_only_fetcher() -> Any:
    """A WeasyPrint URL fetcher that reads our own static files from disk and nothing else:
    rendering never calls back into this server (which may be single-threaded), and a
    receipt can never make the server fetch an outside address. WeasyPrint is imported
    here, not at module level: it takes most of a second to load."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticOnlyFetcher(URLFetcher):  # type: ignore[misc]
        def fetch(self, url: str, headers: Any = None) -> Any:
            if url.startswith("data:"):
                return super().fetch(url, headers)
            path = Path(static_path(url))
            content_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
            return URLFetcherResponse(
                url, body=path.read_bytes(), headers={"Content-Type": content_type}
            )

    return StaticOnlyFetcher(allowed_protocols=["data", "http", "https"])


# The page a thermal receipt is laid out on before it is cut to its content (a receipt lists at
# most MAX_LISTED_INSTALLMENTS installments: it is far shorter).
THERMAL_ROLL = "@page thermal { size: 80mm 1000mm; }"


def trim_to_content(document: Any) -> None:
    """Cut each laid-out page to where its content ends, plus the page's bottom margin. The
    PDF draws every page from its top, so only the empty paper below goes."""
    for page in document.pages:
        box = page._page_box
        if not box.children:
            continue
        root = box.children[0]
        bottom = root.position_y + root.margin_height() + box.margin_bottom
        page.height = min(page.height, bottom)


def render_pdf(
    request: HttpRequest, template: str, context: dict[str, Any], *, roll: bool = False
) -> bytes:
    """A document's page rendered by WeasyPrint from its own template and stylesheets;
    `roll`: a thermal roll, cut to the content's length."""
    from weasyprint import CSS, HTML

    html = render_to_string(template, context, request=request)
    document = HTML(
        string=html, base_url=request.build_absolute_uri("/"), url_fetcher=static_only_fetcher()
    ).render(stylesheets=[CSS(string=THERMAL_ROLL)] if roll else None)
    if roll:
        trim_to_content(document)
    return document.write_pdf()  # type: ignore[no-any-return]


def pdf_response(request: HttpRequest, content: bytes, filename: str) -> HttpResponse:
    """A PDF that opens in the browser's tab; `?download=1` saves it instead."""
    response = HttpResponse(content, content_type="application/pdf")
    disposition = "attachment" if request.GET.get("download") == "1" else "inline"
    response["Content-Disposition"] = f'{disposition}; filename="{filename}"'
    return response


def render_receipt_pdf(request: HttpRequest, context: dict[str, Any]) -> bytes:
    return render_pdf(request, "receipts/receipt.html", context, roll=context["paper"] == "thermal")


@require_GET
@permission_required("lending.view_receipt")
def receipt_pdf(request: HttpRequest, number: str) -> HttpResponse:
    """The receipt as a PDF, opened in the tab; every one is audited (it is a copy of the
    receipt)."""
    receipt, context = _context(request, number, pdf=True)
    content = render_receipt_pdf(request, context)
    _audit_print(request, receipt, context, "pdf")
    return pdf_response(request, content, f"{receipt.number}.pdf")
