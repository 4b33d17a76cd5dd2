"""The loan page's Transactions section: every money event in value-date order, with its
journal entries for those who may read the ledger, in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger.models import JournalEntry
from lending.models import LoanTransaction, ProductAccount
from lending.services.repayments import repayment_record, repayment_reverse
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db


def _section(html: str) -> str:
    return html.split('<section class="card" id="transactions">')[1].split("</section>")[0]


def test_transactions_in_value_date_order_with_their_journal_entries(
    accountant_client: Client, officer_client: Client, accountant: User
) -> None:
    today = timezone.localdate()
    loan = ActiveLoanFactory(principal=Decimal("1000.00"), disbursed_days_ago=20)
    repayment_record(loan=loan, user=accountant, amount=Decimal("70.00"), paid_on=today,
                     method="cash")  # fmt: skip
    early = repayment_record(loan=loan, user=accountant, amount=Decimal("40.00"),
                             paid_on=today - timedelta(days=5), method="cash")  # fmt: skip
    repayment_reverse(repayment=early, user=accountant, reason="Entered on the wrong loan")
    url = reverse("loan_detail", args=[loan.pk])

    html = _section(accountant_client.get(url).content.decode())
    assert html.index("1,000.00") < html.index("40.00") < html.index("70.00")  # value dates
    assert '<span class="badge void">Reversed</span>' in html
    assert "Entered on the wrong loan" in html
    for entry in JournalEntry.objects.filter(loan_id=loan.pk):
        assert f"?entry={entry.pk}" in html  # its own entry and the reversal's mirror
    portfolio = ProductAccount.objects.get(product=None, role="loan_portfolio").account
    assert f"{portfolio.code} {portfolio.name}" in html

    as_officer = _section(officer_client.get(url).content.decode())
    assert "Entered on the wrong loan" in as_officer
    assert "?entry=" not in as_officer and "journal-lines" not in as_officer


def test_a_re_split_transaction_says_when_and_why(accountant_client: Client) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=20)
    txn = LoanTransaction.objects.get(loan=loan)
    changed = timezone.now() - timedelta(days=1)
    LoanTransaction.objects.filter(pk=txn.pk).update(
        split_changed_at=changed, split_change_reason="Backdated payment before it"
    )
    html = _section(accountant_client.get(reverse("loan_detail", args=[loan.pk])).content.decode())
    local = timezone.localtime(changed)
    assert f"re-split on {local:%d %b %Y}: Backdated payment before it" in html


def test_the_section_follows_a_new_payment_at_once(
    accountant_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=20)
    url = reverse("loan_detail", args=[loan.pk])
    assert "123.45" not in _section(accountant_client.get(url).content.decode())  # cached now
    repayment_record(loan=loan, user=accountant, amount=Decimal("123.45"),
                     paid_on=timezone.localdate(), method="cash")  # fmt: skip
    assert "123.45" in _section(accountant_client.get(url).content.decode())


@pytest.mark.parametrize("payments", [1, 8])
def test_the_loan_page_reads_transactions_in_a_fixed_number_of_queries(
    accountant_client: Client, accountant: User, payments: int,
    django_assert_max_num_queries: Any,
) -> None:  # fmt: skip
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    for i in range(payments):
        day = timezone.localdate() - timedelta(days=i)
        repayment_record(
            loan=loan, user=accountant, amount=Decimal("10.00"), paid_on=day, method="cash"
        )
    # The history reads its latest audit entries, payments and reversals in three queries,
    # whatever their number; one more sums the waived, written-off and recovered amounts (with
    # the cached records).
    with django_assert_max_num_queries(19):
        response = accountant_client.get(reverse("loan_detail", args=[loan.pk]))
    assert len(response.context["transactions"].rows) == payments + 1


def test_the_loan_page_shows_the_latest_transactions_and_all_on_request(
    accountant_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=60)
    for i in range(30):
        day = timezone.localdate() - timedelta(days=30 - i)
        repayment_record(
            loan=loan, user=accountant, amount=Decimal("10.00"), paid_on=day, method="cash"
        )
    page = accountant_client.get(reverse("loan_detail", args=[loan.pk]))
    shown = page.context["transactions"]
    assert len(shown.rows) == 25 and shown.more
    assert shown.rows[-1].txn.value_date == timezone.localdate() - timedelta(days=1)
    assert b"Show them all" in page.content
    everything = accountant_client.get(
        reverse("loan_detail", args=[loan.pk]), {"transactions": "all"}
    ).context["transactions"]
    assert len(everything.rows) == 31 and not everything.more
    assert everything.rows[0].txn.kind == "disbursement"
