"""The collection sheet: what it lists, posting it once (and never twice), refusals row by row,
the A4 PDF, the role matrix on the page's actions and its fixed query count."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from collecting.selectors import SheetFilters, sheet_rows
from collecting.services import SheetLine, collection_sheet_post, day_row_key, row_key
from lending.models import AuditLog, Loan, Repayment
from lending.services.loans import loan_write_off
from lending.services.repayments import repayment_record
from tests.factories import ActiveLoanFactory, LoanFactory, OfficerFactory

pytestmark = pytest.mark.django_db


def today() -> Any:
    return timezone.localdate()


def unpaid_due_by(loan: Loan, on: Any) -> Decimal:
    return sum(
        (i.remaining for i in loan.schedule.filter(due_date__lte=on)),
        Decimal("0.00"),
    )


@pytest.fixture
def field_officer(db: Any) -> User:
    return OfficerFactory(username="field")


@pytest.fixture
def late_loans(field_officer: User) -> list[Loan]:
    """Three loans of one officer with two installments due (disbursed 75 days ago)."""
    return [ActiveLoanFactory(submitted_by=field_officer, disbursed_days_ago=75) for _ in range(3)]


def _post_data(rows: dict[int, str], *, key: str, method: str = "cash") -> dict[str, str]:
    return {
        "on": today().isoformat(),
        "method": method,
        "key": key,
        **{f"amount-{loan_id}": amount for loan_id, amount in rows.items()},
    }


# --- what the sheet lists ---------------------------------------------------------------------


def test_sheet_lists_active_loans_with_something_due_and_what_is_due(
    late_loans: list[Loan], field_officer: User
) -> None:
    not_yet_due = ActiveLoanFactory(submitted_by=field_officer, disbursed_days_ago=0)
    pending = LoanFactory(submitted_by=field_officer)
    rows = sheet_rows(SheetFilters(on=today()))
    assert {r.loan_id for r in rows} == {loan.pk for loan in late_loans}
    assert not_yet_due.pk not in {r.loan_id for r in rows}
    assert pending.pk not in {r.loan_id for r in rows}
    for row in rows:
        loan = Loan.objects.get(pk=row.loan_id)
        assert row.due == unpaid_due_by(loan, today())
        assert row.installments_due == 2
        assert row.officer == "field"
        assert row.officer_name == field_officer.get_full_name() != "field"


def test_a_partly_paid_installment_shows_what_is_left(late_loans: list[Loan]) -> None:
    loan = late_loans[0]
    before = unpaid_due_by(loan, today())
    repayment_record(
        loan=loan, user=loan.decided_by, amount=Decimal("100.00"), paid_on=today(), method="cash"
    )
    row = next(r for r in sheet_rows(SheetFilters(on=today())) if r.loan_id == loan.pk)
    assert row.due == before - Decimal("100.00")


def test_sheet_for_one_officer_leaves_out_the_others(late_loans: list[Loan]) -> None:
    other = ActiveLoanFactory(submitted_by=OfficerFactory(), disbursed_days_ago=75)
    mine = sheet_rows(SheetFilters(on=today(), officer_id=late_loans[0].submitted_by_id))
    assert {r.loan_id for r in mine} == {loan.pk for loan in late_loans}
    assert other.pk in {r.loan_id for r in sheet_rows(SheetFilters(on=today()))}


def test_an_earlier_date_lists_only_what_was_due_by_then(late_loans: list[Loan]) -> None:
    loan = late_loans[0]
    first, second = loan.schedule.order_by("number")[:2]
    on = first.due_date
    row = next(r for r in sheet_rows(SheetFilters(on=on)) if r.loan_id == loan.pk)
    assert row.installments_due == 1
    assert row.due == first.remaining
    assert second.due_date > on


# --- the page -----------------------------------------------------------------------------------


def test_accountant_sees_amounts_due_prefilled(
    accountant_client: Client, late_loans: list[Loan]
) -> None:
    response = accountant_client.get(reverse("collection_sheet"))
    assert response.status_code == 200
    html = response.content.decode()
    for loan in late_loans:
        due = unpaid_due_by(loan, today())
        assert f'name="amount-{loan.pk}" value="{due:.2f}"' in html
    assert 'id="sheet-post"' in html


def test_officer_sees_the_sheet_without_posting_it(
    officer_client: Client, late_loans: list[Loan]
) -> None:
    response = officer_client.get(reverse("collection_sheet"))
    assert response.status_code == 200
    html = response.content.decode()
    assert late_loans[0].number in html
    assert 'name="amount-' not in html
    assert "posted by an accountant" in html


def test_a_bad_date_in_the_filter_is_a_form_error(accountant_client: Client) -> None:
    response = accountant_client.get(reverse("collection_sheet"), {"on": "31/02/2026"})
    assert response.status_code == 200
    assert b"Enter the date as dd/mm/yyyy" in response.content
    assert b'id="sheet-form"' not in response.content


def test_the_sheet_runs_a_fixed_number_of_queries(
    accountant_client: Client,
    field_officer: User,
    django_assert_num_queries: Any,
) -> None:
    url = reverse("collection_sheet")
    ActiveLoanFactory(submitted_by=field_officer, disbursed_days_ago=75)
    accountant_client.get(url)  # warm the session and permission caches
    with CaptureQueriesContext(connection) as few:
        accountant_client.get(url)
    for _ in range(12):
        ActiveLoanFactory(submitted_by=field_officer, disbursed_days_ago=75)
    with django_assert_num_queries(len(few.captured_queries)):
        response = accountant_client.get(url)
    assert response.content.decode().count('name="amount-') == 13


def test_the_officer_column_shows_full_names_else_usernames(
    accountant_client: Client, late_loans: list[Loan], field_officer: User
) -> None:
    nameless = OfficerFactory(username="officer2", first_name="", last_name="")
    ActiveLoanFactory(submitted_by=nameless, disbursed_days_ago=75)
    html = accountant_client.get(reverse("collection_sheet")).content.decode()
    assert f'<td data-label="Officer">{field_officer.get_full_name()}</td>' in html
    assert '<td data-label="Officer">field</td>' not in html
    assert '<td data-label="Officer">officer2</td>' in html


# --- posting ------------------------------------------------------------------------------------


def _form_data(html: str) -> dict[str, str]:
    """What a browser submits from the rendered sheet: its hidden fields and amounts."""
    form = html[html.index('id="sheet-form"') :]
    data = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form))
    data |= dict(re.findall(r'name="(amount-\d+)" value="([^"]*)"', form))
    data["method"] = "cash"
    return data


def test_the_sheet_opened_again_and_posted_again_posts_nothing_twice(
    accountant_client: Client, late_loans: list[Loan]
) -> None:
    """The tester's case: post a row, go Back (the page is loaded again) and post the sheet
    again: the row's key is the sheet's date and the loan, not the page load's."""
    loan = late_loans[0]
    others = {f"amount-{other.pk}": "" for other in late_loans[1:]}
    url, submit = reverse("collection_sheet"), reverse("collection_sheet_submit")
    first_page = accountant_client.get(url).content.decode()
    posted = accountant_client.post(
        submit, _form_data(first_page) | others | {f"amount-{loan.pk}": "150.00"}
    )
    assert b"1 posted" in posted.content
    [repayment] = Repayment.objects.filter(loan=loan)
    assert repayment.idempotency_key == day_row_key(on=today(), loan_id=loan.pk)

    second_page = accountant_client.get(url).content.decode()
    assert f'id="posted-{loan.pk}"' in second_page  # its receipt, no amount to post again
    assert f'name="amount-{loan.pk}"' not in second_page
    assert repayment.receipt.number in second_page
    again = accountant_client.post(
        submit, _form_data(second_page) | others | {f"amount-{loan.pk}": "150.00"}
    )
    assert b"0 posted" in again.content and b"1 already posted" in again.content
    changed = accountant_client.post(
        submit, _form_data(first_page) | others | {f"amount-{loan.pk}": "500.00"}
    )
    assert b"0 posted" in changed.content and b"1 refused" in changed.content
    assert b"Already posted on the sheet of" in changed.content
    assert list(Repayment.objects.filter(loan=loan)) == [repayment]


def test_the_days_sheet_takes_one_payment_per_loan_whoever_posts_it_with_any_filter(
    accountant: User, admin_user: User, late_loans: list[Loan], field_officer: User
) -> None:
    """An officer's sheet and the all-officers sheet of the same day are one sheet for its
    keys, and so are two cashiers' submits."""
    loan = late_loans[0]
    line = SheetLine(loan_id=loan.pk, amount=Decimal("80.00"))
    first = collection_sheet_post(user=accountant, sheet_key=None, on=today(), lines=[line])
    again = collection_sheet_post(user=admin_user, sheet_key=None, on=today(), lines=[line])
    assert len(first.posted) == 1 and len(again.already_posted) == 1
    assert again.outcomes[0].repayment == first.outcomes[0].repayment
    yesterday = collection_sheet_post(
        user=accountant, sheet_key=None, on=today() - timedelta(days=1), lines=[line]
    )
    assert len(yesterday.posted) == 1  # another day's sheet is another sheet
    assert Repayment.objects.filter(loan=loan).count() == 2


def test_posting_the_sheet_records_each_row_once(
    accountant_client: Client, late_loans: list[Loan]
) -> None:
    key = uuid.uuid4().hex
    rows = {loan.pk: "150.00" for loan in late_loans}
    response = accountant_client.post(reverse("collection_sheet_submit"), _post_data(rows, key=key))
    assert response.status_code == 200
    assert b"3 posted" in response.content
    payments = Repayment.objects.filter(loan__in=late_loans)
    assert payments.count() == 3
    assert {p.amount for p in payments} == {Decimal("150.00")}
    assert all(p.paid_on == today() for p in payments)
    assert AuditLog.objects.filter(action=AuditLog.Action.REPAYMENT_RECORDED).count() >= 3

    again = accountant_client.post(reverse("collection_sheet_submit"), _post_data(rows, key=key))
    assert again.status_code == 200
    assert b"0 posted" in again.content
    assert b"3 already posted" in again.content
    assert Repayment.objects.filter(loan__in=late_loans).count() == 3


def test_a_refused_row_is_listed_and_the_others_are_posted(
    accountant_client: Client, late_loans: list[Loan]
) -> None:
    first, second, third = late_loans
    rows = {
        first.pk: "100.00",
        second.pk: f"{second.outstanding + 1:.2f}",  # above the balance
        third.pk: "",  # nothing collected
    }
    response = accountant_client.post(
        reverse("collection_sheet_submit"), _post_data(rows, key=uuid.uuid4().hex)
    )
    html = response.content.decode()
    assert "1 posted" in html and "1 refused" in html
    assert "above the loan&#x27;s outstanding balance" in html
    assert Repayment.objects.filter(loan=first).count() == 1
    assert not Repayment.objects.filter(loan__in=[second, third]).exists()


def test_a_loan_written_off_since_the_sheet_was_drawn_is_refused(
    accountant: User, admin_user: User, late_loans: list[Loan]
) -> None:
    gone = late_loans[0]
    loan_write_off(loan=gone, user=admin_user, reason="absconded")
    result = collection_sheet_post(
        user=accountant,
        sheet_key="k1",
        on=today(),
        lines=[SheetLine(loan_id=loan.pk, amount=Decimal("50.00")) for loan in late_loans],
    )
    assert len(result.posted) == 2
    [refused] = result.refused
    assert refused.loan_id == gone.pk
    assert "written off" in refused.error
    assert not Repayment.objects.filter(loan=gone).exists()


def test_the_same_sheet_with_a_changed_amount_is_refused_not_posted_again(
    accountant: User, late_loans: list[Loan]
) -> None:
    loan = late_loans[0]
    line = SheetLine(loan_id=loan.pk, amount=Decimal("50.00"))
    collection_sheet_post(user=accountant, sheet_key="k2", on=today(), lines=[line])
    changed = SheetLine(loan_id=loan.pk, amount=Decimal("60.00"))
    result = collection_sheet_post(user=accountant, sheet_key="k2", on=today(), lines=[changed])
    [refused] = result.refused
    assert "already submitted with different details" in refused.error
    assert Repayment.objects.filter(loan=loan).count() == 1


def test_row_keys_are_the_users_own(accountant: User, admin_user: User) -> None:
    mine = row_key(user=accountant, sheet_key="k", loan_id=1)
    assert mine != row_key(user=admin_user, sheet_key="k", loan_id=1)
    assert mine != row_key(user=accountant, sheet_key="k", loan_id=2)
    assert len(mine) <= 100


def test_an_invalid_amount_posts_nothing_and_says_which_row(
    accountant_client: Client, late_loans: list[Loan]
) -> None:
    first, second, _ = late_loans
    rows = {first.pk: "100.00", second.pk: "1,00"}
    response = accountant_client.post(
        reverse("collection_sheet_submit"), _post_data(rows, key=uuid.uuid4().hex)
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "nothing was posted" in html
    assert f'id="amount-{second.pk}-error"' in html
    assert 'value="1,00"' in html  # what was typed stays for correction
    assert not Repayment.objects.filter(loan__in=late_loans).exists()


def test_a_negative_amount_is_refused(accountant_client: Client, late_loans: list[Loan]) -> None:
    rows = {late_loans[0].pk: "-5.00"}
    response = accountant_client.post(
        reverse("collection_sheet_submit"), _post_data(rows, key=uuid.uuid4().hex)
    )
    assert b"The amount cannot be negative." in response.content
    assert not Repayment.objects.exists()


def test_a_sheet_with_nothing_collected_posts_nothing(
    accountant_client: Client, late_loans: list[Loan]
) -> None:
    rows = {loan.pk: "0" for loan in late_loans}
    response = accountant_client.post(
        reverse("collection_sheet_submit"), _post_data(rows, key=uuid.uuid4().hex)
    )
    assert b"Enter at least one amount to post." in response.content
    assert not Repayment.objects.exists()


def test_a_future_sheet_cannot_be_posted(accountant: User, late_loans: list[Loan]) -> None:
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError) as error:
        collection_sheet_post(
            user=accountant,
            sheet_key="k3",
            on=today() + timedelta(days=1),
            lines=[SheetLine(loan_id=late_loans[0].pk, amount=Decimal("10.00"))],
        )
    assert "future" in str(error.value)
    assert not Repayment.objects.exists()


def test_officer_cannot_post_a_sheet(officer_client: Client, late_loans: list[Loan]) -> None:
    rows = {late_loans[0].pk: "100.00"}
    response = officer_client.post(
        reverse("collection_sheet_submit"), _post_data(rows, key=uuid.uuid4().hex)
    )
    assert response.status_code == 403
    assert not Repayment.objects.exists()


# --- print ----------------------------------------------------------------------------------


def test_the_sheet_prints_as_an_a4_pdf(officer_client: Client, late_loans: list[Loan]) -> None:
    officer_id = late_loans[0].submitted_by_id
    response = officer_client.get(
        reverse("collection_sheet_pdf"), {"on": today().isoformat(), "officer": officer_id}
    )
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    assert response.content.startswith(b"%PDF")
    assert "collection-sheet-" in response["Content-Disposition"]


def test_the_pdf_refuses_bad_filters(officer_client: Client) -> None:
    response = officer_client.get(reverse("collection_sheet_pdf"), {"on": "yesterday"})
    assert response.status_code == 400
    assert b"not valid" in response.content


def test_posting_a_bigger_sheet_costs_the_same_queries_per_row(
    accountant: User, field_officer: User
) -> None:
    """The result lists each row's receipt without a query per row: a row costs the
    repayment service's statements and nothing more."""
    loans = [ActiveLoanFactory(submitted_by=field_officer, disbursed_days_ago=75) for _ in range(7)]

    def cost(batch: list[Loan], key: str) -> int:
        lines = [SheetLine(loan_id=loan.pk, amount=Decimal("20.00")) for loan in batch]
        with CaptureQueriesContext(connection) as queries:
            result = collection_sheet_post(user=accountant, sheet_key=key, on=today(), lines=lines)
        assert all(o.receipt_number for o in result.outcomes)
        return len(queries.captured_queries)

    cost(loans[6:], "warm")  # the year's receipt counter, the accounts mapping
    one, two, three = cost(loans[:1], "a"), cost(loans[1:3], "b"), cost(loans[3:6], "c")
    assert three - two == two - one  # each row adds the same statements, nothing else grows


def test_a_posted_sheet_is_audited_with_its_refusals(
    accountant: User, late_loans: list[Loan]
) -> None:
    first, second, _ = late_loans
    lines = [
        SheetLine(loan_id=first.pk, amount=Decimal("25.00")),
        SheetLine(loan_id=second.pk, amount=second.outstanding + 1),
    ]
    collection_sheet_post(user=accountant, sheet_key="audit", on=today(), lines=lines)
    entry = AuditLog.objects.get(action=AuditLog.Action.COLLECTION_SHEET_POSTED)
    assert entry.user == accountant
    assert entry.details["posted"] == 1 and entry.details["posted_total"] == "25.00"
    assert entry.details["refused"][0]["loan"] == second.number
