"""The `thousands` filter prints what humanize's `intcomma` printed, for every number a page
shows (it replaced `intcomma` for speed)."""

from decimal import Decimal

from django.contrib.humanize.templatetags.humanize import intcomma
from django.template import Context, Template
from hypothesis import given
from hypothesis import strategies as st

from lending.templatetags.numbers import thousands

amounts = st.decimals(
    min_value=Decimal("-999999999999.99"),
    max_value=Decimal("999999999999.99"),
    places=2,
    allow_nan=False,
    allow_infinity=False,
)


@given(st.one_of(amounts, st.integers(min_value=-(10**12), max_value=10**12)))
def test_same_text_as_intcomma(value):
    assert thousands(value) == intcomma(value)


def test_examples():
    assert thousands(Decimal("1234567.50")) == "1,234,567.50"
    assert thousands(Decimal("0.00")) == "0.00"
    assert thousands(12345) == "12,345"
    assert thousands(Decimal("-1000.05")) == "-1,000.05"


def test_anything_else_is_shown_as_it_is():
    assert thousands(None) is None
    assert thousands("n/a") == "n/a"
    assert thousands(True) is True


def test_in_a_template():
    html = Template("{% load numbers %}{{ a|thousands }} / {{ b|thousands }}").render(
        Context({"a": Decimal("9876543.21"), "b": None})
    )
    assert html == "9,876,543.21 / None"


def test_trailing_zeros_read_back_from_sqlite_are_shown_in_cents():
    # A Coalesce/Subquery annotation on SQLite comes back unquantized.
    assert thousands(Decimal("6230.16000000000")) == "6,230.16"
    assert thousands(Decimal("0E-10")) == "0.00"
    assert thousands(Decimal("18.1250")) == "18.1250"  # real precision is kept
    assert thousands(Decimal("18.0000")) == "18.00"
