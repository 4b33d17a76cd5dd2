"""Forms turn typed input into values and put every problem next to its field."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django import forms
from django.core.exceptions import ValidationError
from django.utils import timezone

from lending.forms import (
    BorrowerForm,
    CalculatorForm,
    LoanApplicationForm,
    LoanFilterForm,
    add_service_errors,
    product_defaults,
)
from lending.services.borrowers import duplicate_id_message
from tests.factories import BorrowerFactory, LoanProductFactory

D = Decimal


def calculator_data(**overrides: Any) -> dict[str, Any]:
    data = {
        "disbursement_date": "2024-01-15",
        "principal": "5000",
        "annual_interest_rate": "12",
        "installments": "18",
        "frequency": "monthly",
        "interest_method": "flat",
        "amortization": "equal_installments",
        "grace_periods": "0",
        "first_due_date": "",
        "installment_multiple": "1",
        "installment_rounding": "nearest",
        "interest_period": "per_period",
        "days_in_year": "365",
    }
    return data | overrides


@pytest.mark.django_db  # the preview reads the working-day calendar
def test_calculator_form_builds_the_worked_example() -> None:
    form = CalculatorForm(calculator_data())
    assert form.is_valid(), form.errors
    assert form.schedule is not None
    rows = form.schedule.installments
    assert [r.total for r in rows[:17]] == [D("328.00")] * 17
    assert (rows[-1].principal, rows[-1].interest) == (D("274.00"), D("50.00"))
    assert form.schedule.total_interest == D("900.00")


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("principal", "five thousand", "Enter the principal as a number"),
        ("principal", "-100", "The principal must be more than zero."),
        ("principal", "0", "The principal must be more than zero."),
        ("principal", "10.001", "whole cents"),
        ("principal", "NaN", "Enter the principal as a number"),
        ("annual_interest_rate", "twelve", "Enter the interest rate as a number"),
        ("annual_interest_rate", "-1", "cannot be negative"),
        ("installments", "0", "from 1 to 480"),
        ("installments", "481", "from 1 to 480"),
        ("installments", "12.5", "whole number"),
        ("installments", "", "Enter the number of installments."),
        ("grace_periods", "18", "fewer than the installments"),
        ("first_due_date", "2024-01-10", "after the disbursement"),
        ("first_due_date", "next month", "Enter the first due date as dd/mm/yyyy"),
        ("installment_multiple", "0", "at least 0.01"),
        ("frequency", "daily", "Select a valid choice"),
        ("days_in_year", "366", "Select a valid choice"),
        ("disbursement_date", "", "Enter the disbursement date."),
    ],
)
@pytest.mark.django_db
def test_bad_terms_get_a_message_next_to_the_field(field: str, value: str, message: str) -> None:
    form = CalculatorForm(calculator_data(**{field: value}))
    assert not form.is_valid()
    assert form.schedule is None
    assert any(message in e for e in form.errors[field]), form.errors


@pytest.mark.django_db
def test_application_form_checks_product_limits_on_their_fields() -> None:
    product = LoanProductFactory(
        max_principal=D("1000.00"), max_interest_rate=D("20"), max_installments=12
    )
    borrower = BorrowerFactory()
    data = calculator_data(
        borrower=str(borrower.pk),
        product=str(product.pk),
        principal="5000",
        annual_interest_rate="25",
        installments="24",
    )
    form = LoanApplicationForm(data, borrower_options=[borrower])
    assert not form.is_valid()
    assert "lends between" in form.errors["principal"][0]
    assert "allows an annual rate between" in form.errors["annual_interest_rate"][0]
    assert "installments" in form.errors["installments"][0]


@pytest.mark.django_db
def test_application_form_needs_a_registered_borrower() -> None:
    form = LoanApplicationForm(calculator_data(borrower=""), borrower_options=[])
    assert form.errors["borrower"] == ["Choose the borrower the loan is for."]
    form = LoanApplicationForm(calculator_data(borrower="999999"), borrower_options=[])
    assert form.errors["borrower"] == ["That borrower is not registered; search again."]
    form = LoanApplicationForm(calculator_data(borrower="abc"), borrower_options=[])
    assert "borrower" in form.errors


@pytest.mark.django_db
def test_application_preview_assumes_disbursement_today() -> None:
    borrower = BorrowerFactory()
    form = LoanApplicationForm(
        calculator_data(borrower=str(borrower.pk), interest_method="declining"),
        borrower_options=[borrower],
    )
    assert form.is_valid(), form.errors
    assert form.schedule is not None
    first_due = form.schedule.installments[0].due_date
    assert timezone.localdate() < first_due <= timezone.localdate() + timedelta(days=31)


@pytest.mark.django_db
def test_application_form_lists_only_the_given_borrowers() -> None:
    shown, hidden = BorrowerFactory(), BorrowerFactory()
    html = str(LoanApplicationForm(borrower_options=[shown])["borrower"])
    assert shown.number in html and hidden.number not in html


@pytest.mark.django_db
def test_product_defaults_keep_a_fitting_installment_count() -> None:
    product = LoanProductFactory(
        default_interest_rate=D("18.5"),
        min_installments=6,
        max_installments=24,
        frequency="weekly",
        installment_multiple=D("1.00"),
    )
    terms = product_defaults(product, {"installments": "10"})
    assert terms["installments"] == 10
    assert terms["annual_interest_rate"] == "18.5"
    assert terms["frequency"] == "weekly" and terms["installment_multiple"] == D("1.00")
    assert product_defaults(product, {"installments": "480"})["installments"] == 12
    assert product_defaults(product, {"installments": "x"})["installments"] == 12


@pytest.mark.django_db
def test_borrower_form_refuses_minors_and_negative_income() -> None:
    today = timezone.localdate()
    form = BorrowerForm(
        {
            "full_name": "Young",
            "national_id": "Y1",
            "date_of_birth": (today - timedelta(days=17 * 365)).isoformat(),
            "phone": "0712 345 678",
            "monthly_income": "-5",
        }
    )
    assert not form.is_valid()
    assert "at least 18" in form.errors["date_of_birth"][0]
    assert form.errors["monthly_income"] == ["The monthly income cannot be negative."]


@pytest.mark.django_db
def test_borrower_form_compares_national_ids_normalised() -> None:
    existing = BorrowerFactory(national_id="DUP1")
    data = {
        "full_name": "Twin",
        "national_id": "dup-1",
        "date_of_birth": "2020-01-01",
        "phone": "0712 345 678",
        "monthly_income": "0",
    }
    form = BorrowerForm(data)
    # Reported together with the other errors, not one round trip later.
    assert form.errors["national_id"] == [duplicate_id_message(existing)]
    assert form.duplicate == existing  # the page links to them
    assert "date_of_birth" in form.errors
    assert BorrowerForm(data | {"date_of_birth": "1980-01-01"}, instance=existing).is_valid()
    form = BorrowerForm(data | {"national_id": " - "})
    assert form.errors["national_id"] == ["Enter the national ID (letters and digits)."]


def test_service_errors_land_on_their_field_or_on_top() -> None:
    class Small(forms.Form):
        name = forms.CharField()

    form = Small({"name": "x"})
    assert form.is_valid()
    add_service_errors(form, ValidationError({"name": "taken", "other": "broken"}))
    add_service_errors(form, ValidationError("plain"))
    assert form.errors["name"] == ["taken"]
    assert form.non_field_errors() == ["broken", "plain"]


@pytest.mark.django_db
def test_filter_form_ignores_invalid_filters() -> None:
    form = LoanFilterForm({"status": "active", "submitted_from": "yesterday", "officer": "99"})
    form.is_valid()
    filters = form.filters()
    assert filters["status"] == "active"
    assert filters["submitted_from"] is None and filters["officer"] is None
    assert "submitted_from" in form.errors


@pytest.mark.django_db
def test_filter_form_refuses_an_end_before_the_start() -> None:
    start = date(2026, 3, 1)
    form = LoanFilterForm({"submitted_from": start, "submitted_to": start - timedelta(days=1)})
    assert form.errors["submitted_to"] == ["The end date is before the start date."]
