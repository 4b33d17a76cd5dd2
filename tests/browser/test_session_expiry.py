"""A session that ends while a page is open: an htmx filter change sends the whole page to the
login page (not a login page inside the results panel), and a payment form posted after the
end says nothing was recorded and, once signed in again, comes back with what was typed."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import pytest

from lending.models import Repayment

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("KARO_SCREENSHOTS", "")


@pytest.fixture(autouse=True)
def _roles(transactional_db: Any) -> None:
    from accounts.roles import sync_roles

    sync_roles()


def end_every_session() -> None:
    """What the idle timeout does: the session is gone from the database and the cache."""
    from django.contrib.sessions.models import Session
    from django.core.cache import cache

    Session.objects.all().delete()
    cache.clear()


def shot(page: Any, name: str) -> None:
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, f"{name}.png"), full_page=True)


def sign_in_again(page: Any, username: str) -> None:
    from tests import factories

    page.fill("#id_username", username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)


def test_a_filter_change_after_the_session_ended_goes_to_the_login_page(page_as: Any) -> None:
    from tests.factories import ActiveLoanFactory

    ActiveLoanFactory()
    page = page_as("officer")
    page.goto("/loans/")
    end_every_session()
    page.select_option("select[name=status]", "active")
    page.wait_for_url("**/accounts/login/?next=*")
    shot(page, "session_filter_login")
    assert page.locator("h1").inner_text() == "Sign in"
    assert page.locator("h1").count() == 1  # the login page alone, not inside the list
    assert "next=%2Floans%2F" in page.url
    sign_in_again(page, page.user.username)
    assert page.url.endswith("/loans/") or "/loans/?" in page.url


def test_a_payment_posted_after_the_session_ended_is_not_recorded_and_keeps_the_typed_values(
    page_as: Any,
) -> None:
    from tests.factories import ActiveLoanFactory

    loan = ActiveLoanFactory(disbursed_days_ago=75)
    page = page_as("accountant")
    page.goto(f"/loans/{loan.pk}/repayments/new/")
    page.fill("#id_amount", "123.45")
    page.select_option("#id_method", "mobile_money")
    page.fill("#id_reference", "MP-77001")
    end_every_session()
    page.click("#record-payment")
    page.wait_for_url("**/accounts/login/?next=*")
    shot(page, "session_payment_login")
    assert (
        "Your session ended; nothing was recorded. Sign in and check the amount before posting "
        "again." in page.locator(".messages").inner_text()
    )
    assert not Repayment.objects.filter(loan=loan).exists()

    sign_in_again(page, page.user.username)
    page.wait_for_url(f"**/loans/{loan.pk}/repayments/new/")
    page.locator("#restored-note").wait_for()
    shot(page, "session_payment_restored")
    assert page.input_value("#id_amount") == "123.45"
    assert page.input_value("#id_method") == "mobile_money"
    assert page.input_value("#id_reference") == "MP-77001"
    assert "nothing was recorded" in page.locator("#restored-note").inner_text()

    # Sent again, it is recorded once, with the amount typed.
    page.click("#record-payment")
    page.wait_for_url("**/repayments/*/")
    assert [r.amount for r in Repayment.objects.filter(loan=loan)] == [Decimal("123.45")]

    # Opened again later, the form is a fresh one: the kept values were used once.
    page.goto(f"/loans/{loan.pk}/repayments/new/")
    assert page.locator("#restored-note").count() == 0
