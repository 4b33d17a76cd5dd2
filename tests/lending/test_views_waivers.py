"""The waiver pages (Admin): the form, the confirmation with what changes (nothing written),
the waiver, bad input next to its field, and the loan page's "Waived, written off and
recovered" section. The role matrix of the page is in tests/accounts/test_url_matrix.py."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lending.models import AuditLog, Loan, LoanTransaction
from lending.services.close_day import day_close
from tests.factories import LoanProductFactory
from tests.reporting.helpers import D, days_ago, reload, weekly_loan

pytestmark = pytest.mark.django_db


@pytest.fixture
def loan() -> Loan:
    """Installment 1 is late with a 10.00 penalty."""
    product = LoanProductFactory(penalty_type="flat", penalty_amount=D("10.00"))
    loan = weekly_loan(product=product, disbursed_days_ago=20)
    day_close(on=days_ago(12))
    return reload(loan)


def test_form_confirmation_and_waiver(admin_client: Client, loan: Loan) -> None:
    url = reverse("loan_waive", args=[loan.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert 'id="waivable"' in page.content.decode()

    body = {"penalties": "10.00", "fees": "", "interest": "", "reason": "Goodwill"}
    confirm = admin_client.post(url, body)
    assert confirm.status_code == 200
    html = confirm.content.decode()
    assert 'id="waiver-effect"' in html and 'id="confirm-waiver"' in html
    assert "1210.00" in html and "1200.00" in html  # outstanding before -> after
    assert not LoanTransaction.objects.filter(kind="waiver").exists()

    changed = admin_client.post(url, {**body, "confirmed": "True", "change": "1"})
    assert changed.status_code == 200 and 'id="confirm-waiver"' not in changed.content.decode()
    assert not LoanTransaction.objects.filter(kind="waiver").exists()

    done = admin_client.post(url, {**body, "confirmed": "True"})
    assert done.status_code == 302 and done["Location"] == reverse("loan_detail", args=[loan.pk])
    assert reload(loan).outstanding == D("1200.00")
    assert AuditLog.objects.filter(action=AuditLog.Action.CHARGES_WAIVED).count() == 1

    detail = admin_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert 'id="adjustments"' in detail
    section = detail[detail.index('id="adjustments-waived"') :]
    assert "USD 10.00" in section[: section.index("</tr>")]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"penalties": "10.01", "reason": "Goodwill"}, "penalties"),
        ({"penalties": "-1", "reason": "Goodwill"}, "penalties"),
        ({"penalties": "1.00", "reason": ""}, "reason"),
        ({"reason": "Goodwill"}, "interest"),
    ],
)
def test_bad_input_stays_on_the_form(
    admin_client: Client, loan: Loan, body: dict[str, str], field: str
) -> None:
    response = admin_client.post(reverse("loan_waive", args=[loan.pk]), body)
    assert response.status_code == 200
    assert response.context["form"].errors.get(field)
    assert not LoanTransaction.objects.filter(kind="waiver").exists()


@pytest.mark.parametrize("client_name", ["officer_client", "accountant_client"])
def test_other_roles_cannot_post_a_waiver(
    request: pytest.FixtureRequest, loan: Loan, client_name: str
) -> None:
    client: Client = request.getfixturevalue(client_name)
    body = {"penalties": "10.00", "reason": "Goodwill", "confirmed": "True"}
    response = client.post(reverse("loan_waive", args=[loan.pk]), body)
    assert response.status_code == 403
    assert not LoanTransaction.objects.filter(kind="waiver").exists()


def test_the_loan_page_links_the_waiver_for_an_admin_only(
    admin_client: Client, accountant_client: Client, loan: Loan
) -> None:
    url = reverse("loan_detail", args=[loan.pk])
    assert 'id="waive-link"' in admin_client.get(url).content.decode()
    assert 'id="waive-link"' not in accountant_client.get(url).content.decode()


def test_a_written_off_loan_goes_back_to_its_page(admin_client: Client, loan: Loan) -> None:
    from lending.services.loans import loan_write_off

    loan_write_off(loan=loan, user=loan.decided_by, reason="Gone")
    response = admin_client.get(reverse("loan_waive", args=[loan.pk]))
    assert response.status_code == 302
    page = admin_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    section = page[page.index('id="adjustments-written-off"') :]
    assert "USD 1,210.00" in section[: section.index("</tr>")]


def test_any_role_reads_the_section(officer_client: Client, loan: Loan, admin_user: Any) -> None:
    from lending.services.waivers import loan_waive

    loan_waive(loan=loan, user=admin_user, penalties="3.00", reason="Goodwill")
    page = officer_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert 'id="adjustments"' in page and 'id="waive-link"' not in page
