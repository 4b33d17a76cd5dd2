"""Amounts in words (`karo.words`), as receipts print them."""

from __future__ import annotations

from decimal import Decimal

import pytest

from karo.words import amount_in_words, integer_in_words

D = Decimal


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (7, "seven"),
        (13, "thirteen"),
        (20, "twenty"),
        (42, "forty-two"),
        (100, "one hundred"),
        (101, "one hundred and one"),
        (999, "nine hundred and ninety-nine"),
        (1000, "one thousand"),
        (1005, "one thousand and five"),
        (1205, "one thousand two hundred and five"),
        (10_050, "ten thousand and fifty"),
        (100_000, "one hundred thousand"),
        (2_000_300, "two million three hundred"),
        (1_000_001, "one million and one"),
        (21_000_000_019, "twenty-one billion and nineteen"),
        (999_999_999_999_999, "nine hundred and ninety-nine trillion nine hundred and "
         "ninety-nine billion nine hundred and ninety-nine million nine hundred and ninety-nine "
         "thousand nine hundred and ninety-nine"),
    ],
)  # fmt: skip
def test_integers(n: int, words: str) -> None:
    assert integer_in_words(n) == words


@pytest.mark.parametrize(
    ("amount", "words"),
    [
        (D("1205.50"), "One thousand two hundred and five and 50/100"),
        (D("1234.56"), "One thousand two hundred and thirty-four and 56/100"),
        (D("0.75"), "Zero and 75/100"),
        (D("5"), "Five and 00/100"),
        (D("19.005"), "Nineteen and 00/100"),  # half-to-even, like stored amounts
        (D("19.015"), "Nineteen and 02/100"),
        (D("99.999"), "One hundred and 00/100"),
    ],
)
def test_amounts(amount: Decimal, words: str) -> None:
    assert amount_in_words(amount) == words


def test_out_of_range_is_refused() -> None:
    with pytest.raises(ValueError):
        amount_in_words(D("-1.00"))
    with pytest.raises(ValueError):
        integer_in_words(10**15)
