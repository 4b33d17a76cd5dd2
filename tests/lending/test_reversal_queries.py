"""Reversing a loan's first payment replays every later one: the number of queries
`repayment_reverse` runs must not grow with how many later repayments there are."""

from __future__ import annotations

import re
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lending.models import Repayment
from lending.services.repayments import repayment_record, repayment_reverse
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db


def _shape(sql: str) -> str:
    """A statement with its literals and parameter lists folded, to name what repeats."""
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    sql = re.sub(r"(%s|\?)(\s*,\s*(%s|\?))+", "?…", sql)
    return re.sub(r"\((\s*\?…?\s*,?\s*)+\)(\s*,\s*\((\s*\?…?\s*,?\s*)+\))+", "(…)…", sql)


def _reverse_first(user: User, later: int) -> list[str]:
    """The statements of reversing the first of `later` + 1 repayments (one a day)."""
    loan = ActiveLoanFactory(
        principal=Decimal("50000.00"), installments=12, disbursed_days_ago=later + 10
    )
    start = loan.disbursement_date
    assert start is not None
    first = None
    for k in range(later + 1):
        repayment = repayment_record(
            loan=loan,
            user=user,
            amount=Decimal("10.00"),
            paid_on=start + timedelta(days=k + 1),
            method="cash",
            reference=f"q-{k}",
        )
        first = first or repayment
    assert first is not None
    assert start + timedelta(days=later + 1) <= timezone.localdate()
    with CaptureQueriesContext(connection) as ctx:
        repayment_reverse(repayment=first, user=user, reason="Bounced cheque")
    assert Repayment.objects.get(pk=first.pk).is_reversed
    return [q["sql"] for q in ctx.captured_queries]


def test_reversing_the_first_payment_runs_the_same_queries_for_5_and_40_later(
    accountant: User,
) -> None:
    _reverse_first(accountant, 2)  # warm-up: first-use caches (content types, chart) filled
    few = _reverse_first(accountant, 5)
    many = _reverse_first(accountant, 40)
    grown = Counter(map(_shape, many)) - Counter(map(_shape, few))
    assert len(many) == len(few), (
        f"{len(few)} queries with 5 later repayments, {len(many)} with 40; the statements "
        "run more often with 40:\n" + "\n".join(f"{n} x {sql[:300]}" for sql, n in grown.items())
    )
