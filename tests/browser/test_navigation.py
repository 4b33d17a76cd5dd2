"""Each role signs in through the real login form and sees only its navigation."""

from typing import Any

import pytest

EXPECTED_NAV = {
    "admin": {
        "Dashboard",
        "Borrowers",
        "Loans",
        "My portfolio",
        "Calculator",
        "Repayments",
        "Collections",
        "Reports",
        "Ledger",
        "Daily close",
        "Working days",
        "Admin",
    },
    # Officers print the collection sheet for their rounds; only cashiers post it.
    "officer": {
        "Dashboard",
        "Borrowers",
        "Loans",
        "My portfolio",
        "Calculator",
        "Collections",
        "Reports",
    },
    "accountant": {
        "Dashboard",
        "Borrowers",
        "Loans",
        "Calculator",
        "Repayments",
        "Collections",
        "Reports",
        "Ledger",
    },
}


@pytest.mark.parametrize("role", sorted(EXPECTED_NAV))
def test_each_role_sees_its_navigation(page_as: Any, role: str) -> None:
    page = page_as(role)
    links = {t.strip() for t in page.locator("nav.mainnav a").all_inner_texts()}
    assert links == EXPECTED_NAV[role]
    assert page.locator("h1").first.inner_text() == "Dashboard"


def test_wrong_password_shows_a_clear_message(new_page: Any, transactional_db: Any) -> None:
    from tests.factories import OfficerFactory

    OfficerFactory(username="clerk")
    page = new_page()
    page.goto("/accounts/login/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", "not-the-password")
    page.click("button[type=submit]")
    assert "do not match" in page.locator(".alert.error").inner_text()
