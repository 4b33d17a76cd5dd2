"""Repayments in a real browser: an accountant finds a loan, records a partial payment and then
the rest, the loan closes, the receipt opens in a new tab and its PDF downloads; a double
click on the submit button records one repayment."""

from __future__ import annotations

import io
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pypdf import PdfReader

from lending.models import AuditLog, Loan, Repayment

pytestmark = pytest.mark.browser
DETAIL = re.compile(r"/repayments/\d+/$")


@pytest.fixture(autouse=True)
def _roles(transactional_db: Any) -> None:
    """transactional_db empties every table after each test, the role groups of the data
    migration included; put them back before page_as signs a user in."""
    from accounts.roles import sync_roles

    sync_roles()


def make_loan(name: str) -> Loan:
    from tests.factories import ActiveLoanFactory, BorrowerFactory

    return ActiveLoanFactory(borrower=BorrowerFactory(full_name=name), disbursed_days_ago=75)


def test_accountant_pays_in_two_parts_closes_the_loan_and_prints_the_receipt(page_as: Any) -> None:
    loan = make_loan("Nadia Ochieng")
    page = page_as("accountant")

    # Find the loan by the borrower's name (live search) and open its payment form.
    page.click("nav.mainnav >> text=Repayments")
    page.fill("#loan-q", "nadia")
    page.locator("#loan-results").get_by_text(loan.number).wait_for()
    page.locator("#loan-results").get_by_role("link", name="Record payment").click()
    page.wait_for_url(f"**/loans/{loan.pk}/repayments/new/")
    assert "Overdue" in page.locator(".kpis").inner_text()

    # A partial payment.
    page.fill("#id_amount", "250.00")
    page.select_option("#id_method", "mobile_money")
    page.fill("#id_reference", "MP-55120")
    page.click("#record-payment")
    page.wait_for_url(DETAIL)
    assert "USD 250.00 recorded" in page.locator(".messages").inner_text()
    loan.refresh_from_db()
    assert loan.status == Loan.Status.ACTIVE and loan.total_paid == Decimal("250.00")

    # The rest: the form's amount is what is due now; type the whole outstanding instead.
    page.click("text=Record another payment")
    page.wait_for_url(f"**/loans/{loan.pk}/repayments/new/")
    page.fill("#id_amount", str(loan.outstanding))
    page.click("#record-payment")
    page.wait_for_url(DETAIL)
    assert "fully repaid and closed" in page.locator("main").inner_text()
    loan.refresh_from_db()
    assert loan.status == Loan.Status.CLOSED and loan.outstanding == 0
    last = Repayment.objects.filter(loan=loan).order_by("-id").first()
    assert last is not None
    number = last.receipt.number

    # The receipt opens in a new tab.
    button = page.locator("#receipt-button")
    assert button.get_attribute("target") == "_blank"
    assert "noopener" in (button.get_attribute("rel") or "")
    with page.context.expect_page() as new_tab:
        button.click()
    receipt = new_tab.value
    receipt.wait_for_load_state()
    assert f"/receipts/{number}/" in receipt.url
    text = receipt.locator("main.receipt").inner_text()
    for expected in [number, "Nadia Ochieng", loan.number, f"USD {last.amount:,}", "USD 0.00"]:
        assert expected in text, expected
    # Looking is not reprinting: only the Print button (and the PDF) is audited.
    prints = AuditLog.objects.filter(action=AuditLog.Action.RECEIPT_PRINTED)
    assert not prints.exists()
    receipt.add_init_script("window.print = function () { window.__printed = true; };")
    receipt.click("#print-button")
    receipt.wait_for_function("() => window.__printed === true")
    assert [e.details["format"] for e in prints] == ["html"]

    # Its PDF opens in a tab (inline); the Download link saves it, the same receipt.
    pdf_link = receipt.locator("a", has_text="Open PDF")
    assert pdf_link.get_attribute("target") == "_blank"
    inline = receipt.request.get(pdf_link.get_attribute("href") or "")
    assert inline.headers["content-disposition"].startswith("inline;")
    with receipt.expect_download() as download_info:
        receipt.click("a[download]")
    download = download_info.value
    assert download.suggested_filename == f"{number}.pdf"
    path = download.path()
    assert path is not None
    content = Path(path).read_bytes()
    assert content.startswith(b"%PDF-")
    pdf_text = "\n".join(p.extract_text() for p in PdfReader(io.BytesIO(content)).pages)
    assert number in pdf_text and "Nadia Ochieng" in pdf_text and loan.number in pdf_text


def _wait_for_the_payment(page: Any) -> None:
    """With nothing stopping the second submit, the browser drops the first navigation for
    the second one: the wait may see the first aborted (ERR_ABORTED) before the page lands."""
    from playwright.sync_api import Error as PlaywrightError

    for _ in range(3):
        try:
            page.wait_for_url(DETAIL)
            return
        except PlaywrightError as exc:
            if "ERR_ABORTED" not in str(exc):
                raise
    page.wait_for_url(DETAIL)


@pytest.mark.parametrize("guard", ["with data-once", "server only"])
def test_double_click_on_submit_records_one_repayment(page_as: Any, guard: str) -> None:
    loan = make_loan("Peter Kamau")
    page = page_as("accountant")
    page.goto(f"/loans/{loan.pk}/repayments/new/")
    page.fill("#id_amount", "120.00")
    if guard == "server only":
        # As if the page's script had not run: nothing stops a second submit in the browser,
        # only the form's one-time key stops a second repayment on the server.
        page.evaluate("document.querySelector('form[data-once]').removeAttribute('data-once')")
    fields = ["csrfmiddlewaretoken", "amount", "paid_on", "method", "reference", "idempotency_key"]
    payment_form = page.locator("form:has(#record-payment)")
    form = {name: payment_form.locator(f"[name={name}]").input_value() for name in fields}
    page.dblclick("#record-payment")
    _wait_for_the_payment(page)
    page.wait_for_load_state("networkidle")
    detail_url = page.url
    if guard == "server only":
        # And the browser's retry of the same post (after a lost answer) lands on the same page.
        retry = page.request.post(f"/loans/{loan.pk}/repayments/new/", form=form)
        assert retry.ok and retry.url == detail_url
    assert Repayment.objects.filter(loan=loan).count() == 1
    loan.refresh_from_db()
    assert loan.total_paid == Decimal("120.00")
    assert "Receipt" in page.locator("#receipt-button").inner_text()


@pytest.mark.parametrize("back", ["fetched anew", "restored as left"])
def test_going_back_to_a_sent_payment_form_and_sending_it_again_records_nothing(
    request: pytest.FixtureRequest, back: str
) -> None:
    fixture = "page_as" if back == "fetched anew" else "page_with_bfcache_as"
    page = request.getfixturevalue(fixture)("accountant")
    loan = make_loan("Rose Wanjiru")
    form = f"**/loans/{loan.pk}/repayments/new/"
    page.goto(f"/loans/{loan.pk}/repayments/new/")
    page.fill("#id_amount", "80.00")
    page.fill("#id_reference", "MP-1")
    page.click("#record-payment")
    page.wait_for_url(DETAIL)
    first = page.url

    # Back to the form, the same details sent again: the payment already recorded is shown.
    page.go_back(wait_until="commit")  # a page restored as left fires no load event
    page.wait_for_url(form, wait_until="commit")
    page.fill("#id_amount", "80.00")
    page.fill("#id_reference", "MP-1")
    page.click("#record-payment")
    page.wait_for_url(DETAIL)
    assert page.url == first
    assert Repayment.objects.filter(loan=loan).count() == 1

    # Back again and other details: refused as a used form, with a new form to use.
    page.go_back(wait_until="commit")  # a page restored as left fires no load event
    page.wait_for_url(form, wait_until="commit")
    page.fill("#id_amount", "30.00")
    page.click("#record-payment")
    page.get_by_text("already submitted with different details").wait_for()
    assert Repayment.objects.filter(loan=loan).count() == 1
    page.click("#record-payment")  # the refused form came back with a new key
    page.wait_for_url(DETAIL)
    assert page.url != first
    assert Repayment.objects.filter(loan=loan).count() == 2


def test_a_new_payment_form_keeps_its_own_key_after_going_back(page_as: Any) -> None:
    # Two equal cash payments the same day: the second form, left and come back to by Back
    # before it was sent, records the second payment (it is not taken for the first).
    page = page_as("accountant")
    loan = make_loan("Amani Otieno")
    page.goto(f"/loans/{loan.pk}/repayments/new/")
    page.fill("#id_amount", "80.00")
    page.click("#record-payment")
    page.wait_for_url(DETAIL)
    first = page.url
    page.goto(f"/loans/{loan.pk}/repayments/new/")  # a new form
    page.goto(f"/loans/{loan.pk}/")  # left unsent...
    page.go_back()  # ...and back to it
    page.wait_for_url(f"**/loans/{loan.pk}/repayments/new/")
    page.fill("#id_amount", "80.00")
    page.click("#record-payment")
    page.wait_for_url(DETAIL)
    assert page.url != first
    assert Repayment.objects.filter(loan=loan).count() == 2
