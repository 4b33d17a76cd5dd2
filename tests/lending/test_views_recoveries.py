"""The recovery page (Accountant, Admin) on a written-off loan: recorded with its receipt,
bad input next to its field with nothing written, refused on a loan not written off. The role
matrix of the page is in tests/accounts/test_url_matrix.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from lending.models import Loan, Repayment
from lending.services.loans import loan_write_off
from tests.factories import ActiveLoanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def loan(admin_user: Any) -> Loan:
    active = ActiveLoanFactory(disbursed_days_ago=40)
    return loan_write_off(loan=active, user=admin_user, reason="Gone")


def _body(**extra: str) -> dict[str, str]:
    return {
        "amount": "25.00",
        "paid_on": timezone.localdate().strftime("%d/%m/%Y"),
        "method": "cash",
        "reference": "",
        "idempotency_key": "page-key-1",
        **extra,
    }


def test_record_a_recovery(accountant_client: Client, loan: Loan) -> None:
    url = reverse("recovery_create", args=[loan.pk])
    page = accountant_client.get(url)
    assert page.status_code == 200 and 'id="recoverable"' in page.content.decode()
    response = accountant_client.post(url, _body())
    recovery = Repayment.objects.get(is_recovery=True)
    assert response.status_code == 302
    assert response["Location"] == reverse("repayment_detail", args=[recovery.pk])
    assert accountant_client.post(url, _body()).status_code == 302  # the same form again
    assert Repayment.objects.filter(is_recovery=True).count() == 1
    detail = accountant_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    row = detail[detail.index('id="adjustments-recovered"') :]
    assert "USD 25.00" in row[: row.index("</tr>")]
    assert 'id="recovery-link"' in detail
    receipt = accountant_client.get(reverse("receipt_detail", args=[recovery.receipt.number]))
    assert receipt.status_code == 200
    assert accountant_client.get(reverse("repayment_detail", args=[recovery.pk])).status_code == 200


def test_above_what_is_left_stays_on_the_form(accountant_client: Client, loan: Loan) -> None:
    url = reverse("recovery_create", args=[loan.pk])
    response = accountant_client.post(url, _body(amount=f"{loan.outstanding + 1:.2f}"))
    assert response.status_code == 200
    assert "left to recover" in response.context["form"].errors["amount"][0]
    assert not Repayment.objects.filter(is_recovery=True).exists()


def test_an_active_loan_goes_back_to_its_page(accountant_client: Client) -> None:
    active = ActiveLoanFactory(disbursed_days_ago=40)
    url = reverse("recovery_create", args=[active.pk])
    response = accountant_client.post(url, _body())
    assert response.status_code == 302
    assert not Repayment.objects.exists()


def test_an_officer_cannot_record_one(officer_client: Client, loan: Loan) -> None:
    response = officer_client.post(reverse("recovery_create", args=[loan.pk]), _body())
    assert response.status_code == 403
    assert not Repayment.objects.exists()


def test_a_recovery_is_reversed_from_its_page(accountant_client: Client, loan: Loan) -> None:
    accountant_client.post(reverse("recovery_create", args=[loan.pk]), _body())
    recovery = Repayment.objects.get(is_recovery=True)
    url = reverse("repayment_reverse", args=[recovery.pk])
    page = accountant_client.get(url).content.decode()
    assert "the loan stays written off" in page
    response = accountant_client.post(url, {"reason": "Posted to the wrong loan"})
    assert response.status_code == 302
    recovery.refresh_from_db()
    assert recovery.is_reversed
    receipt = accountant_client.get(reverse("receipt_detail", args=[recovery.receipt.number]))
    assert "Recovery receipt" in receipt.content.decode()
