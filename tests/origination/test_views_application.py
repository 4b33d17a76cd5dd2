"""The approver's page (the loan page while pending) and the guarantor and collateral forms:
who may use them, clear errors, nothing written on bad input, a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal as D
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lending.models import AuditLog, Loan
from lending.services.loans import loan_reject
from lending.services.repayments import repayment_record
from origination.models import Collateral, Guarantor
from origination.services import collateral_add, document_upload, guarantor_add
from tests.factories import ActiveLoanFactory, BorrowerFactory, LoanFactory
from tests.origination.helpers import upload

pytestmark = pytest.mark.django_db


@pytest.fixture
def loan(officer: User) -> Loan:
    borrower = BorrowerFactory(
        full_name="Amina Njoroge", national_id="AB123456", monthly_income=D("1850.00")
    )
    return LoanFactory(borrower=borrower, submitted_by=officer, principal=D("5000.00"))


def _page(client: Client, loan: Loan) -> str:
    response = client.get(reverse("loan_detail", args=[loan.pk]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_approver_sees_income_other_loans_exposure_guarantors_collateral_and_documents(
    officer2_client: Client, loan: Loan, officer: User, admin_user: User
) -> None:
    borrower = loan.borrower
    earlier = ActiveLoanFactory(
        borrower=borrower, submitted_by=officer, principal=D("3000.00"), installments=6,
        disbursed_days_ago=40,
    )  # fmt: skip
    repayment_record(
        loan=earlier, user=admin_user, amount=earlier.schedule.get(number=1).total,
        paid_on=timezone.localdate() - timedelta(days=5), method="cash",
    )  # fmt: skip
    paid_principal = earlier.schedule.get(number=1).principal
    LoanFactory(borrower=borrower, submitted_by=officer, principal=D("700.00"))
    guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(full_name="Peter Otieno"),
                  amount=D("2500.00"))  # fmt: skip
    guarantor_add(loan=loan, user=officer, full_name="Grace Wanjiru", national_id="GW1",
                  phone="+254 722 111 222", amount=D("1000.00"))  # fmt: skip
    collateral_add(loan=loan, user=officer, type="vehicle", description="Toyota KBZ 123A",
                   value=D("7200.00"))  # fmt: skip
    document_upload(borrower=borrower, user=officer, kind="payslip", file=upload("may.pdf"))
    html = _page(officer2_client, loan)
    assert "Before the decision" in html
    assert "USD 1,850.00" in html  # income
    owed = D("3000.00") - paid_principal
    assert f"USD {owed:,}" in html  # principal still owed on the active loan
    assert f"USD {owed + D('5000.00'):,}" in html  # total exposure
    assert earlier.number in html
    assert "Also pending: 1 other application of this borrower for USD 700.00" in html, html[
        html.index("Before the decision") : html.index("Other loans of")
    ]
    for text in ["Peter Otieno", "Grace Wanjiru", "GW1", "USD 2,500.00", "Toyota KBZ 123A",
                 "USD 7,200.00", "may.pdf"]:  # fmt: skip
        assert text in html, text
    # The file comes before the decision forms.
    assert html.index("Before the decision") < html.index('id="decision"')


def test_the_first_loan_says_so_and_exposure_is_the_application(
    officer2_client: Client, loan: Loan
) -> None:
    html = _page(officer2_client, loan)
    assert "This is the borrower's first loan." in html
    assert "No guarantors." in html and "No collateral." in html and "No documents yet." in html


@pytest.mark.parametrize("role", ["admin", "officer"])
def test_officers_and_admins_get_the_controls(
    request: pytest.FixtureRequest, loan: Loan, role: str
) -> None:
    html = _page(request.getfixturevalue(f"{role}_client"), loan)
    assert reverse("guarantor_add", args=[loan.pk]) in html
    assert reverse("collateral_add", args=[loan.pk]) in html
    assert reverse("document_upload", args=[loan.borrower_id]) in html


def test_an_accountant_sees_the_file_without_controls(
    accountant_client: Client, loan: Loan, officer: User
) -> None:
    guarantor = guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=D("1"))
    html = _page(accountant_client, loan)
    assert "Before the decision" in html
    assert reverse("guarantor_add", args=[loan.pk]) not in html
    assert reverse("guarantor_remove", args=[loan.pk, guarantor.pk]) not in html
    for name in ["guarantor_add", "collateral_add"]:
        url = reverse(name, args=[loan.pk])
        assert accountant_client.get(url).status_code == 403
        assert accountant_client.post(url, {}).status_code == 403
    remove = reverse("guarantor_remove", args=[loan.pk, guarantor.pk])
    assert accountant_client.post(remove).status_code == 403
    assert Guarantor.objects.count() == 1


def test_add_a_registered_borrower_as_guarantor_by_number(
    officer_client: Client, loan: Loan
) -> None:
    other = BorrowerFactory(full_name="Peter Otieno")
    response = officer_client.post(
        reverse("guarantor_add", args=[loan.pk]),
        {"who": "borrower", "borrower": other.number.lower(), "amount": "2500"},
        follow=True,
    )
    html = response.content.decode()
    assert "Peter Otieno is added as a guarantor." in html
    assert Guarantor.objects.get().borrower == other


def test_add_a_named_person_as_guarantor(officer_client: Client, loan: Loan) -> None:
    response = officer_client.post(
        reverse("guarantor_add", args=[loan.pk]),
        {"who": "person", "full_name": "Grace Wanjiru", "national_id": "GW 1",
         "phone": "0722 111 222", "amount": "1000.50"},
    )  # fmt: skip
    assert response.status_code == 302
    guarantor = Guarantor.objects.get()
    assert (guarantor.national_id, guarantor.phone) == ("GW1", "+254722111222")


def test_the_applicant_as_guarantor_is_refused_on_the_page(
    officer_client: Client, loan: Loan
) -> None:
    response = officer_client.post(
        reverse("guarantor_add", args=[loan.pk]),
        {"who": "borrower", "borrower": loan.borrower.national_id, "amount": "100"},
    )
    html = response.content.decode()
    assert response.status_code == 200
    assert "Nothing was saved" in html
    assert "Amina Njoroge is the applicant: a borrower cannot guarantee their own loan." in html
    assert not Guarantor.objects.exists()
    assert not AuditLog.objects.filter(action="guarantor_added").exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"who": "borrower", "borrower": "", "amount": "1"},
         "Enter the guarantor&#x27;s borrower number or national ID."),
        ({"who": "borrower", "borrower": "B-999999", "amount": "1"},
         "No registered borrower has this number or national ID."),
        ({"who": "person", "amount": "1"}, "Enter the guarantor&#x27;s full name."),
        ({"who": "person", "full_name": "G", "national_id": "G1", "phone": "abc", "amount": "1"},
         "Enter a valid phone number, for example +254 712 345 678"),
        ({"who": "person", "full_name": "G", "national_id": "G1", "phone": "0722 111 222",
          "amount": "1e3"},
         "Enter the amount guaranteed as a number, such as 1500 or 1500.50."),
        ({"who": "person", "full_name": "G", "national_id": "G1", "phone": "0722 111 222",
          "amount": "5000.01"},
         "The amount guaranteed cannot be more than the loan&#x27;s principal, USD 5,000.00."),
        ({"who": "person", "full_name": "G\x01x", "national_id": "G1", "phone": "0722 111 222",
          "amount": "1"}, "Remove the control characters"),
    ],
)  # fmt: skip
def test_bad_guarantor_input_is_named_and_nothing_is_saved(
    officer_client: Client, loan: Loan, data: dict[str, str], message: str
) -> None:
    response = officer_client.post(reverse("guarantor_add", args=[loan.pk]), data)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert not Guarantor.objects.exists()


def test_add_and_remove_collateral_on_the_page(officer_client: Client, loan: Loan) -> None:
    response = officer_client.post(
        reverse("collateral_add", args=[loan.pk]),
        {"type": "land", "description": "Plot 12, Kiambu, title KBU/123", "value": "25000"},
        follow=True,
    )
    assert "Land or building is added as collateral." in response.content.decode()
    item = Collateral.objects.get()
    response = officer_client.post(
        reverse("collateral_remove", args=[loan.pk, item.pk]), follow=True
    )
    assert "Land or building is no longer collateral." in response.content.decode()
    assert not Collateral.objects.exists()


def test_bad_collateral_input_is_named(officer_client: Client, loan: Loan) -> None:
    response = officer_client.post(
        reverse("collateral_add", args=[loan.pk]), {"type": "", "description": "", "value": "0"}
    )
    html = response.content.decode()
    for message in ["Choose the type of collateral.",
                    "Describe the asset so it can be found again.",
                    "The value must be above zero."]:  # fmt: skip
        assert message in html
    assert not Collateral.objects.exists()


def test_a_decided_application_cannot_change_and_shows_its_record(
    officer_client: Client, officer2: User, loan: Loan, officer: User
) -> None:
    guarantor = guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=D("9"))
    loan_reject(loan=loan, user=officer2, reason="Income too low")
    add = reverse("guarantor_add", args=[loan.pk])
    response = officer_client.get(add, follow=True)
    assert "can be changed only while the application is pending" in response.content.decode()
    response = officer_client.post(
        reverse("guarantor_remove", args=[loan.pk, guarantor.pk]), follow=True
    )
    assert "only while the application is pending" in response.content.decode()
    assert Guarantor.objects.count() == 1
    html = _page(officer_client, loan)
    assert "Guarantors and collateral" in html and "Before the decision" not in html
    assert reverse("guarantor_remove", args=[loan.pk, guarantor.pk]) not in html


def test_another_loans_guarantor_is_a_404(
    officer_client: Client, loan: Loan, officer: User
) -> None:
    other_loan = LoanFactory(submitted_by=officer)
    guarantor = guarantor_add(loan=other_loan, user=officer, borrower=BorrowerFactory(),
                              amount=D("1"))  # fmt: skip
    url = reverse("guarantor_remove", args=[loan.pk, guarantor.pk])
    assert officer_client.post(url).status_code == 404
    assert Guarantor.objects.count() == 1


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_the_decision_page_runs_a_fixed_number_of_queries(
    officer2_client: Client, loan: Loan, officer: User, admin_user: User,
    django_assert_num_queries: Any,
) -> None:  # fmt: skip
    """However many other loans, guarantors, collateral and documents: the same queries."""
    url = reverse("loan_detail", args=[loan.pk])
    _queries(officer2_client, url)  # fill the page's caches
    few = _queries(officer2_client, url)
    borrower = loan.borrower
    for i in range(3):
        ActiveLoanFactory(borrower=borrower, submitted_by=officer, principal=D("1000"),
                          approved_by=admin_user)  # fmt: skip
        LoanFactory(borrower=borrower, submitted_by=officer)
        guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=D("10"))
        guarantor_add(loan=loan, user=officer, full_name=f"P{i}", national_id=f"P{i}",
                      phone="0722 111 222", amount=D("10"))  # fmt: skip
        collateral_add(loan=loan, user=officer, type="other", description=f"Item {i}",
                       value=D("100"))  # fmt: skip
        document_upload(borrower=borrower, user=officer, kind="other", file=upload(f"d{i}.pdf"))
    _queries(officer2_client, url)
    with django_assert_num_queries(few):
        html = officer2_client.get(url).content.decode()
    assert html.count("Item ") == 3 and "USD 8,000.00" in html  # 3 x 1,000 owed + 5,000


def test_the_application_file_adds_at_most_seven_queries(
    officer2_client: Client, loan: Loan, django_assert_max_num_queries: Any
) -> None:
    from django.template import Context, Template
    from django.test import RequestFactory

    request = RequestFactory().get("/")
    request.user = loan.submitted_by
    template = Template("{% load origination %}{% application_file_section loan %}")
    with django_assert_max_num_queries(7):
        template.render(Context({"loan": loan, "request": request}))
