"""A loan's history on its page: the latest events, read in a fixed number of queries whatever
the number of repayments, and the whole history on request."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lending.models import AuditLog, Loan, Receipt, Repayment
from lending.selectors.loans import LOAN_PAGE_HISTORY, loan_history
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db


def pay(loan: Loan, user: User, i: int, at: datetime, **extra: Any) -> Repayment:
    """Repayment `i` of a loan, recorded at `at`, with its receipt (reference PAY-i)."""
    repayment = Repayment.objects.create(
        loan=loan, amount=Decimal("10.00"), paid_on=timezone.localdate(), method="cash",
        reference=f"PAY-{i:03d}", recorded_by=user, recorded_at=at, **extra,
    )  # fmt: skip
    Receipt.objects.create(repayment=repayment, number=f"RCT-H-{loan.pk}-{i:03d}")
    return repayment


def paid_loan(user: User, payments: int) -> Loan:
    """An active loan with `payments` repayments a minute apart, recorded after its audit
    entries."""
    loan = ActiveLoanFactory(disbursed_days_ago=60)
    start = timezone.now() + timedelta(seconds=1)
    for i in range(payments):
        pay(loan, user, i, start + timedelta(minutes=i))
    return loan


def audit_entries(loan: Loan) -> int:
    return AuditLog.objects.filter(object_type="loan", object_id=str(loan.pk)).count()


def test_the_loan_page_shows_the_latest_history_and_all_on_request(
    accountant_client: Client, accountant: User
) -> None:
    loan = paid_loan(accountant, 40)
    url = reverse("loan_detail", args=[loan.pk])
    page = accountant_client.get(url)
    html = page.content.decode()
    history = html[html.index('<section class="card" id="history">') :].split("</section>")[0]
    assert page.context["history"].more and len(page.context["history"].events) == 30
    assert "reference: PAY-039" in history and "reference: PAY-010" in history
    assert "reference: PAY-009" not in history and "Loan submitted" not in history
    assert (
        'Showing the latest 30 events. <a href="?history=all#history">Show the whole history</a>'
        in history
    )
    # The whole history is its own cached variant of the section, not the latest events'.
    whole = accountant_client.get(url, {"history": "all"}).content.decode()
    whole = whole[whole.index('<section class="card" id="history">') :].split("</section>")[0]
    assert "reference: PAY-000" in whole and "Loan submitted" in whole
    assert "Show the whole history" not in whole
    assert whole.count("<li>") == 40 + audit_entries(loan)
    assert "reference: PAY-009" not in accountant_client.get(url).content.decode()


def test_a_recent_reversal_of_an_early_payment_is_among_the_latest(accountant: User) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=60)
    now = timezone.now()
    first = pay(loan, accountant, 0, now - timedelta(days=30))  # recorded first, long ago
    for i in range(1, 50):
        pay(loan, accountant, i, now + timedelta(minutes=i))
    Repayment.objects.filter(pk=first.pk).update(
        reversed_at=now + timedelta(hours=1),
        reversed_by=accountant,
        reversal_reason="Keyed on the wrong loan",
    )
    history = loan_history(loan=loan)
    assert history.more and len(history.events) == LOAN_PAGE_HISTORY
    last = history.events[-1]
    assert (last.what, last.receipt) == ("Payment reversed", f"RCT-H-{loan.pk}-000")
    assert ("reason", "Keyed on the wrong loan") in last.summary
    # Its payment is long past: not among the latest, which are the last 29 payments.
    references = [dict(e.summary).get("reference") for e in history.events[:-1]]
    assert references == [f"PAY-{i:03d}" for i in range(21, 50)]


def test_the_latest_events_are_the_tail_of_the_whole_history(accountant: User) -> None:
    """Whatever the limit, the latest events are the whole history's last ones in the same
    order, same-instant events included (a reversal at the instant of a later payment, two
    payments recorded at once)."""
    now = timezone.now()
    loan = ActiveLoanFactory(disbursed_days_ago=60)
    audited = AuditLog.objects.filter(object_type="loan", object_id=str(loan.pk)).first()
    assert audited is not None
    at = [now - timedelta(hours=h) for h in (9, 8, 8, 7, 6, 5, 4, 3, 2, 1)]
    at[4] = audited.created_at  # a payment at the instant of an audit entry
    repayments = [pay(loan, accountant, i, when) for i, when in enumerate(at)]
    for repayment, when in ((repayments[0], at[5]), (repayments[6], at[6]), (repayments[2], now)):
        Repayment.objects.filter(pk=repayment.pk).update(reversed_at=when, reversed_by=accountant)
    whole = loan_history(loan=loan, limit=None)
    assert not whole.more
    assert len(whole.events) == 13 + audit_entries(loan)
    for limit in range(1, len(whole.events) + 2):
        latest = loan_history(loan=loan, limit=limit)
        assert latest.events == whole.events[-limit:], limit
        assert latest.more == (limit < len(whole.events)), limit


def test_more_is_false_with_exactly_the_limit_of_events(accountant: User) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=60)
    start = timezone.now() + timedelta(seconds=1)  # after the audit entries
    for i in range(LOAN_PAGE_HISTORY - audit_entries(loan)):
        pay(loan, accountant, i, start + timedelta(minutes=i))
    history = loan_history(loan=loan)
    assert len(history.events) == LOAN_PAGE_HISTORY and not history.more
    pay(loan, accountant, 99, start + timedelta(hours=2))
    history = loan_history(loan=loan)
    assert len(history.events) == LOAN_PAGE_HISTORY and history.more
    assert history.events[-1].summary[-1] == ("reference", "PAY-099")


def test_the_history_reads_the_same_queries_for_3_and_60_repayments(accountant: User) -> None:
    counts = []
    for payments in (3, 60):
        loan = paid_loan(accountant, payments)
        Repayment.objects.filter(loan=loan, reference__in=["PAY-001", "PAY-002"]).update(
            reversed_at=timezone.now(), reversed_by=accountant
        )
        with CaptureQueriesContext(connection) as queries:
            events = loan_history(loan=loan).events
        counts.append(len(queries))
        assert len(events) == min(LOAN_PAGE_HISTORY, payments + 2 + audit_entries(loan))
    # The latest audit entries, the latest payments and the latest reversals.
    assert counts == [3, 3]
