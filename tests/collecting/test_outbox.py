"""The reminders outbox page: who may see it, its filters, its pages, and a fixed number of
queries whatever the number of reminders."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from collecting.models import Reminder
from collecting.reminders import reminders_send
from lending.models import Loan
from tests.factories import BorrowerFactory, LoanProductFactory
from tests.reporting.helpers import weekly_loan

pytestmark = pytest.mark.django_db

URL = "/collections/reminders/"


def _reminded_loans(n: int) -> list[Loan]:
    """`n` loans whose first installment's reminders (SMS and e-mail) have been sent."""
    product = LoanProductFactory(name="Reminded", reminder_days_before="0")
    loans = [
        weekly_loan(disbursed_days_ago=30, product=product, borrower=BorrowerFactory())
        for _ in range(n)
    ]
    reminders_send(on=loans[0].schedule.get(number=1).due_date)
    return loans


def test_the_outbox_has_its_address() -> None:
    assert reverse("reminder_outbox") == URL


@pytest.mark.parametrize("role", ["admin", "officer", "accountant"])
def test_every_role_sees_the_outbox(role: str, request: pytest.FixtureRequest) -> None:
    loans = _reminded_loans(1)
    client: Client = request.getfixturevalue(f"{role}_client")
    response = client.get(URL)
    assert response.status_code == 200
    page = response.content.decode()
    assert loans[0].number in page
    assert loans[0].borrower.phone in page
    assert "development outbox</strong>, nothing is sent" in page


def test_anonymous_is_sent_to_login(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_user_without_a_role_is_refused(client: Client, django_user_model: Any) -> None:
    client.force_login(django_user_model.objects.create_user("nobody", password="x" * 12))
    response = client.get(URL)
    assert response.status_code == 403
    assert b"You do not have access" in response.content


def test_the_outbox_is_read_only(admin_client: Client) -> None:
    assert admin_client.post(URL).status_code == 405


def test_filters_by_status_and_channel(accountant_client: Client) -> None:
    _reminded_loans(2)
    Reminder.objects.filter(channel="email").update(status="failed", error="Mailbox full")
    page = accountant_client.get(URL, {"channel": "sms"}).content.decode()
    assert page.count("<tr>") - 1 == 2  # the header row and two reminders
    assert "Mailbox full" not in page
    page = accountant_client.get(URL, {"status": "failed"}).content.decode()
    assert page.count("Mailbox full") == 2
    page = accountant_client.get(URL, {"status": "sent", "channel": "email"}).content.decode()
    assert "with these filters" in page


def test_a_bad_filter_is_a_message_not_a_list(accountant_client: Client) -> None:
    _reminded_loans(1)
    response = accountant_client.get(URL, {"status": "lost"})
    assert response.status_code == 200
    assert b"Select a valid choice" in response.content
    assert b'id="outbox-table"' not in response.content


def test_the_outbox_is_paginated(accountant_client: Client) -> None:
    _reminded_loans(26)  # 52 reminders: two pages of 50
    first = accountant_client.get(URL).content.decode()
    assert "Page 1 of 2" in first
    assert first.count("<details>") == 50
    second = accountant_client.get(URL, {"page": 2}).content.decode()
    assert second.count("<details>") == 2


def test_the_outbox_runs_a_fixed_number_of_queries(
    accountant_client: Client, django_assert_num_queries: Any
) -> None:
    _reminded_loans(1)
    accountant_client.get(URL)  # warm the session and permission caches
    with CaptureQueriesContext(connection) as few:
        accountant_client.get(URL)
    product = LoanProductFactory(name="More", reminder_days_after="1")
    more = [
        weekly_loan(disbursed_days_ago=30, product=product, borrower=BorrowerFactory())
        for _ in range(12)
    ]
    reminders_send(on=more[0].schedule.get(number=1).due_date + timedelta(days=1))
    assert Reminder.objects.count() == 26
    with django_assert_num_queries(len(few.captured_queries)):
        response = accountant_client.get(URL, {"status": "sent"})
    assert response.content.decode().count("<details>") == 26


def test_the_collection_sheet_links_to_the_outbox(officer_client: Client) -> None:
    response = officer_client.get(reverse("collection_sheet"))
    assert URL.encode() in response.content


def test_the_borrower_form_sets_the_opt_out(officer_client: Client) -> None:
    borrower = BorrowerFactory()
    url = reverse("borrower_update", args=[borrower.pk])
    page = officer_client.get(url)
    assert b'name="reminders_opt_out"' in page.content
    form = {
        name: getattr(borrower, name)
        for name in ("full_name", "national_id", "phone", "email", "address", "employer")
    }
    form |= {"date_of_birth": borrower.date_of_birth.isoformat(), "monthly_income": "1500.00"}
    form |= {"reminders_opt_out": "on"}
    response = officer_client.post(url, form)
    assert response.status_code == 302, response.content.decode()[:2000]
    borrower.refresh_from_db()
    assert borrower.reminders_opt_out
    detail = officer_client.get(reverse("borrower_detail", args=[borrower.pk]))
    assert b"None (the borrower opted out)" in detail.content
