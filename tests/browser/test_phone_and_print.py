"""Phone width (390 px) and paper (A4 and the 80 mm roll) in a real browser.

At 390 px no main page of any role scrolls sideways, the loan list shows every column as a
labelled card, loan numbers stay on one line and the receipt's header does not overlap. On
A4 (Chromium's own PDF of the page, as its print dialog makes it) the loan page's schedule
starts on page one, the repayments list keeps its last column, the collections report starts
at the top, and every page carries the institution's name and the print date. An 80 mm
thermal receipt is as long as its content.

Set KARO_SCREENSHOTS=<folder> to keep the screenshots and PDFs to look at."""

from __future__ import annotations

import io
import os
import unicodedata
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone
from pypdf import PdfReader

from lending.models import Loan, Repayment
from lending.services.repayments import repayment_record
from tests.factories import ActiveLoanFactory, BorrowerFactory
from tests.reporting.fixtures import build_portfolio

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}
MM = 72 / 25.4
INSTITUTION = "Ka-Ro Microfinance"


@pytest.fixture(autouse=True)
def _roles(transactional_db: Any) -> None:
    from accounts.roles import sync_roles

    sync_roles()


@pytest.fixture
def data(transactional_db: Any) -> dict[str, Any]:
    """The reporting portfolio, plus a 24-installment loan with eight payments (a long
    schedule, a page of repayments) for a borrower with a long name."""
    build_portfolio()
    loan = ActiveLoanFactory(
        borrower=BorrowerFactory(full_name="Nokuthula Wanjiru-Oyelaran Abernathy"),
        installments=24,
        principal=Decimal("48000.00"),
        disbursed_days_ago=260,
    )
    today = timezone.localdate()
    repayment: Repayment | None = None
    for k in range(8):
        repayment = repayment_record(
            loan=loan,
            user=loan.decided_by,
            amount=Decimal("2150.00"),
            paid_on=today - timedelta(days=230 - 30 * k),
            method=["cash", "bank_transfer", "mobile_money", "cheque"][k % 4],
            reference=f"REF-{k:04d}",
        )
    assert repayment is not None
    return {"loan": Loan.objects.get(pk=loan.pk), "receipt": repayment.receipt.number}


def keep(page: Any, name: str, pdf: bytes | None = None) -> None:
    folder = os.environ.get("KARO_SCREENSHOTS")
    if not folder:
        return
    Path(folder).mkdir(parents=True, exist_ok=True)
    if pdf is None:
        page.screenshot(path=f"{folder}/{name}.png", full_page=True)
    else:
        Path(f"{folder}/{name}.pdf").write_bytes(pdf)


def overflow(page: Any) -> tuple[int, int]:
    width, client = page.evaluate(
        "[document.documentElement.scrollWidth, document.documentElement.clientWidth]"
    )
    return int(width), int(client)


def main_pages(role: str, data: dict[str, Any]) -> list[str]:
    loan = data["loan"]
    pages = [
        "/",
        "/loans/",
        f"/loans/{loan.pk}/",
        f"/loans/{loan.pk}/payoff/",
        f"/loans/{loan.pk}/statement/",
        f"/loans/{loan.pk}/payoff/letter/",
        "/borrowers/",
        f"/borrowers/{loan.borrower_id}/",
        "/calculator/",
        "/reports/",
        "/reports/aging/",
        "/reports/disbursements/",
        "/reports/officers/",
        "/collections/",
    ]
    if role in ("admin", "officer"):
        pages.append("/loans/apply/")
    if role in ("admin", "accountant"):
        pages += [
            "/repayments/",
            f"/loans/{loan.pk}/repayments/new/",
            f"/receipts/{data['receipt']}/",
            f"/receipts/{data['receipt']}/?paper=thermal",
            "/reports/collections/",
            "/ledger/",
            "/ledger/journal/",
            "/collections/imports/",
        ]
    return pages


@pytest.mark.parametrize("role", ["admin", "officer", "accountant"])
def test_no_main_page_scrolls_sideways_on_a_phone(
    page_as: Any, data: dict[str, Any], role: str
) -> None:
    page = page_as(role)
    page.set_viewport_size(PHONE)
    wide = []
    for path in main_pages(role, data):
        response = page.goto(path)
        assert response is not None and response.status == 200, path
        page.wait_for_load_state("networkidle")
        width, client = overflow(page)
        if width > client:
            wide.append((path, width))
        keep(page, f"phone-{role}-{path.strip('/').replace('/', '_') or 'dashboard'}")
    assert not wide, f"wider than the {PHONE['width']} px screen: {wide}"


def test_loan_list_on_a_phone_shows_principal_outstanding_and_status(
    page_as: Any, data: dict[str, Any]
) -> None:
    page = page_as("officer")
    page.set_viewport_size(PHONE)
    page.goto("/loans/")
    rows = page.locator("#loan-results tbody tr")
    assert rows.count() >= 5
    for i in range(rows.count()):
        row = rows.nth(i)
        for label in ("Principal", "Outstanding", "Status"):
            cell = row.locator(f'td[data-label="{label}"]')
            assert cell.is_visible(), (i, label)
            box = cell.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        # The label is shown beside the value.
        label_text = row.locator('td[data-label="Principal"]').evaluate(
            "td => getComputedStyle(td, '::before').content"
        )
        assert label_text == '"Principal"'
        # A loan number is one line: one box, never broken at its hyphens.
        link = row.locator("td").first.locator("a")
        assert link.evaluate("a => a.getClientRects().length") == 1
    keep(page, "phone-loan-list")


def test_loan_numbers_never_wrap_on_the_dashboard(page_as: Any, data: dict[str, Any]) -> None:
    page = page_as("admin")
    page.set_viewport_size(PHONE)
    page.goto("/")
    links = page.locator('td > a[href^="/loans/"]')
    assert links.count() >= 1
    for i in range(links.count()):
        assert links.nth(i).evaluate("a => a.getClientRects().length") == 1
        box = links.nth(i).bounding_box()
        assert box is not None and box["x"] + box["width"] <= PHONE["width"]


@pytest.mark.parametrize("paper", ["", "?paper=thermal"])
def test_receipt_header_does_not_overlap_on_a_phone(
    page_as: Any, data: dict[str, Any], paper: str
) -> None:
    page = page_as("accountant")
    page.set_viewport_size(PHONE)
    page.goto(f"/receipts/{data['receipt']}/{paper}")
    boxes = [
        page.locator(selector).bounding_box()
        for selector in (".receipt .institution", "#receipt-title", "table.receipt-id")
    ]
    assert all(boxes)

    def overlap(a: dict[str, float], b: dict[str, float]) -> bool:
        return not (
            a["x"] + a["width"] <= b["x"]
            or b["x"] + b["width"] <= a["x"]
            or a["y"] + a["height"] <= b["y"]
            or b["y"] + b["height"] <= a["y"]
        )

    for i in range(3):
        for j in range(i + 1, 3):
            assert not overlap(boxes[i], boxes[j]), (i, j)
    assert "Receipt no." in page.locator("table.receipt-id").inner_text()
    keep(page, f"phone-receipt{paper.replace('?paper=', '-')}")


# --- paper --------------------------------------------------------------------------------------


def printed(page: Any, path: str, name: str) -> list[str]:
    page.goto(path)
    page.wait_for_load_state("networkidle")
    content = page.pdf(format="A4", prefer_css_page_size=True)
    keep(page, name, content)
    reader = PdfReader(io.BytesIO(content))
    box = reader.pages[0].mediabox
    assert round(float(box.width) / MM) == 210 and round(float(box.height) / MM) == 297
    # NFKC: Chromium's PDF sets "fi" as a ligature.
    pages = [unicodedata.normalize("NFKC", p.extract_text()) for p in reader.pages]
    for number, text in enumerate(pages, 1):
        assert INSTITUTION in text and "Printed " in text, f"page {number} of {path}"
    return pages


def test_loan_page_prints_its_schedule_on_page_one(page_as: Any, data: dict[str, Any]) -> None:
    loan = data["loan"]
    page = page_as("admin")
    pages = printed(page, f"/loans/{loan.pk}/", "print-loan")
    assert "Repayment schedule" in pages[0]
    assert len(pages) >= 2  # 24 installments, repayments, history: the schedule breaks over


def test_repayments_list_prints_its_last_column(page_as: Any, data: dict[str, Any]) -> None:
    page = page_as("accountant")
    pages = printed(page, "/repayments/", "print-repayments")
    text = "\n".join(pages)
    assert "REF-0007" in text
    # The last column (status) of every row is on paper, not cut off at the page's edge.
    assert text.count("Received") >= 8
    status = page.locator("table thead th").last.inner_text()
    page.emulate_media(media="print")
    assert page.evaluate(
        "() => [...document.querySelectorAll('.table-wrap')]"
        ".every(w => w.scrollWidth <= w.clientWidth + 1)"
    )
    assert status.strip()


def test_collections_report_starts_on_page_one(page_as: Any, data: dict[str, Any]) -> None:
    page = page_as("accountant")
    end = timezone.localdate()
    start = end - timedelta(days=30)  # a month: 31 rows by day
    pages = printed(
        page,
        f"/reports/collections/?date_from={start.isoformat()}&date_to={end.isoformat()}",
        "print-collections",
    )
    assert "By method" in pages[0] and "By day" in pages[0]
    # The totals row is printed once, after the last day, not at the foot of page one.
    assert sum(page_text.count("Total") for page_text in pages) == 2  # by method, by day
    assert f"{start:%-d %b %Y}" in pages[0]  # the first day of the table, under the summary


def test_thermal_receipt_prints_at_its_content_length(page_as: Any, data: dict[str, Any]) -> None:
    page = page_as("accountant")
    page.goto(f"/receipts/{data['receipt']}/?paper=thermal")
    page.wait_for_load_state("networkidle")
    length = int(page.evaluate("document.documentElement.dataset.rollLength"))
    content = page.pdf(prefer_css_page_size=True)
    keep(page, "print-thermal", content)
    reader = PdfReader(io.BytesIO(content))
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert round(float(box.width) / MM) == 80
    assert round(float(box.height) / MM) == length
    assert 100 < length < 250  # the receipt's own length, not 297 mm
    assert "Keep this receipt" in reader.pages[0].extract_text()


ALIGN = """table => [...table.querySelector('tbody tr').cells].map(
    cell => getComputedStyle(cell).textAlign)"""


def test_schedules_align_amounts_right_and_words_left(page_as: Any, data: dict[str, Any]) -> None:
    """The stored schedule's cells carry no class (#schedule's CSS aligns them); the proposed
    schedule of an application keeps its per-cell classes: both show amounts right-aligned."""
    from tests.factories import LoanFactory

    page = page_as("admin")
    page.goto(f"/loans/{data['loan'].pk}/")
    stored = page.locator("#schedule table.schedule").evaluate(ALIGN)
    # #, due date, principal, interest, fees, penalties, total, paid, remaining, status
    assert stored == ["right", "left", *["right"] * 7, "left"], stored
    pending = LoanFactory(borrower=data["loan"].borrower)
    page.goto(f"/loans/{pending.pk}/")
    proposed = page.locator("table.schedule").evaluate(ALIGN)
    assert proposed[0] == "right" and proposed[1] in {"left", "start"}, proposed
    assert set(proposed[2:]) == {"right"}, proposed  # principal ... balance after
