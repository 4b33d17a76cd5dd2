"""The collection sheet in a real browser: posted, then Back and posted again, it records one
payment (whether Back fetches the page anew or restores it as it was left); on a phone the
sheet does not scroll sideways, and a refused amount keeps its input and error in view."""

from __future__ import annotations

from typing import Any

import pytest

from lending.models import Loan, Repayment

pytestmark = pytest.mark.browser
PHONE = {"width": 390, "height": 844}


@pytest.fixture(autouse=True)
def _roles(transactional_db: Any) -> None:
    from accounts.roles import sync_roles

    sync_roles()


def make_loan(name: str) -> Loan:
    from tests.factories import ActiveLoanFactory, BorrowerFactory

    return ActiveLoanFactory(borrower=BorrowerFactory(full_name=name), disbursed_days_ago=75)


def subtitle(page: Any) -> str:
    page.locator("h1", has_text="Collection sheet of").wait_for()
    return str(page.locator(".subtitle").inner_text())


@pytest.mark.parametrize("back", ["fetched anew", "restored as left"])
def test_the_sheet_posted_again_after_going_back_records_one_payment(
    request: pytest.FixtureRequest, back: str
) -> None:
    fixture = "page_as" if back == "fetched anew" else "page_with_bfcache_as"
    page = request.getfixturevalue(fixture)("accountant")
    loan = make_loan("Grace Njeri")
    page.goto("/collections/")
    page.fill(f"#amount-{loan.pk}", "150.00")
    page.click("#sheet-post")
    assert subtitle(page).startswith("1 posted")

    page.go_back(wait_until="commit")  # a page restored as left fires no load event
    page.wait_for_url("**/collections/", wait_until="commit")
    page.locator("#sheet-post").wait_for()
    if page.locator(f"#amount-{loan.pk}").count():
        # The page as it was left (Chromium keeps no-store pages out of its back-forward
        # cache, so this is rare): 150.00 sent again is answered with the payment posted.
        page.click("#sheet-post")
        assert subtitle(page).startswith("0 posted")
        assert "1 already posted" in subtitle(page)
    else:
        # The sheet fetched anew shows the row's receipt instead of an amount to post.
        assert "Posted 150.00" in page.locator(f"#posted-{loan.pk}").inner_text()
        page.click("#sheet-post")
        page.get_by_text("Enter at least one amount to post.").wait_for()
    assert Repayment.objects.filter(loan=loan).count() == 1


def test_the_sheet_on_a_phone_keeps_a_refused_amount_in_view(page_as: Any) -> None:
    loans = [make_loan(name) for name in ("Wanjiru Kamau-Odhiambo", "Kofi Mensah")]
    page = page_as("accountant")
    page.set_viewport_size(PHONE)
    page.goto("/collections/")
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the sheet is {width} px wide on a {inner} px screen"

    page.fill(f"#amount-{loans[0].pk}", "abc")
    page.click("#sheet-post")
    error = page.locator(f"#amount-{loans[0].pk}-error")
    error.wait_for()
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the sheet is {width} px wide on a {inner} px screen"
    for box in (page.locator(f"#amount-{loans[0].pk}").bounding_box(), error.bounding_box()):
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= inner
    assert not Repayment.objects.exists()
