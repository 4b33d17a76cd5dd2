"""Borrowers' phones are stored in E.164 and shown grouped (QA: "+254712345678" everywhere
while the help text writes "+254 712 345 678")."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from lending.phones import display_phone
from tests.factories import ActiveLoanFactory, BorrowerFactory, LoanFactory


@pytest.mark.parametrize(
    ("stored", "shown"),
    [
        ("+254712345678", "+254 712 345678"),
        ("+233201112222", "+233 20 111 2222"),
        ("+16502530000", "+1 650-253-0000"),
        ("0712", "0712"),  # not E.164 (an old row): as stored
        ("+254700111", "+254700111"),  # not a valid number: as stored
        ("", ""),
    ],
)
def test_a_stored_phone_is_shown_in_the_international_format(stored: str, shown: str) -> None:
    assert display_phone(stored) == shown
    rendered = Template("{% load phones %}{{ value|phone }}").render(Context({"value": stored}))
    assert rendered == shown


@pytest.mark.django_db
def test_borrower_pages_and_lists_show_the_phone_grouped(
    officer_client: Client, accountant_client: Client, officer: User
) -> None:
    borrower = BorrowerFactory(full_name="Amina Njoroge", phone="+254712345678")
    loan = ActiveLoanFactory(borrower=borrower, disbursed_days_ago=40, principal=D("1000.00"))
    pages = [
        officer_client.get(reverse("borrower_detail", args=[borrower.pk])),
        officer_client.get(reverse("borrower_list")),
        accountant_client.get(reverse("repayment_list"), {"q": "Amina"}),
        accountant_client.get(reverse("repayment_create", args=[loan.pk])),
        accountant_client.get(reverse("collection_sheet")),
    ]
    for response in pages:
        html = response.content.decode()
        assert response.status_code == 200
        assert "+254 712 345678" in html, response.request["PATH_INFO"]
        assert "+254712345678" not in html, response.request["PATH_INFO"]


@pytest.mark.django_db
def test_the_guarantors_table_shows_their_phones_grouped(
    officer_client: Client, officer: User
) -> None:
    from origination.services import guarantor_add

    loan = LoanFactory(submitted_by=officer, principal=D("1000.00"))
    guarantor_add(loan=loan, user=officer, full_name="Grace W", national_id="GW1",
                  phone="0722 111 222", amount=D("100"))  # fmt: skip
    html = officer_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert "GW1 · +254 722 111222" in html
