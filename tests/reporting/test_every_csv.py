"""Every CSV export reads alike (issue 18): UTF-8 with a BOM, CRLF, a header row in words (no
code names), values in words (no stored codes), amounts and rates with two decimals, dates
ISO, times on the local clock to the minute, and each one audited."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger.models import Account
from lending.models import AuditLog, Loan, Repayment
from lending.services.repayments import repayment_record, repayment_reverse
from tests.factories import AccountantFactory, ActiveLoanFactory, BorrowerFactory

pytestmark = pytest.mark.django_db

CODES = {c for c, _ in Loan.Status.choices if "_" in c} | {
    c for c, _ in Repayment.Method.choices if "_" in c
}
DECIMAL = re.compile(r"-?\d+\.\d+")


@pytest.fixture
def books() -> None:
    """A loan at 18 % with payments by bank transfer and mobile money, one reversed."""
    cashier = AccountantFactory()
    loan = ActiveLoanFactory(
        borrower=BorrowerFactory(full_name="Zoë Ñúñez"),
        annual_interest_rate=Decimal("18.0000"),
        disbursed_days_ago=20,
    )
    today = timezone.localdate()
    repayment_record(
        loan=loan, user=cashier, amount=Decimal("120.00"),
        paid_on=today - timedelta(days=3), method="bank_transfer",
    )  # fmt: skip
    mistake = repayment_record(
        loan=loan, user=cashier, amount=Decimal("30.00"), paid_on=today, method="mobile_money"
    )
    repayment_reverse(repayment=mistake, user=cashier, reason="Wrong loan")


def exports() -> dict[str, str]:
    today = timezone.localdate()
    month = {"date_from": (today - timedelta(days=25)).isoformat(), "date_to": today.isoformat()}
    portfolio = Account.objects.filter(lines__isnull=False).order_by("code").first()
    assert portfolio is not None
    query = "&".join(f"{k}={v}" for k, v in month.items())
    return {
        "aging": reverse("report_aging") + "?format=csv",
        "collections": reverse("report_collections") + f"?format=csv&{query}",
        "disbursements": reverse("report_disbursements") + f"?format=csv&{query}",
        "officers": reverse("report_officers") + f"?format=csv&{query}",
        "repayments": reverse("repayment_export"),
        "trial_balance": reverse("ledger_trial_balance") + "?format=csv",
        "account_ledger": reverse("ledger_account", args=[portfolio.code]) + f"?format=csv&{query}",
        "journal": reverse("ledger_journal")
        + f"?format=csv&date={(today - timedelta(days=3)).isoformat()}",
    }


@pytest.mark.parametrize(
    "name",
    [
        "aging",
        "collections",
        "disbursements",
        "officers",
        "repayments",
        "trial_balance",
        "account_ledger",
        "journal",
    ],
)
def test_every_export_reads_like_the_reports(books: None, admin_client: Client, name: str) -> None:
    response = admin_client.get(exports()[name])
    assert response.status_code == 200, name
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    raw = response.content
    assert raw.startswith(b"\xef\xbb\xbf"), "a BOM, so a spreadsheet reads UTF-8"
    assert raw.count(b"\r\n") >= 2
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert body, name
    for title in header:
        assert title[:1].isupper() and "_" not in title, (name, title)
    for row in body:
        assert len(row) == len(header)
        for value in row:
            assert value not in CODES, (name, value)  # labels, never stored codes
            if DECIMAL.fullmatch(value):
                # Two decimals, more only when the value has them: never "18.0000".
                places = len(value.split(".")[1])
                assert places == 2 or not value.endswith("0"), (name, value)
            assert not re.fullmatch(r"\d{4}-\d\d-\d\dT.*", value), (name, value)  # no ISO times
    entry = AuditLog.objects.filter(action=AuditLog.Action.REPORT_EXPORTED).latest("id")
    assert entry.details["format"] == "csv" and entry.details["rows"] == len(body)
    if name == "disbursements":
        assert body[0][header.index("Annual rate %")] == "18.00"
    if name == "repayments":
        text = raw.decode("utf-8-sig")
        assert "Zoë Ñúñez" in text and "Bank transfer" in text and "Reversed" in text
