"""The general ledger pages: who may open them, what they show after real postings, their
CSVs, closing the books, and a fixed number of queries whatever the journal's size."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.contrib.messages import get_messages
from django.core.exceptions import ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from karo.inputs import INVALID_DATE
from ledger.models import Account, BooksClosing, JournalEntry
from lending.models import AuditLog, ProductAccount
from lending.services.repayments import repayment_record
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db

ALLOWED = {
    "ledger_trial_balance": {"admin", "accountant"},
    "ledger_account": {"admin", "accountant"},
    "ledger_journal": {"admin", "accountant"},
    "ledger_close": {"admin"},
}


def _portfolio() -> Account:
    return ProductAccount.objects.get(product=None, role="loan_portfolio").account


def _bank() -> Account:
    """The fund source of bank transfers: loans are disbursed by bank transfer."""
    return ProductAccount.objects.get(product=None, role="fund_bank_transfer").account


def _url(name: str) -> str:
    return reverse(name, args=[_portfolio().code]) if name == "ledger_account" else reverse(name)


def _csv(response: Any) -> list[list[str]]:
    text = response.content.decode("utf-8")
    assert text.startswith("\ufeff")
    return list(csv.reader(io.StringIO(text[1:])))


@pytest.fixture
def paid_loan(accountant: User) -> Any:
    """A loan disbursed ten days ago with one payment by bank transfer five days ago."""
    loan = ActiveLoanFactory(principal=Decimal("1200.00"), disbursed_days_ago=10)
    repayment = repayment_record(
        loan=loan, user=accountant, amount=Decimal("300.00"),
        paid_on=timezone.localdate() - timedelta(days=5), method="bank_transfer",
    )  # fmt: skip
    loan.refresh_from_db()
    return loan, repayment


# --- who may open them -------------------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_each_role_is_allowed_or_refused(role_client: tuple[str, Client], name: str) -> None:
    role, client = role_client
    response = client.get(_url(name))
    assert response.status_code == (200 if role in ALLOWED[name] else 403), (name, role)


@pytest.mark.parametrize("name", sorted(ALLOWED))
def test_anonymous_is_sent_to_login(client: Client, name: str) -> None:
    response = client.get(_url(name))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_accountant_cannot_close_the_books(accountant_client: Client) -> None:
    day = timezone.localdate() - timedelta(days=1)
    response = accountant_client.post(reverse("ledger_close"), {"through": day.isoformat()})
    assert response.status_code == 403
    assert not BooksClosing.objects.exists()


# --- trial balance -----------------------------------------------------------------------------


def test_trial_balance_balances_after_a_disbursement_and_a_repayment(
    accountant_client: Client, paid_loan: Any
) -> None:
    loan, repayment = paid_loan
    paid = repayment.transactions.get()  # its split: principal and interest
    response = accountant_client.get(reverse("ledger_trial_balance"))
    report = response.context["report"]
    rows = {r.account.code: r for r in response.context["rows"]}
    interest_income = ProductAccount.objects.get(product=None, role="interest_income").account
    assert rows[_portfolio().code].debit_balance == Decimal("1200.00") - paid.principal
    assert rows[_portfolio().code].debit_balance == loan.outstanding - (
        loan.total_repayable - loan.principal - paid.interest
    )  # the principal part of what is outstanding
    assert rows[_bank().code].credit_balance == Decimal("900.00")  # 1200 out, 300 in
    assert rows[interest_income.code].credit_balance == paid.interest
    assert report.total_debit == report.total_credit == Decimal("1200.00") - paid.principal
    html = response.content.decode()
    assert not re.search(r"\.\d{3}", html)  # sums shown to the cent
    total = f"{report.total_debit.quantize(Decimal('0.01')):,}"
    assert f'<td class="num" id="total-debit">{total}</td>' in html
    assert f'<td class="num" id="total-credit">{total}</td>' in html


def test_trial_balance_as_of_a_date_before_the_payment(
    accountant_client: Client, paid_loan: Any
) -> None:
    day = timezone.localdate() - timedelta(days=7)  # after the disbursement, before the payment
    response = accountant_client.get(reverse("ledger_trial_balance"), {"as_of": day.isoformat()})
    rows = {r.account.code: r for r in response.context["rows"]}
    assert rows[_portfolio().code].debit_balance == Decimal("1200.00")
    assert rows[_bank().code].credit_balance == Decimal("1200.00")
    assert set(rows) == {_portfolio().code, _bank().code}
    assert response.context["report"].total_debit == Decimal("1200.00")


def test_a_bad_date_is_a_form_error(accountant_client: Client) -> None:
    for value in ("2026-13-45", "yesterday", "99999-01-01"):
        response = accountant_client.get(reverse("ledger_trial_balance"), {"as_of": value})
        assert response.status_code == 200
        assert response.context["form"].errors["as_of"]
        assert response.context["report"] is None
        assert 'class="error-text"' in response.content.decode()


def test_trial_balance_csv(accountant_client: Client, accountant: User, paid_loan: Any) -> None:
    response = accountant_client.get(reverse("ledger_trial_balance"), {"format": "csv"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    rows = _csv(response)
    assert rows[0] == ["Account", "Name", "Type", "Debit", "Credit"]
    debit = sum(Decimal(r[3]) for r in rows[1:-1])
    credit = sum(Decimal(r[4]) for r in rows[1:-1])
    assert rows[-1][1] == "Total" and Decimal(rows[-1][3]) == debit == credit == Decimal(
        rows[-1][4]
    )
    assert all(re.fullmatch(r"\d+\.\d\d", r[i]) for r in rows[1:] for i in (3, 4))  # cents
    entry = AuditLog.objects.filter(action=AuditLog.Action.REPORT_EXPORTED).latest("id")
    assert entry.user == accountant
    assert entry.details["report"] == "trial_balance"
    assert entry.details["rows"] == len(rows) - 1


# --- an account's ledger ---------------------------------------------------------------------


def test_account_ledger_running_balance(accountant_client: Client, paid_loan: Any) -> None:
    loan, _ = paid_loan
    today = timezone.localdate()
    cash = _bank()
    response = accountant_client.get(
        reverse("ledger_account", args=[cash.code]),
        {"date_from": (today - timedelta(days=30)).isoformat(), "date_to": today.isoformat()},
    )
    ledger = response.context["ledger"]
    assert ledger.opening == 0
    assert [(row.line.debit, row.line.credit, row.balance) for row in ledger.lines] == [
        (Decimal("0.00"), Decimal("1200.00"), Decimal("-1200.00")),
        (Decimal("300.00"), Decimal("0.00"), Decimal("-900.00")),
    ]
    assert ledger.closing == Decimal("-900.00")
    html = response.content.decode()
    assert "900.00 Cr" in html
    assert f'?entry={ledger.lines[0].line.entry_id}"' in html  # each line links its entry
    assert reverse("loan_detail", args=[loan.pk]) in html


def test_account_ledger_opening_balance_counts_what_came_before(
    accountant_client: Client, paid_loan: Any
) -> None:
    today = timezone.localdate()
    response = accountant_client.get(
        reverse("ledger_account", args=[_bank().code]),
        {"date_from": (today - timedelta(days=7)).isoformat(), "date_to": today.isoformat()},
    )
    ledger = response.context["ledger"]
    assert ledger.opening == Decimal("-1200.00")
    assert [row.balance for row in ledger.lines] == [Decimal("-900.00")]


def test_account_ledger_csv_and_unknown_account(accountant_client: Client, paid_loan: Any) -> None:
    today = timezone.localdate()
    url = reverse("ledger_account", args=[_bank().code])
    response = accountant_client.get(
        url,
        {"date_from": (today - timedelta(days=30)).isoformat(), "date_to": today.isoformat(),
         "format": "csv"},
    )  # fmt: skip
    rows = _csv(response)
    assert rows[0] == ["Date", "Entry", "Memo", "Loan id", "Debit", "Credit", "Balance"]
    assert rows[1][2] == "Opening balance" and rows[1][-1] == "0.00"
    assert [r[-1] for r in rows[2:-1]] == ["-1200.00", "-900.00"]
    assert rows[-1][2] == "Closing balance" and rows[-1][-1] == "-900.00"
    assert accountant_client.get(reverse("ledger_account", args=["NOPE"])).status_code == 404
    bad = accountant_client.get(url, {"date_from": "2026-02-30", "date_to": "x"})
    assert bad.status_code == 200 and bad.context["ledger"] is None


# --- the day's journal -----------------------------------------------------------------------


def test_journal_of_a_day_lists_its_entries_with_lines_and_the_loan(
    accountant_client: Client, paid_loan: Any
) -> None:
    loan, _ = paid_loan
    day = timezone.localdate() - timedelta(days=5)
    response = accountant_client.get(reverse("ledger_journal"), {"date": day.isoformat()})
    entries = list(response.context["page_obj"])
    assert len(entries) == 1 and entries[0].loan_id == loan.pk
    html = response.content.decode()
    assert f"Repayment on {loan.number}" in html
    assert reverse("loan_detail", args=[loan.pk]) in html
    assert _bank().name in html and _portfolio().name in html
    debit, credit = response.context["totals"]
    assert debit == credit == Decimal("300.00")


def test_one_journal_entry_and_its_csv(accountant_client: Client, paid_loan: Any) -> None:
    entry = JournalEntry.objects.order_by("id").first()
    assert entry is not None
    response = accountant_client.get(reverse("ledger_journal"), {"entry": entry.pk})
    assert response.context["entry"] == entry
    assert f"Journal entry JE-{entry.pk}" in response.content.decode()
    rows = _csv(accountant_client.get(reverse("ledger_journal"), {"entry": entry.pk,
                                                                   "format": "csv"}))  # fmt: skip
    assert {r[0] for r in rows[1:]} == {f"JE-{entry.pk}"}
    assert sum(Decimal(r[8]) for r in rows[1:]) == sum(Decimal(r[9]) for r in rows[1:])
    missing = accountant_client.get(reverse("ledger_journal"), {"entry": 999999})
    assert missing.status_code == 404


def test_journal_csv_has_every_line_of_the_day(accountant_client: Client, paid_loan: Any) -> None:
    day = timezone.localdate() - timedelta(days=10)
    response = accountant_client.get(
        reverse("ledger_journal"), {"date": day.isoformat(), "format": "csv"}
    )
    rows = _csv(response)
    assert rows[0][:3] == ["Entry", "Date", "Booked at"]
    assert len(rows) == 3  # the disbursement: two lines
    # Booked at on the institution's clock, to the minute; the source in words.
    assert all(re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", r[2]) for r in rows[1:])
    assert {r[3] for r in rows[1:]} == {"Loan transaction"}
    assert {r[6] for r in rows[1:]} == {_bank().code, _portfolio().code}
    assert AuditLog.objects.filter(
        action=AuditLog.Action.REPORT_EXPORTED, details__report="journal"
    ).exists()


def test_journal_bad_date_is_a_form_error(accountant_client: Client) -> None:
    response = accountant_client.get(reverse("ledger_journal"), {"date": "31/02/2026"})
    assert response.status_code == 200
    assert response.context["form"].errors["date"]


# --- closing the books ---------------------------------------------------------------------


def test_closing_the_books_then_a_payment_on_the_closed_day_is_refused(
    admin_client: Client, accountant: User, paid_loan: Any
) -> None:
    loan, _ = paid_loan
    day = timezone.localdate() - timedelta(days=2)
    response = admin_client.post(reverse("ledger_close"), {"through": day.isoformat()})
    assert response.status_code == 302
    page = admin_client.get(response["Location"])
    assert [str(m) for m in get_messages(page.wsgi_request)] == [
        f"The books are closed through {day:%d %b %Y}."
    ]
    assert f"closed through <strong>{day.day} {day:%b %Y}</strong>" in page.content.decode()
    assert BooksClosing.objects.get().through == day
    assert AuditLog.objects.filter(action=AuditLog.Action.BOOKS_CLOSED).exists()

    with pytest.raises(ValidationError) as refused:
        repayment_record(
            loan=loan, user=accountant, amount=Decimal("10.00"), paid_on=day, method="cash"
        )
    assert f"The books are closed through {day:%d %b %Y}" in " ".join(refused.value.messages)


def test_close_form_shows_the_service_error_next_to_the_field(admin_client: Client) -> None:
    today = timezone.localdate()
    response = admin_client.post(reverse("ledger_close"), {"through": today.isoformat()})
    assert response.status_code == 200
    assert response.context["form"].errors["through"] == ["Only days before today can be closed."]
    html = response.content.decode()
    assert '<small class="error-text" role="alert">Only days before today can be closed.' in html
    assert not BooksClosing.objects.exists()
    empty = admin_client.post(reverse("ledger_close"), {"through": "not a date"})
    assert empty.context["form"].errors["through"] == [INVALID_DATE]


def test_close_page_shows_the_current_closing(admin_client: Client, admin_user: User) -> None:
    assert "never been closed" in admin_client.get(reverse("ledger_close")).content.decode()
    day = timezone.localdate() - timedelta(days=3)
    BooksClosing.objects.create(through=day, closed_by=admin_user)
    html = admin_client.get(reverse("ledger_close")).content.decode()
    assert f"closed through <strong>{day.day} {day:%b %Y}</strong>" in html


# --- a fixed number of queries ---------------------------------------------------------------


@pytest.mark.parametrize("loans", [1, 6])
def test_pages_run_a_fixed_number_of_queries(
    accountant_client: Client, accountant: User, loans: int,
    django_assert_max_num_queries: Any,
) -> None:  # fmt: skip
    day = timezone.localdate() - timedelta(days=1)
    for _ in range(loans):
        loan = ActiveLoanFactory(disbursed_days_ago=3)
        for amount in ("50.00", "60.00"):
            repayment_record(loan=loan, user=accountant, amount=Decimal(amount), paid_on=day,
                             method="cash")  # fmt: skip
    since = (day - timedelta(days=5)).isoformat()
    pages = [
        (reverse("ledger_trial_balance"), {}),
        (reverse("ledger_trial_balance"), {"format": "csv"}),
        (reverse("ledger_account", args=[_bank().code]), {"date_from": since}),
        (reverse("ledger_account", args=[_bank().code]), {"date_from": since, "format": "csv"}),
        (reverse("ledger_journal"), {"date": day.isoformat()}),
        (reverse("ledger_journal"), {"date": day.isoformat(), "format": "csv"}),
    ]
    for url, params in pages:
        with django_assert_max_num_queries(12):
            response = accountant_client.get(url, params)
        assert response.status_code == 200, url
