"""The pages of disbursement as its own step (issue 16, bullet 4): the approve form of a
product that disburses separately, the disbursement page, the undo pages, each asking for
confirmation before it posts; bad input shown next to its field with nothing written."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from lending.models import AuditLog, Loan, LoanTransaction
from lending.services.loans import loan_approve, loan_disburse
from lending.services.repayments import repayment_record
from tests.factories import AccountantFactory, LoanFactory, LoanProductFactory, OfficerFactory

pytestmark = pytest.mark.django_db
D = Decimal


def _application(**kwargs: Any) -> Loan:
    product = LoanProductFactory(name="Two-step", disburse_on_approval=False)
    return LoanFactory(product=product, principal=D("5000.00"), **kwargs)


def _approved(amount: str = "4000.00") -> Loan:
    return loan_approve(loan=_application(), user=OfficerFactory(), approved_amount=D(amount))


def _written() -> tuple[int, int]:
    return AuditLog.objects.count(), LoanTransaction.objects.count()


def _date(days: int = 0) -> str:
    return (timezone.localdate() + timedelta(days=days)).strftime("%d/%m/%Y")


def _dated(data: dict[str, str | int]) -> dict[str, str]:
    """A parametrized form with its dates given as days from today, made dates when the test
    runs (not when it is collected: a run that crosses midnight would test yesterday)."""
    return {k: _date(v) if isinstance(v, int) else v for k, v in data.items()}


def test_approver_sees_the_approval_form_of_a_separate_product(officer2_client: Client) -> None:
    loan = _application()
    page = officer2_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert 'name="approved_amount"' in page and 'name="expected_disbursement_date"' in page
    assert 'name="disbursement_date"' not in page
    assert "hands no money over" in page
    assert 'data-confirm="Approve loan' in page  # approving asks first


def test_approve_form_of_a_default_product_asks_too(officer2_client: Client) -> None:
    loan = LoanFactory(product=LoanProductFactory())
    page = officer2_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert 'name="disbursement_date"' in page
    assert "and disburse" in page.split('action="/loans/')[1]


def test_approving_a_separate_product_leaves_it_approved(officer2_client: Client) -> None:
    loan = _application()
    response = officer2_client.post(
        reverse("loan_approve", args=[loan.pk]),
        {"approved_amount": "4500.00", "expected_disbursement_date": _date(2)},
        follow=True,
    )
    loan.refresh_from_db()
    assert (loan.status, loan.approved_amount) == (Loan.Status.APPROVED, D("4500.00"))
    assert "an accountant hands the money over" in response.content.decode()
    assert "Waiting for disbursement" in response.content.decode()


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"approved_amount": "5000.01", "expected_disbursement_date": 0}, "at most the"),
        ({"approved_amount": "4000.00", "expected_disbursement_date": -1}, "before today"),
        ({"approved_amount": "4000.00", "expected_disbursement_date": "01/01/1999"}, "2000"),
        ({"approved_amount": "", "expected_disbursement_date": 0}, "required"),
    ],
)
def test_bad_approval_shows_on_its_field(
    officer2_client: Client, data: dict[str, str | int], words: str
) -> None:
    data = _dated(data)
    loan = _application()
    before = _written()
    response = officer2_client.post(reverse("loan_approve", args=[loan.pk]), data)
    assert response.status_code == 200
    assert words in response.content.decode()
    assert _written() == before
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING


def test_who_sees_the_disburse_button(
    accountant_client: Client, officer_client: Client, admin_client: Client
) -> None:
    loan = _approved()
    url = reverse("loan_detail", args=[loan.pk])
    disburse = reverse("loan_disburse", args=[loan.pk])
    assert disburse in accountant_client.get(url).content.decode()
    assert disburse not in officer_client.get(url).content.decode()
    admin_page = admin_client.get(url).content.decode()
    assert disburse in admin_page and reverse("loan_approval_undo", args=[loan.pk]) in admin_page


def test_disbursement_page_confirms_and_disburses(accountant_client: Client) -> None:
    loan = _approved()
    url = reverse("loan_disburse", args=[loan.pk])
    page = accountant_client.get(url).content.decode()
    assert "4,000.00" in page and 'data-confirm="Disburse' in page
    response = accountant_client.post(
        url,
        {"amount": "3900.00", "disbursement_date": _date(), "method": "cash", "reference": "V-1"},
        follow=True,
    )
    loan.refresh_from_db()
    assert (loan.status, loan.principal, loan.disbursement_reference) == (
        Loan.Status.ACTIVE,
        D("3900.00"),
        "V-1",
    )
    assert "is disbursed and active" in response.content.decode()
    history = response.content.decode()
    assert "Loan disbursed" in history and "Loan approved" in history
    assert "USD 4,000.00" in history  # the approved amount, as money


@pytest.mark.parametrize(
    ("data", "words"),
    [
        ({"amount": "4000.01", "disbursement_date": 0}, "approved for 4,000.00"),
        ({"amount": "4000.00", "disbursement_date": -1}, "cannot be dated before"),
        ({"amount": "4000.00", "disbursement_date": 1}, "future"),
        ({"amount": "4000.00", "disbursement_date": "01/01/1999"}, "2000"),
        ({"amount": "abc", "disbursement_date": 0}, "number"),
    ],
)
def test_bad_disbursement_shows_on_its_field(
    accountant_client: Client, data: dict[str, str | int], words: str
) -> None:
    data = _dated(data)
    loan = _approved()
    before = _written()
    response = accountant_client.post(
        reverse("loan_disburse", args=[loan.pk]), {**data, "method": "cash"}
    )
    assert response.status_code == 200
    assert words in response.content.decode()
    assert _written() == before
    loan.refresh_from_db()
    assert loan.status == Loan.Status.APPROVED


def test_officer_may_not_disburse(officer_client: Client) -> None:
    loan = _approved()
    url = reverse("loan_disburse", args=[loan.pk])
    assert officer_client.get(url).status_code == 403
    before = _written()
    response = officer_client.post(url, {"amount": "4000.00", "disbursement_date": _date()})
    assert response.status_code == 403
    assert _written() == before


def test_disbursing_a_pending_loan_goes_back_with_the_reason(accountant_client: Client) -> None:
    loan = _application()
    response = accountant_client.get(reverse("loan_disburse", args=[loan.pk]), follow=True)
    assert "only approved loans are disbursed" in response.content.decode()


def test_undo_approval_page(admin_client: Client) -> None:
    loan = _approved()
    url = reverse("loan_approval_undo", args=[loan.pk])
    page = admin_client.get(url).content.decode()
    assert "goes back to pending" in page and "data-confirm" in page
    before = _written()
    blank = admin_client.post(url, {"undo-reason": ""})
    assert "Give a reason for undoing the approval." in blank.content.decode()
    assert _written() == before
    done = admin_client.post(url, {"undo-reason": "Income not verified"}, follow=True)
    assert "its approval is undone" in done.content.decode()
    loan.refresh_from_db()
    assert loan.status == Loan.Status.PENDING


def test_undo_disbursement_page(admin_client: Client, admin_user: Any) -> None:
    loan = loan_disburse(loan=_approved(), user=admin_user, method="cash")
    url = reverse("loan_disbursement_undo", args=[loan.pk])
    assert (
        reverse("loan_disbursement_undo", args=[loan.pk])
        in admin_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    )
    done = admin_client.post(url, {"undo-reason": "Paid to the wrong account"}, follow=True)
    assert "its disbursement is undone" in done.content.decode()
    loan.refresh_from_db()
    assert loan.status == Loan.Status.APPROVED


def test_undo_disbursement_refused_once_repaid(admin_client: Client, admin_user: Any) -> None:
    loan = loan_disburse(loan=_approved(), user=admin_user, method="cash")
    repayment_record(
        loan=loan, user=AccountantFactory(), amount=D("10.00"),
        paid_on=timezone.localdate(), method="cash",
    )  # fmt: skip
    before = _written()
    url = reverse("loan_disbursement_undo", args=[loan.pk])
    response = admin_client.post(url, {"undo-reason": "Mistake"}, follow=True)
    assert "only transaction" in response.content.decode()
    assert _written() == before


def test_undo_pages_are_for_admins_only(accountant_client: Client, officer_client: Client) -> None:
    loan = _approved()
    for client in (accountant_client, officer_client):
        response = client.post(reverse("loan_approval_undo", args=[loan.pk]), {"undo-reason": "x"})
        assert response.status_code == 403


def test_own_application_refusal_names_colleagues(officer: Any, officer_client: Client) -> None:
    OfficerFactory(username="colleague", first_name="Cole", last_name="League")
    loan = _application(submitted_by=officer)
    response = officer_client.post(
        reverse("loan_approve", args=[loan.pk]),
        {"approved_amount": "5000.00", "expected_disbursement_date": _date()},
    )
    assert response.status_code == 403
    assert "Cole League (colleague)" in response.content.decode()
