"""The chart of accounts the ledger starts with (DESIGN.md, "General ledger"): a small
microfinance chart. Header accounts (no parent code) group the others and take no entries.
Admins edit the chart in the Django admin; `ensure_chart` only adds what is missing."""

from __future__ import annotations

from typing import Any

# (code, name, type, parent code)
CHART = [
    ("1000", "Assets", "asset", None),
    ("1010", "Cash on hand", "asset", "1000"),
    ("1020", "Bank", "asset", "1000"),
    ("1030", "Mobile money clearing", "asset", "1000"),
    ("1040", "Cheque clearing", "asset", "1000"),
    ("1100", "Loan portfolio", "asset", "1000"),
    ("1110", "Interest receivable", "asset", "1000"),
    ("1120", "Fee receivable", "asset", "1000"),
    ("1130", "Penalty receivable", "asset", "1000"),
    ("2000", "Liabilities", "liability", None),
    ("2010", "Borrower overpayments", "liability", "2000"),
    ("3000", "Equity", "equity", None),
    ("3010", "Capital", "equity", "3000"),
    ("4000", "Income", "income", None),
    ("4010", "Interest income", "income", "4000"),
    ("4020", "Fee income", "income", "4000"),
    ("4030", "Penalty income", "income", "4000"),
    ("4040", "Recoveries income", "income", "4000"),
    ("5000", "Expenses", "expense", None),
    ("5010", "Losses on loans written off", "expense", "5000"),
]


def ensure_chart(apps: Any = None) -> None:
    """Create the accounts of CHART that do not exist (by code), never changing one that
    does: run by the data migration, and after a test database is emptied (post_migrate)."""
    from django.apps import apps as global_apps

    Account = (apps or global_apps).get_model("ledger", "Account")
    existing = dict(Account.objects.values_list("code", "pk"))
    for code, name, kind, parent in CHART:
        if code not in existing:
            account = Account.objects.create(
                code=code, name=name, type=kind, parent_id=existing.get(parent)
            )
            existing[code] = account.pk
