"""The loan calculator: every role, schedule and totals, live updates, nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lending.models import AuditLog, Loan

pytestmark = pytest.mark.django_db
HTMX = {"HTTP_HX_REQUEST": "true"}
URL = "/calculator/"

FLAT_EXAMPLE = {
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


def test_address_is_stable() -> None:
    assert reverse("calculator") == URL


def test_every_role_may_use_the_calculator(role_client: Any) -> None:
    _, client = role_client
    response = client.get(URL)
    assert response.status_code == 200
    assert response.context["schedule"] is not None  # an example schedule on first visit


def test_anonymous_users_go_to_the_login_page(client: Client) -> None:
    response = client.get(URL)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))


def test_post_is_not_allowed(officer_client: Client) -> None:
    assert officer_client.post(URL, FLAT_EXAMPLE).status_code == 405


def test_calculator_shows_the_worked_example_and_stores_nothing(
    officer_client: Client, django_assert_max_num_queries: Any
) -> None:
    with django_assert_max_num_queries(9):  # + 1: the products to choose from (their fees)
        response = officer_client.get(URL, FLAT_EXAMPLE)
    html = response.content.decode()
    assert html.count(">328.00<") == 17 and ">324.00<" in html
    assert "900.00" in html and "5,900.00" in html
    assert not Loan.objects.exists() and not AuditLog.objects.filter(object_type="loan").exists()


def test_terms_update_the_schedule_as_they_change(officer_client: Client) -> None:
    html = officer_client.get(URL).content.decode()
    assert 'hx-trigger="change, input delay:400ms"' in html
    assert 'hx-target="#calc-result"' in html and 'method="get"' in html
    response = officer_client.get(URL, FLAT_EXAMPLE, **HTMX)
    fragment = response.content.decode()
    assert fragment.lstrip().startswith('<section id="calc-result"')
    assert "<html" not in fragment and ">328.00<" in fragment


def test_htmx_errors_refresh_each_field_out_of_band(officer_client: Client) -> None:
    data = FLAT_EXAMPLE | {"principal": "abc", "installments": "481"}
    fragment = officer_client.get(URL, data, **HTMX).content.decode()
    assert '<div id="errors-principal" class="field-errors" hx-swap-oob="true">' in fragment
    assert "Enter the principal as a number" in fragment
    assert "from 1 to 480" in fragment
    # Fields without an error are cleared out of band too.
    assert '<div id="errors-annual_interest_rate" class="field-errors" hx-swap-oob="true">' in (
        fragment
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("principal", "ten", "Enter the principal as a number"),
        ("principal", "-1", "The principal must be more than zero."),
        ("installments", "0", "from 1 to 480"),
        ("installments", "481", "from 1 to 480"),
        ("annual_interest_rate", "%", "Enter the interest rate as a number"),
        ("first_due_date", "2024-01-01", "after the disbursement"),
        ("disbursement_date", "someday", "Enter the disbursement date as dd/mm/yyyy"),
    ],
)
def test_bad_terms_are_shown_next_to_the_field(
    officer_client: Client, field: str, value: str, message: str
) -> None:
    response = officer_client.get(URL, FLAT_EXAMPLE | {field: value})
    assert response.status_code == 200
    assert response.context["schedule"] is None
    assert any(message in e for e in response.context["form"].errors[field])
    html = response.content.decode()
    assert f'id="errors-{field}"' in html and message.split(" as ")[0] in html


def test_a_partial_link_fills_in_the_defaults(officer_client: Client) -> None:
    response = officer_client.get(URL, {"principal": "1200", "installments": "6"})
    schedule = response.context["schedule"]
    assert schedule is not None and len(schedule.installments) == 6
    assert schedule.total_principal == 1200


def test_month_end_due_dates(accountant_client: Client) -> None:
    data = FLAT_EXAMPLE | {"disbursement_date": "2023-12-31", "installments": "4"}
    html = accountant_client.get(URL, data).content.decode()
    for day in ("Wed 31 Jan 2024", "Thu 29 Feb 2024", "Sun 31 Mar 2024", "Tue 30 Apr 2024"):
        assert day in html


def test_480_weekly_installments(officer_client: Client) -> None:
    data = FLAT_EXAMPLE | {
        "installments": "480",
        "frequency": "weekly",
        "interest_method": "declining",
    }
    response = officer_client.get(URL, data)
    assert len(response.context["schedule"].installments) == 480
