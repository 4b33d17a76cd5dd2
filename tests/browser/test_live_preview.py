"""The application's schedule preview follows the terms as they are typed (no button), keeps
the rounding options open once set, and refuses a multiple larger than the installment."""

from __future__ import annotations

import os
from typing import Any

import pytest
from playwright.sync_api import expect

from lending.models import Loan

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("KARO_SCREENSHOTS", "")


@pytest.fixture(autouse=True)
def _roles(transactional_db: Any) -> None:
    from accounts.roles import sync_roles

    sync_roles()


def test_the_schedule_preview_is_live(page_as: Any) -> None:
    from tests.factories import BorrowerFactory

    borrower = BorrowerFactory(full_name="Halima Yusuf")
    page = page_as("officer")
    page.goto(f"/loans/apply/?borrower={borrower.pk}")
    page.fill("#id_principal", "5000")
    page.fill("#id_annual_interest_rate", "12")
    page.fill("#id_installments", "12")
    rows = page.locator("#preview table.schedule tbody tr")
    rows.nth(11).wait_for()
    assert rows.count() == 12

    # Typing another number of installments redraws it, no button pressed.
    page.fill("#id_installments", "6")
    expect(rows).to_have_count(6)
    page.focus("#id_principal")  # the form being typed in is not replaced
    page.keyboard.press("End")
    page.keyboard.type("0")
    expect(page.locator("#preview")).to_contain_text("50,000.00")
    assert page.evaluate("document.activeElement.id") == "id_principal"

    # Rounding options: open them, set a multiple of 1000: refused, next to the field.
    page.click("details.rounding > summary")
    page.fill("#id_principal", "5000")
    page.fill("#id_installments", "12")
    page.fill("#id_installment_multiple", "1000")
    error = page.locator("#errors-installment_multiple")
    error.get_by_text("larger than the installment it rounds (444.24)").wait_for()
    assert "No schedule yet" in page.locator("#preview").inner_text()
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "live_preview_multiple.png"), full_page=True)

    expect(rows).to_have_count(0)

    # A multiple that works: the preview comes back, the error goes.
    page.fill("#id_installment_multiple", "10")
    page.locator("#preview table.schedule").wait_for()
    expect(error).to_have_text("")
    assert "440.00" in page.locator("#preview").inner_text()

    # The page drawn again (the Preview button without JavaScript does the same): the rounding
    # options set stay open.
    page.click("button[name=preview]")
    page.locator("#preview table.schedule").wait_for()
    assert page.locator("details.rounding").get_attribute("open") is not None
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "live_preview.png"), full_page=True)
    assert Loan.objects.count() == 0
