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

from ledger.models import JournalEntry
from lending.models import Repayment
from lending.services.repayments import repayment_record, repayment_reverse
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db
D10 = Decimal("10.00")


def _shape(sql: str) -> str:
    """A statement with its literals and parameter lists folded, to name what repeats."""
    sql = re.sub(r"'[^']*'", "?", sql)
    sql = re.sub(r"\b\d+(\.\d+)?\b", "?", sql)
    sql = re.sub(r"(%s|\?)(\s*,\s*(%s|\?))+", "?…", sql)
    return re.sub(r"\((\s*\?…?\s*,?\s*)+\)(\s*,\s*\((\s*\?…?\s*,?\s*)+\))+", "(…)…", sql)


def _reverse_first(
    user: User, later: int, principal: Decimal = Decimal("50000.00"), amount: Decimal = D10
) -> list[str]:
    """The statements of reversing the first of `later` + 1 repayments (one a day)."""
    loan = ActiveLoanFactory(principal=principal, installments=12, disbursed_days_ago=later + 10)
    start = loan.disbursement_date
    assert start is not None
    first = None
    for k in range(later + 1):
        repayment = repayment_record(
            loan=loan,
            user=user,
            amount=amount,
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


def test_a_reversal_whose_replay_books_corrections_runs_the_same_queries_for_5_and_40_later(
    accountant: User,
) -> None:
    """30.00 a day on a 12,000 loan: the first payments pay the first installment's interest,
    so taking one back moves later payments from principal to interest. With 5 later payments
    the replay books one correction, with 40 later many: the journal takes the same
    statements either way (on PostgreSQL one, whatever the entries)."""
    principal, amount = Decimal("12000.00"), Decimal("30.00")
    _reverse_first(accountant, 2, principal, amount)  # warm-up

    def corrections() -> int:
        return JournalEntry.objects.filter(source=JournalEntry.Source.REPLAY).count()

    before = corrections()
    few = _reverse_first(accountant, 5, principal, amount)
    booked_few = corrections() - before
    many = _reverse_first(accountant, 40, principal, amount)
    booked_many = corrections() - before - booked_few
    assert 1 <= booked_few < booked_many, (booked_few, booked_many)
    grown = Counter(map(_shape, many)) - Counter(map(_shape, few))
    assert len(many) == len(few), "\n".join(f"{n} x {sql[:300]}" for sql, n in grown.items())
