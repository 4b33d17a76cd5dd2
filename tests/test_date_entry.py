"""Dates are typed day first everywhere staff type one (dd/mm/yyyy in a plain text input,
not the browser's locale-dependent date input); ISO is still read, since links, the API and
scripts send it; a date that cannot be read gets a message saying how to write it."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django import forms
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from karo.inputs import INVALID_DATE, DayFirstDateField
from lending.forms import BorrowerForm
from lending.models import Borrower, Repayment
from tests.reporting.helpers import weekly_loan

pytestmark = pytest.mark.django_db


class OneDate(forms.Form):
    on = DayFirstDateField()


@pytest.mark.parametrize(
    ("typed", "read"),
    [
        ("05/12/2026", date(2026, 12, 5)),  # 5 December, never 12 May
        ("31/01/2027", date(2027, 1, 31)),
        (" 31/01/2027 ", date(2027, 1, 31)),
        ("31-01-2027", date(2027, 1, 31)),
        ("31.01.2027", date(2027, 1, 31)),
        ("31 Jan 2027", date(2027, 1, 31)),
        ("29/02/2028", date(2028, 2, 29)),
        ("2027-01-31", date(2027, 1, 31)),  # ISO, as links and the API send it
    ],
)
def test_dates_are_read_day_first_and_iso(typed: str, read: date) -> None:
    form = OneDate({"on": typed})
    assert form.is_valid(), form.errors
    assert form.cleaned_data["on"] == read


@pytest.mark.parametrize(
    "typed", ["01/31/2027", "31/13/2027", "29/02/2027", "31/01/27", "2027/31/01", "tomorrow"]
)
def test_a_date_that_cannot_be_read_says_how_to_write_it(typed: str) -> None:
    form = OneDate({"on": typed})
    assert not form.is_valid()
    assert form.errors["on"] == [INVALID_DATE]
    assert INVALID_DATE == "Enter the date as dd/mm/yyyy, for example 31/01/2027."


def test_the_input_is_text_with_a_day_first_placeholder_and_value() -> None:
    html = str(OneDate(initial={"on": date(2026, 12, 5)})["on"])
    assert 'type="text"' in html and 'placeholder="dd/mm/yyyy"' in html
    assert 'value="05/12/2026"' in html
    assert 'type="date"' not in html


def test_the_borrower_form_reads_the_date_of_birth_day_first(officer_client: Client) -> None:
    form = BorrowerForm()
    assert 'placeholder="dd/mm/yyyy"' in str(form["date_of_birth"])
    data = {
        "full_name": "Esther Phiri", "national_id": "ZX 9988-77", "date_of_birth": "03/04/1988",
        "phone": "+260 977 123 456", "email": "", "address": "", "employer": "",
        "monthly_income": "0", "notes": "",
    }  # fmt: skip
    response = officer_client.post(reverse("borrower_create"), data)
    assert response.status_code == 302
    assert Borrower.objects.get().date_of_birth == date(1988, 4, 3)
    bad = officer_client.post(reverse("borrower_create"), data | {"date_of_birth": "04/31/1988"})
    assert "Enter the date of birth as dd/mm/yyyy, for example 31/05/1990." in bad.content.decode()


def test_a_payment_is_recorded_on_the_day_first_date(accountant_client: Client) -> None:
    loan = weekly_loan(disbursed_days_ago=20)
    page = accountant_client.get(reverse("repayment_create", args=[loan.pk]))
    today = timezone.localdate()
    assert f'value="{today:%d/%m/%Y}"' in page.content.decode()  # the default, day first
    day = today - timedelta(days=3)
    data: dict[str, Any] = {
        "amount": "100.00", "paid_on": day.strftime("%d/%m/%Y"), "method": "cash",
        "reference": "", "idempotency_key": page.context["form"]["idempotency_key"].value(),
        "confirmed": "true",
    }  # fmt: skip
    accountant_client.post(reverse("repayment_create", args=[loan.pk]), data)
    assert Repayment.objects.get(loan=loan).paid_on == day
    assert Repayment.objects.get(loan=loan).amount == Decimal("100.00")


def test_a_report_filter_takes_day_first_dates_and_shows_them_so(accountant_client: Client) -> None:
    today = timezone.localdate()
    start = today.replace(day=1)
    response = accountant_client.get(
        reverse("report_collections"),
        {"date_from": start.strftime("%d/%m/%Y"), "date_to": today.strftime("%d/%m/%Y")},
    )
    html = response.content.decode()
    assert response.context["form"].cleaned_data["date_from"] == start
    assert f'value="{start:%d/%m/%Y}"' in html and f'value="{today:%d/%m/%Y}"' in html
    bad = accountant_client.get(reverse("report_collections"), {"date_from": "12/31/2026"})
    assert INVALID_DATE in bad.content.decode()
