"""An amount in words, as a cheque or a receipt writes it: 1205.50 -> "One thousand two
hundred and five and 50/100". British usage ("and" before the tens of each group of three);
the cents always as a fraction of 100, so the words never depend on a currency's name for
its minor unit. Up to 999,999,999,999,999.99 (a money field's range), negative amounts
refused: a receipt never states one.
"""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal

ONES = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
]
TENS = ["_", "_", "twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
SCALES = ("", "thousand", "million", "billion", "trillion")
CENT = Decimal("0.01")


def _below_hundred(n: int) -> str:
    if n < 20:
        return ONES[n]
    tens, ones = divmod(n, 10)
    return TENS[tens] + (f"-{ONES[ones]}" if ones else "")


def _below_thousand(n: int) -> str:
    hundreds, rest = divmod(n, 100)
    parts = []
    if hundreds:
        parts.append(f"{ONES[hundreds]} hundred")
    if rest:
        parts.append(("and " if hundreds else "") + _below_hundred(rest))
    return " ".join(parts)


def integer_in_words(n: int) -> str:
    """0 -> "zero", 1005 -> "one thousand and five", 2_000_300 -> "two million three hundred"."""
    if n < 0 or n >= 1000 ** len(SCALES):
        raise ValueError(f"{n} is out of range for words")
    if n == 0:
        return ONES[0]
    groups = []
    while n:
        n, group = divmod(n, 1000)
        groups.append(group)
    parts = []
    for scale in range(len(groups) - 1, -1, -1):
        group = groups[scale]
        if not group:
            continue
        words = _below_thousand(group)
        # "one thousand and five": the last group is joined with "and" when it has no hundreds.
        if scale == 0 and len(groups) > 1 and group < 100:
            words = "and " + words
        parts.append(f"{words} {SCALES[scale]}".rstrip())
    return " ".join(parts)


def amount_in_words(amount: Decimal) -> str:
    """1205.50 -> "One thousand two hundred and five and 50/100"; 0.75 -> "Zero and 75/100".
    Rounded to cents half-to-even first, like every stored amount."""
    if amount < 0:
        raise ValueError("An amount in words is never negative")
    cents_total = int(amount.quantize(CENT, rounding=ROUND_HALF_EVEN) * 100)
    units, cents = divmod(cents_total, 100)
    words = integer_in_words(units)
    return f"{words[0].upper()}{words[1:]} and {cents:02d}/100"
