"""Manual journal entries (Admin): the page at /ledger/journal/new/ and the service behind it,
`lending.services.books.journal_entry_record`. A refused entry writes nothing; a booked one is
audited with its lines and shows in the trial balance. On PostgreSQL the deferred trigger
refuses an unbalanced entry that bypasses the service."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from ledger import selectors
from ledger.models import Account, BooksClosing, JournalEntry, JournalLine
from lending.models import AuditLog
from lending.services.books import journal_entry_record

D = Decimal
URL = "/ledger/journal/new/"


def _day(days_ago: int = 3) -> date:
    return timezone.localdate() - timedelta(days=days_ago)


def _account(code: str) -> Account:
    return Account.objects.get(code=code)


def _counts() -> tuple[int, int, int]:
    return JournalEntry.objects.count(), JournalLine.objects.count(), AuditLog.objects.count()


def _post_data(day: date, memo: str, rows: list[tuple[str, str, str]], total: int = 4) -> dict:
    data: dict[str, Any] = {
        "value_date": day.isoformat(),
        "memo": memo,
        "lines-TOTAL_FORMS": str(total),
        "lines-INITIAL_FORMS": "0",
        "lines-MIN_NUM_FORMS": "0",
        "lines-MAX_NUM_FORMS": "40",
    }
    for i in range(total):
        account, debit, credit = rows[i] if i < len(rows) else ("", "", "")
        data[f"lines-{i}-account"] = str(_account(account).pk) if account else ""
        data[f"lines-{i}-debit"] = debit
        data[f"lines-{i}-credit"] = credit
    return data


# --- who may open the page ---------------------------------------------------------------------


@pytest.mark.django_db
def test_only_admin_opens_the_new_entry_page(role_client: tuple[str, Client]) -> None:
    role, client = role_client
    assert reverse("ledger_journal_new") == URL
    response = client.get(URL)
    assert response.status_code == (200 if role == "admin" else 403), role


@pytest.mark.django_db
def test_accountant_and_officer_cannot_post_an_entry(
    accountant_client: Client, officer_client: Client
) -> None:
    before = _counts()
    data = _post_data(_day(), "Bank charges", [("5010", "10.00", ""), ("1020", "", "10.00")])
    for client in (accountant_client, officer_client):
        assert client.post(URL, data).status_code == 403
    assert _counts() == before


@pytest.mark.django_db
def test_anonymous_is_sent_to_login(client: Client) -> None:
    for response in (client.get(URL), client.post(URL, {})):
        assert response.status_code == 302
        assert "/login" in response["Location"]


@pytest.mark.django_db
def test_the_journal_links_to_the_page_only_for_who_may_book(
    admin_client: Client, accountant_client: Client
) -> None:
    assert URL in admin_client.get(reverse("ledger_journal")).content.decode()
    assert URL not in accountant_client.get(reverse("ledger_journal")).content.decode()


# --- the form ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_page_has_four_rows_of_accounts_that_take_entries(admin_client: Client) -> None:
    Account.objects.filter(code="1040").update(is_active=False)
    page = admin_client.get(URL).content.decode()
    assert page.count('name="lines-') - page.count('name="lines-TOTAL') >= 12
    assert 'name="lines-3-account"' in page and 'name="lines-4-account"' not in page
    assert "1020 Bank" in page
    assert "1000 Assets" not in page  # a header account
    assert "1040 Cheque clearing" not in page  # not active


@pytest.mark.django_db
def test_add_lines_keeps_what_was_typed_and_books_nothing(admin_client: Client) -> None:
    before = _counts()
    data = _post_data(_day(), "Opening cash", [("1010", "500.00", "")])
    data["add_lines"] = "1"
    response = admin_client.post(URL, data)
    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="lines-5-account"' in page and 'name="lines-6-account"' not in page
    assert 'value="500.00"' in page and 'value="Opening cash"' in page
    assert 'role="alert"' not in page  # not checked yet: no errors
    assert f'<option value="{_account("1010").pk}" selected>' in page
    assert _counts() == before

    # The longer form, sent back (its typed rows now count as initial ones), books the entry.
    rows = [("1010", "500.00", ""), ("", "", ""), ("", "", ""), ("", "", "")]
    data = _post_data(_day(), "Opening cash", [*rows, ("", "", ""), ("3010", "", "500.00")], 6)
    data["lines-INITIAL_FORMS"] = "4"
    assert admin_client.post(URL, data).status_code == 302
    assert JournalEntry.objects.get().lines.count() == 2


@pytest.mark.django_db
def test_line_errors_are_shown_next_to_their_fields(admin_client: Client) -> None:
    before = _counts()
    data = _post_data(
        _day(), "Mixed up", [("1010", "5.00", "5.00"), ("", "7.00", ""), ("1020", "", "")]
    )
    page = admin_client.post(URL, data).content.decode()
    assert "Enter a debit or a credit, not both." in page
    assert "Choose the account of this line." in page
    assert "Enter a debit or a credit." in page
    assert _counts() == before


# --- refused entries write nothing -------------------------------------------------------------


@pytest.mark.django_db
def test_unbalanced_entry_is_refused_with_the_difference(admin_user: User) -> None:
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        journal_entry_record(
            value_date=_day(),
            memo="Capital paid in",
            lines=[(_account("1020").pk, D("100.00"), None), (_account("3010").pk, None, D("90"))],
            user=admin_user,
        )
    assert exc.value.message_dict == {"lines": ["Debits 100.00 and credits 90.00 differ by 10.00."]}
    assert _counts() == before


@pytest.mark.django_db
def test_unbalanced_entry_on_the_page_shows_the_error_at_the_top(admin_client: Client) -> None:
    before = _counts()
    data = _post_data(_day(), "Capital paid in", [("1020", "100.00", ""), ("3010", "", "90.00")])
    response = admin_client.post(URL, data)
    page = response.content.decode()
    assert response.status_code == 200
    assert "Debits 100.00 and credits 90.00 differ by 10.00." in page
    assert page.index("differ by 10.00") < page.index('name="lines-0-account"')
    assert _counts() == before


@pytest.mark.django_db
def test_a_line_on_a_header_account_is_refused(admin_user: User) -> None:
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        journal_entry_record(
            value_date=_day(),
            memo="Into the header",
            lines=[(_account("1000").pk, D("50.00"), None), (_account("3010").pk, None, D("50"))],
            user=admin_user,
        )
    assert "Header accounts hold no entries: 1000 Assets." in exc.value.message_dict["lines"]
    assert _counts() == before


@pytest.mark.django_db
def test_a_date_in_closed_books_is_refused(admin_user: User, admin_client: Client) -> None:
    closed = _day(10)
    BooksClosing.objects.create(through=closed, closed_by=admin_user)
    before = _counts()
    with pytest.raises(ValidationError) as exc:
        journal_entry_record(
            value_date=closed,
            memo="Too late",
            lines=[(_account("1020").pk, D("50.00"), None), (_account("3010").pk, None, D("50"))],
            user=admin_user,
        )
    assert list(exc.value.message_dict) == ["value_date"]
    assert "The books are closed through" in exc.value.message_dict["value_date"][0]
    data = _post_data(closed, "Too late", [("1020", "50.00", ""), ("3010", "", "50.00")])
    page = admin_client.post(URL, data).content.decode()
    assert page.index("The books are closed through") > page.index('name="value_date"')
    assert _counts() == before


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("memo", "lines", "field", "message"),
    [
        ("", [("1020", "1", None), ("3010", None, "1")], "memo", "Say what the entry is for."),
        ("One", [("1020", "1", None)], "lines", "An entry needs at least two lines."),
        ("Cents", [("1020", "1.005", None), ("3010", None, "1.005")], "lines", "whole cents"),
        ("Both", [("1020", "1", "1"), ("3010", None, "1")], "lines", "not both"),
        ("None", [("1020", None, None), ("3010", None, "1")], "lines", "not both"),
        ("Negative", [("1020", "-1", None), ("3010", "1", None)], "lines", "negative"),
        ("Twice", [("1020", "1", None), ("1020", None, "1")], "lines", "already on line 1"),
    ],
)
def test_malformed_entries_are_refused(
    admin_user: User, memo: str, lines: list[tuple[str, Any, Any]], field: str, message: str
) -> None:
    before = _counts()
    rows = [(_account(a).pk, D(d) if d else None, D(c) if c else None) for a, d, c in lines]
    with pytest.raises(ValidationError) as exc:
        journal_entry_record(value_date=_day(), memo=memo, lines=rows, user=admin_user)
    assert list(exc.value.message_dict) == [field]
    assert message in exc.value.message_dict[field][0]
    assert _counts() == before


@pytest.mark.django_db
def test_accountant_cannot_record_an_entry(accountant: User) -> None:
    with pytest.raises(PermissionDenied):
        journal_entry_record(
            value_date=_day(),
            memo="Not mine to book",
            lines=[(_account("1020").pk, D("5"), None), (_account("3010").pk, None, D("5"))],
            user=accountant,
        )
    assert not JournalEntry.objects.exists()


# --- a booked entry ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_balanced_entry_is_booked_audited_and_in_the_trial_balance(
    admin_client: Client, admin_user: User
) -> None:
    day = _day()
    entries, lines, audits = _counts()
    data = _post_data(
        day,
        "Capital paid in, part in cash",
        [("1020", "750.00", ""), ("1010", "250.00", ""), ("3010", "", "1000.00")],
    )
    response = admin_client.post(URL, data)
    entry = JournalEntry.objects.latest("id")
    assert response.status_code == 302
    assert response["Location"] == f"{reverse('ledger_journal')}?entry={entry.pk}"
    assert (entry.value_date, entry.source, entry.memo, entry.created_by) == (
        day, JournalEntry.Source.MANUAL, "Capital paid in, part in cash", admin_user,
    )  # fmt: skip
    booked = {(line.account.code, line.debit, line.credit) for line in entry.lines.all()}
    assert booked == {
        ("1010", D("250.00"), D("0.00")),
        ("1020", D("750.00"), D("0.00")),
        ("3010", D("0.00"), D("1000.00")),
    }
    assert _counts() == (entries + 1, lines + 3, audits + 1)

    audit = AuditLog.objects.get(action=AuditLog.Action.JOURNAL_ENTRY)
    assert audit.user == admin_user
    assert audit.details["total"] == "1000.00"
    assert audit.details["lines"] == [
        {"account": "1020", "debit": "750.00", "credit": "0.00"},
        {"account": "1010", "debit": "250.00", "credit": "0.00"},
        {"account": "3010", "debit": "0.00", "credit": "1000.00"},
    ]

    page = admin_client.get(response["Location"]).content.decode()
    assert f"JE-{entry.pk}" in page and "Manual entry" in page and "is booked" in page

    report = selectors.trial_balance(day)
    balances = {r.account.code: (r.debit_balance, r.credit_balance) for r in report.rows}
    assert balances["1020"] == (D("750.00"), D("0.00"))
    assert balances["3010"] == (D("0.00"), D("1000.00"))
    assert report.total_debit == report.total_credit
    assert not any(r.net for r in selectors.trial_balance(day - timedelta(days=1)).rows)
    tb_page = admin_client.get(reverse("ledger_trial_balance"), {"as_of": day.isoformat()})
    assert "3010" in tb_page.content.decode()


# --- the database's own check (PostgreSQL) -----------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_postgres_trigger_refuses_an_unbalanced_entry_at_commit() -> None:
    if connection.vendor != "postgresql":
        pytest.skip(
            "needs PostgreSQL: the balance trigger is a deferred constraint trigger there "
            "(run with DATABASE_URL=postgres://...)"
        )
    # transactional_db empties the tables: make the two accounts this test needs.
    bank = Account.objects.create(code="T1020", name="Bank", type=Account.Type.ASSET)
    capital = Account.objects.create(code="T3010", name="Capital", type=Account.Type.EQUITY)
    day = _day()
    # The trigger's RAISE EXCEPTION (SQLSTATE P0001) reaches Django as a DatabaseError
    # (psycopg 3 files it under ProgrammingError); what matters is the commit failing.
    with pytest.raises(DatabaseError) as exc, transaction.atomic():
        entry = JournalEntry.objects.create(value_date=day, memo="Half an entry", source="manual")
        JournalLine.objects.create(entry=entry, account=bank, value_date=day, debit=D("10.00"))
    assert "does not balance" in str(exc.value)
    assert not JournalEntry.objects.exists() and not JournalLine.objects.exists()
    # A balanced one commits.
    with transaction.atomic():
        entry = JournalEntry.objects.create(value_date=day, memo="Whole entry", source="manual")
        JournalLine.objects.create(entry=entry, account=bank, value_date=day, debit=D("10.00"))
        JournalLine.objects.create(entry=entry, account=capital, value_date=day, credit=D("10"))
    assert JournalLine.objects.filter(entry=entry).count() == 2
