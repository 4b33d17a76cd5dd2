"""How every CSV export writes a value (`reporting.exports.cell`): words, not codes or
float-looking decimals."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from django.test import override_settings

from reporting.exports import cell, decimal_text

D = Decimal


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (D("18.0000"), "18.00"),  # a stored rate
        (D("18.1250"), "18.125"),  # precision that is there is kept, never rounded away
        (D("21400"), "21400.00"),
        (D("242.730000000000"), "242.73"),  # a sum as SQLite reads it back
        (D("0E-10"), "0.00"),
        (D("-1200.5"), "-1200.50"),
        (D("0.005"), "0.005"),
    ],
)
def test_decimals_have_two_places_and_lose_nothing(value: Decimal, text: str) -> None:
    assert decimal_text(value) == text
    assert cell(value) == text
    assert Decimal(text) == value


def test_other_values_are_words() -> None:
    assert cell(True) == "Yes" and cell(False) == "No"
    assert cell(None) == ""
    assert cell(7) == 7
    assert cell(date(2026, 3, 1)) == "2026-03-01"


@override_settings(TIME_ZONE="Pacific/Auckland")
def test_a_moment_is_written_on_the_institutions_clock() -> None:
    assert cell(datetime(2026, 2, 28, 11, 5, 59, tzinfo=UTC)) == "2026-03-01 00:05"
