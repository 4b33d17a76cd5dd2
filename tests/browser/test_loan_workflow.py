"""The lending workflow in a real browser: an officer registers a borrower and applies for a
loan after previewing its schedule; a second officer approves it and sees the schedule; the
first officer cannot approve their own application."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from lending.models import Borrower, Loan

pytestmark = pytest.mark.browser


def test_officer_applies_and_a_second_officer_approves(page_as: Any) -> None:
    officer = page_as("officer")

    # Register the borrower.
    officer.goto("/borrowers/new/")
    officer.fill("#id_full_name", "Thandiwe Zulu")
    officer.fill("#id_national_id", "ZA 8501-0123")
    assert officer.get_attribute("#id_date_of_birth", "placeholder") == "dd/mm/yyyy"
    officer.fill("#id_date_of_birth", "31/01/1985")  # day first, whatever the browser's locale
    officer.fill("#id_phone", "+27 82 555 0101")
    officer.fill("#id_monthly_income", "3200")
    officer.click("text=Register borrower")
    officer.wait_for_url("**/borrowers/*/")
    assert "is registered as B-" in officer.locator(".messages").inner_text()
    assert Borrower.objects.get().date_of_birth == date(1985, 1, 31)

    # Apply: the borrower is preselected from their page; preview, then submit.
    officer.click("text=New loan application")
    officer.wait_for_url("**/loans/apply/?borrower=*")
    assert "Thandiwe Zulu" in officer.locator("#id_borrower option:checked").inner_text()
    officer.fill("#id_principal", "6000")
    officer.fill("#id_annual_interest_rate", "15")
    officer.fill("#id_installments", "12")
    officer.click("button[name=preview]")
    preview = officer.locator("#preview table.schedule tbody tr")
    preview.first.wait_for()
    assert preview.count() == 12
    assert "Total repayable" in officer.locator("#preview").inner_text()
    assert Loan.objects.count() == 0  # a preview writes nothing

    officer.click("text=Submit application")
    officer.wait_for_url("**/loans/*/")
    assert "waits for approval" in officer.locator(".messages").inner_text()
    assert "four-eyes" in officer.locator(".decision").inner_text()
    assert officer.locator("text=Approve loan").count() == 0
    loan = Loan.objects.get()
    assert loan.status == Loan.Status.PENDING

    # Approving one's own application is refused even when posted directly.
    token = next(c["value"] for c in officer.context.cookies() if c["name"] == "csrftoken")
    refused = officer.request.post(
        f"/loans/{loan.pk}/approve/",
        form={"csrfmiddlewaretoken": token, "disbursement_date": ""},
        headers={"X-CSRFToken": token},
    )
    assert refused.status == 403
    assert "someone else must approve" in refused.text()
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING

    # A second officer approves it; the stored schedule is shown.
    approver = page_as("officer2")
    approver.goto(f"/loans/{loan.pk}/")
    asked: list[str] = []
    approver.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    approver.click("text=Approve loan")
    approver.wait_for_url(f"**/loans/{loan.pk}/")
    assert asked and "and disburse" in asked[0]  # approving asks first
    assert "approved and disbursed" in approver.locator(".messages").inner_text()
    assert approver.locator("h1 .badge").inner_text() == "Active"
    rows = approver.locator("table.schedule tbody tr")
    assert rows.count() == 12
    assert "6,000.00" in approver.locator("table.schedule tfoot").inner_text()
    loan.refresh_from_db()
    assert loan.status == Loan.Status.ACTIVE
    assert loan.decided_by is not None and loan.decided_by.username == "officer2_b"


def test_an_admin_writes_off_a_loan_on_its_own_page(page_as: Any) -> None:
    from tests.factories import ActiveLoanFactory

    loan = ActiveLoanFactory(disbursed_days_ago=75)
    admin = page_as("admin")
    admin.goto(f"/loans/{loan.pk}/")
    admin.click("text=Write off this loan…")
    admin.wait_for_url(f"**/loans/{loan.pk}/write-off/")
    questions: list[str] = []
    admin.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))

    # No reason: no question, the reason's error from the server; nothing written.
    admin.click("button.danger")
    admin.locator(".error-text").wait_for()
    assert "Give a reason for the write-off." in admin.locator(".error-text").inner_text()
    assert questions == []
    loan.refresh_from_db()
    assert loan.status == Loan.Status.ACTIVE

    # With a reason: asked once, then written off.
    admin.fill("textarea[name=write_off-reason]", "Borrower emigrated")
    admin.click("button.danger")
    admin.wait_for_url(f"**/loans/{loan.pk}/")
    assert questions == [f"Write off loan {loan.number}? Collection stops; the outstanding is "
                         "recorded as written off."]  # fmt: skip
    assert "is written off" in admin.locator(".messages").inner_text()
    loan.refresh_from_db()
    assert loan.status == Loan.Status.WRITTEN_OFF


def test_two_step_product_is_approved_then_disbursed_by_the_accountant(page_as: Any) -> None:
    """A product that disburses separately: the approver approves less than asked for (the
    page asks first), the accountant hands the money over from the disbursement page (asked
    again, with the amount and date typed)."""
    from decimal import Decimal

    from tests.factories import LoanFactory, LoanProductFactory

    product = LoanProductFactory(name="Two-step", disburse_on_approval=False)
    loan = LoanFactory(product=product, principal=Decimal("5000.00"))

    approver = page_as("officer2")
    approver.goto(f"/loans/{loan.pk}/")
    asked: list[str] = []
    approver.on("dialog", lambda dialog: (asked.append(dialog.message), dialog.accept()))
    approver.fill("#id_approved_amount", "4000.00")
    approver.click("text=Approve loan")
    approver.wait_for_url(f"**/loans/{loan.pk}/")
    assert asked and "4000.00" in asked[0] and "Nothing is disbursed now" in asked[0]
    assert approver.locator("h1 .badge").inner_text() == "Approved"
    assert approver.locator("text=Disburse…").count() == 0  # an officer does not disburse

    cashier = page_as("accountant")
    cashier.goto(f"/loans/{loan.pk}/")
    cashier.click("#disbursement >> text=Disburse…")
    cashier.wait_for_url(f"**/loans/{loan.pk}/disburse/")
    questions: list[str] = []
    cashier.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.accept()))
    cashier.fill("#id_amount", "4000.01")
    cashier.click("button.primary")
    cashier.locator(".error-text").wait_for()
    assert "approved for 4,000.00" in cashier.locator(".error-text").inner_text()
    loan.refresh_from_db()
    assert loan.status == Loan.Status.APPROVED
    cashier.fill("#id_amount", "3500.00")
    cashier.fill("#id_reference", "VCH-77")
    cashier.click("button.primary")
    cashier.wait_for_url(f"**/loans/{loan.pk}/")
    assert questions and "3500.00" in questions[-1]
    assert cashier.locator("h1 .badge").inner_text() == "Active"
    loan.refresh_from_db()
    assert (loan.status, loan.principal, loan.disbursement_reference) == (
        Loan.Status.ACTIVE,
        Decimal("3500.00"),
        "VCH-77",
    )
