"""Closing the books in a real browser: the confirmation names the date typed (QA: it said
"that date" without saying which)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from ledger.models import BooksClosing

pytestmark = pytest.mark.browser


def test_the_close_confirmation_names_the_typed_date_and_cancel_closes_nothing(
    page_as: Any,
) -> None:
    day = timezone.localdate() - timedelta(days=3)
    admin = page_as("admin")
    admin.goto("/ledger/close/")
    questions: list[str] = []
    admin.on("dialog", lambda dialog: (questions.append(dialog.message), dialog.dismiss()))
    admin.fill("#id_through", day.isoformat())
    admin.click("button.primary")
    named = f"{day.day} {day:%b %Y}"
    assert questions == [
        f"Close the books through {named}? Nothing can be booked, reversed or backdated on or "
        f"before {named} afterwards."
    ]
    assert admin.url.endswith("/ledger/close/")
    assert not BooksClosing.objects.exists()
