"""`update_rows`: many rows' fields in one statement, exactly what `bulk_update` would write."""

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from lending.bulk import update_rows
from lending.models import Installment, Loan
from tests.factories import ActiveLoanFactory, LoanProductFactory

pytestmark = pytest.mark.django_db


def test_writes_the_named_fields_of_every_row_and_nothing_else() -> None:
    loans = [
        ActiveLoanFactory(installments=300, frequency="weekly", product=LoanProductFactory())
        for _ in range(2)
    ]
    rows = list(Installment.objects.filter(loan__in=loans).order_by("loan", "number"))
    assert len(rows) == 600
    untouched = {r.pk: (r.principal, r.interest) for r in rows}
    for r in rows:
        r.penalties = Decimal("0.01") * r.number + Decimal("1000000.00")
        r.penalty_applied_on = date(2026, 1, 1) + timedelta(days=r.number)
        r.principal = Decimal("0.00")  # changed in memory, not named: must not be written
    with CaptureQueriesContext(connection) as ctx:
        update_rows(rows, ["penalties", "penalty_applied_on"])
    assert len(ctx.captured_queries) == 1  # every row in one statement
    for r in Installment.objects.filter(loan__in=loans):
        assert r.penalties == Decimal("0.01") * r.number + Decimal("1000000.00")
        assert r.penalty_applied_on == date(2026, 1, 1) + timedelta(days=r.number)
        assert (r.principal, r.interest) == untouched[r.pk]


def test_datetimes_and_integers_round_trip() -> None:
    loans = [ActiveLoanFactory(installments=3), ActiveLoanFactory(installments=3)]
    stamp = timezone.now().replace(microsecond=123456)
    for i, loan in enumerate(loans):
        loan.days_past_due = 40 + i
        loan.updated_at = stamp
    update_rows(loans, ["days_past_due", "updated_at"])
    for i, loan in enumerate(Loan.objects.order_by("pk")):
        assert (loan.days_past_due, loan.updated_at) == (40 + i, stamp)


def test_nothing_to_write_runs_no_query() -> None:
    with CaptureQueriesContext(connection) as ctx:
        update_rows([], ["penalties"])
    assert not ctx.captured_queries
