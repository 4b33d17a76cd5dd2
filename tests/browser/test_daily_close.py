"""The daily close in a real browser: an Admin follows the navigation to the page, confirms
the run, sees the day closed with its run listed; pressing it again is refused on the page."""

from __future__ import annotations

from typing import Any

import pytest

from lending.models import DayClose

pytestmark = pytest.mark.browser


def test_an_admin_runs_the_daily_close_from_the_navigation(page_as: Any) -> None:
    from tests.reporting.helpers import today, weekly_loan

    weekly_loan(disbursed_days_ago=28)
    page = page_as("admin")
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.click("nav.mainnav >> text=Daily close")
    page.wait_for_url("**/collections/daily-close/")
    assert "The daily close has never run." in page.locator("#day-close-status").inner_text()
    assert page.input_value("#id_on") == f"{today():%d/%m/%Y}"
    page.click("#run-day-close")
    page.wait_for_url("**/collections/daily-close/")
    assert dialogs and "Run the daily close?" in dialogs[0]
    assert (
        f"{today():%d %b %Y} is closed: 1 active loans checked"
        in page.locator(".messages").inner_text()
    )
    assert page.locator("#day-close-runs tbody tr").count() == 1
    assert DayClose.objects.filter(on=today()).exists()

    page.click("#run-day-close")
    page.wait_for_load_state()
    assert "is already closed" in page.locator(".alert.error").inner_text()
    assert page.locator("#day-close-runs tbody tr").count() == 1
