"""The ledger in the Django admin: the chart is edited there, an account with entries is never
deleted, journal entries and closings are read-only; a product maps its own accounts."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger.models import Account, BooksClosing, JournalEntry
from lending.models import ProductAccount
from tests.conftest import login
from tests.factories import ActiveLoanFactory, LoanProductFactory

pytestmark = pytest.mark.django_db


def test_an_account_with_entries_cannot_be_deleted(admin_client: Client) -> None:
    ActiveLoanFactory()
    used = Account.objects.filter(lines__isnull=False).first()
    unused = Account.objects.create(code="9999", name="Spare", type="expense")
    assert used is not None
    # Even a superuser, who holds every permission, cannot delete an account with entries.
    root = login(User.objects.create_superuser("root", "root@example.org", "x" * 12))
    assert root.get(reverse("admin:ledger_account_delete", args=[used.pk])).status_code == 403
    assert root.get(reverse("admin:ledger_account_delete", args=[unused.pk])).status_code == 200
    changelist = admin_client.get(reverse("admin:ledger_account_changelist"))
    assert changelist.status_code == 200 and "Spare" in changelist.content.decode()


def test_journal_entries_are_read_only_with_their_lines(admin_client: Client) -> None:
    ActiveLoanFactory()
    entry = JournalEntry.objects.get()
    page = admin_client.get(reverse("admin:ledger_journalentry_change", args=[entry.pk]))
    html = page.content.decode()
    portfolio = ProductAccount.objects.get(product=None, role="loan_portfolio").account
    assert page.status_code == 200 and str(portfolio) in html
    assert 'name="_save"' not in html
    assert admin_client.get(reverse("admin:ledger_journalentry_add")).status_code == 403
    assert (
        admin_client.get(reverse("admin:ledger_journalentry_delete", args=[entry.pk])).status_code
        == 403
    )
    assert admin_client.get(reverse("admin:ledger_journalentry_changelist")).status_code == 200


def test_books_closings_are_shown_read_only(admin_client: Client, admin_user: User) -> None:
    closing = BooksClosing.objects.create(
        through=timezone.localdate() - timedelta(days=1), closed_by=admin_user
    )
    assert admin_client.get(reverse("admin:ledger_booksclosing_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:ledger_booksclosing_add")).status_code == 403
    url = reverse("admin:ledger_booksclosing_delete", args=[closing.pk])
    assert admin_client.get(url).status_code == 403


def test_a_product_sets_its_basis_and_overrides_an_account(admin_client: Client) -> None:
    product = LoanProductFactory(name="Boda boda")
    url = reverse("admin:lending_loanproduct_change", args=[product.pk])
    page = admin_client.get(url)
    html = page.content.decode()
    assert "Accounting" in html and 'name="accounting_basis"' in html
    form = page.context["adminform"].form
    data = {k: v for k, v in form.initial.items() if v is not None}
    data = {k: (v.pk if hasattr(v, "pk") else v) for k, v in data.items()}
    bank = ProductAccount.objects.get(product=None, role="fund_bank_transfer").account
    formsets = [inline.formset for inline in page.context["inline_admin_formsets"]]
    for other in formsets:  # the fees: none
        data.update({
            f"{other.prefix}-TOTAL_FORMS": "0", f"{other.prefix}-INITIAL_FORMS": "0",
            f"{other.prefix}-MIN_NUM_FORMS": "0", f"{other.prefix}-MAX_NUM_FORMS": "1000",
        })  # fmt: skip
    prefix = next(f.prefix for f in formsets if f.model is ProductAccount)
    data.update({
        "accounting_basis": "accrual",
        f"{prefix}-TOTAL_FORMS": "1", f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000",
        f"{prefix}-0-role": "fund_cash", f"{prefix}-0-account": str(bank.pk),
    })  # fmt: skip
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    product.refresh_from_db()
    assert product.accounting_basis == "accrual"
    assert ProductAccount.objects.get(product=product, role="fund_cash").account == bank
