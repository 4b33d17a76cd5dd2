"""guarantor_add / guarantor_remove / collateral_add / collateral_remove: only on a pending
application, with clear errors for bad input, atomic and audited."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError

from lending.errors import StateConflict
from lending.models import AuditLog, Loan
from lending.phones import INVALID_PHONE
from lending.services.loans import loan_approve, loan_reject
from origination.models import Collateral, Guarantor
from origination.services import (
    collateral_add,
    collateral_remove,
    guarantor_add,
    guarantor_remove,
)
from tests.factories import BorrowerFactory, LoanFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def loan(officer: User) -> Loan:
    borrower = BorrowerFactory(full_name="Amina Njoroge", national_id="AB123456")
    return LoanFactory(borrower=borrower, submitted_by=officer, principal=D("5000.00"))


def _errors(exc: pytest.ExceptionInfo[ValidationError]) -> dict[str, list[str]]:
    return exc.value.message_dict


def test_a_registered_borrower_guarantees_an_application(loan: Loan, officer2: User) -> None:
    other = BorrowerFactory(full_name="Peter Otieno")
    guarantor = guarantor_add(loan=loan, user=officer2, borrower=other, amount=D("2500.00"))
    assert guarantor.borrower == other and guarantor.name == "Peter Otieno"
    entry = AuditLog.objects.get(action="guarantor_added")
    assert entry.user == officer2
    assert entry.details == {
        "loan": loan.number,
        "after": {"borrower": other.number, "amount": "2500.00"},
    }


def test_a_named_person_guarantees_with_id_and_phone(loan: Loan, officer: User) -> None:
    guarantor = guarantor_add(
        loan=loan, user=officer, full_name=" Grace Wanjiru ", national_id="zx 99-01",
        phone="0722 111 222", amount=D("5000.00"),
    )  # fmt: skip
    assert (guarantor.full_name, guarantor.national_id, guarantor.phone) == (
        "Grace Wanjiru",
        "ZX9901",
        "+254722111222",  # E.164, like a borrower's phone
    )


def test_the_applicant_cannot_guarantee_their_own_loan(loan: Loan, officer: User) -> None:
    with pytest.raises(ValidationError) as caught:
        guarantor_add(loan=loan, user=officer, borrower=loan.borrower, amount=D("100"))
    assert _errors(caught) == {
        "borrower": [
            "Amina Njoroge is the applicant: a borrower cannot guarantee their own loan. "
            "Choose someone else."
        ]
    }
    with pytest.raises(ValidationError) as caught:
        guarantor_add(
            loan=loan, user=officer, full_name="Amina N.", national_id="ab-123456",
            phone="0722 111 222", amount=D("100"),
        )  # fmt: skip
    assert "national ID of the applicant" in _errors(caught)["national_id"][0]
    assert not Guarantor.objects.exists()
    assert not AuditLog.objects.filter(action="guarantor_added").exists()


def test_a_registered_borrower_typed_as_a_person_is_pointed_to_their_record(
    loan: Loan, officer: User
) -> None:
    other = BorrowerFactory(full_name="Peter Otieno", national_id="PO777")
    with pytest.raises(ValidationError) as caught:
        guarantor_add(
            loan=loan, user=officer, full_name="Peter", national_id="po 777", phone="0722 111 222",
            amount=D("100"),
        )  # fmt: skip
    assert _errors(caught)["national_id"] == [
        f"Peter Otieno ({other.number}) is a registered borrower with this national ID: choose "
        "them as a registered borrower instead."
    ]


@pytest.mark.parametrize(
    ("amount", "message"),
    [
        (D("0"), "The amount guaranteed must be above zero."),
        (D("-5"), "The amount guaranteed must be above zero."),
        (
            D("5000.01"),
            "The amount guaranteed cannot be more than the loan's principal, USD 5,000.00.",
        ),
        (D("10.005"), "Enter the amount guaranteed to the cent (two decimals at most)."),
        (D("NaN"), "Enter the amount guaranteed as a number, such as 1500 or 1500.50."),
        ("100", "Enter the amount guaranteed as a number, such as 1500 or 1500.50."),
    ],
)
def test_the_amount_guaranteed_is_above_zero_and_at_most_the_principal(
    loan: Loan, officer: User, amount: object, message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=amount)  # type: ignore[arg-type]
    assert _errors(caught) == {"amount": [message]}


def test_the_whole_principal_may_be_guaranteed_by_each_of_two(loan: Loan, officer: User) -> None:
    guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=D("5000.00"))
    guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=D("5000.00"))
    assert Guarantor.objects.filter(loan=loan).count() == 2


def test_a_named_person_needs_name_id_and_phone(loan: Loan, officer: User) -> None:
    with pytest.raises(ValidationError) as caught:
        guarantor_add(loan=loan, user=officer, amount=D("100"))
    assert set(_errors(caught)) == {"full_name", "national_id", "phone"}


def test_the_same_guarantor_is_not_added_twice(loan: Loan, officer: User) -> None:
    other = BorrowerFactory()
    guarantor_add(loan=loan, user=officer, borrower=other, amount=D("100"))
    with pytest.raises(ValidationError) as caught:
        guarantor_add(loan=loan, user=officer, borrower=other, amount=D("200"))
    assert "already guarantees" in _errors(caught)["borrower"][0]
    guarantor_add(
        loan=loan, user=officer, full_name="G", national_id="G1", phone="0722111222", amount=D("1")
    )
    with pytest.raises(ValidationError):
        guarantor_add(
            loan=loan,
            user=officer,
            full_name="G",
            national_id="g-1",
            phone="0722111222",
            amount=D("1"),
        )


def test_both_a_borrower_and_a_person_is_refused(loan: Loan, officer: User) -> None:
    with pytest.raises(ValidationError) as caught:
        guarantor_add(
            loan=loan, user=officer, borrower=BorrowerFactory(), full_name="X", amount=D("1")
        )
    assert "not both" in _errors(caught)["__all__"][0]


def test_guarantors_and_collateral_change_only_while_pending(
    loan: Loan, officer: User, officer2: User
) -> None:
    guarantor = guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=D("1"))
    item = collateral_add(
        loan=loan, user=officer, type="vehicle", description="KBZ 123A", value=D("9000")
    )
    loan_reject(loan=loan, user=officer2, reason="Income too low")
    with pytest.raises(StateConflict, match="only while the application is pending"):
        guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=D("1"))
    with pytest.raises(StateConflict):
        guarantor_remove(guarantor=guarantor, user=officer)
    with pytest.raises(StateConflict):
        collateral_add(loan=loan, user=officer, type="land", description="Plot", value=D("1"))
    with pytest.raises(StateConflict):
        collateral_remove(item=item, user=officer)
    assert Guarantor.objects.count() == 1 and Collateral.objects.count() == 1


def test_an_approved_loan_keeps_its_guarantors(loan: Loan, officer: User, officer2: User) -> None:
    from django.utils import timezone

    guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=D("1"))
    loan_approve(loan=loan, user=officer2, disbursement_date=timezone.localdate())
    assert loan.guarantors.count() == 1


def test_remove_is_audited_with_what_was_removed(loan: Loan, officer: User) -> None:
    guarantor = guarantor_add(
        loan=loan,
        user=officer,
        full_name="Grace",
        national_id="G1",
        phone="0722111222",
        amount=D("10"),
    )
    guarantor_remove(guarantor=guarantor, user=officer)
    assert not Guarantor.objects.exists()
    entry = AuditLog.objects.get(action="guarantor_removed")
    assert entry.details["before"] == {
        "full_name": "Grace", "national_id": "G1", "phone": "+254722111222", "amount": "10.00",
    }  # fmt: skip
    with pytest.raises(StateConflict):
        guarantor_remove(guarantor=guarantor, user=officer)


def test_collateral_is_added_and_removed_with_audit(loan: Loan, officer: User) -> None:
    item = collateral_add(
        loan=loan, user=officer, type="vehicle", description=" Toyota KBZ 123A ", value=D("7500.50")
    )
    assert item.description == "Toyota KBZ 123A"
    assert AuditLog.objects.get(action="collateral_added").details["after"] == {
        "type": "vehicle", "description": "Toyota KBZ 123A", "value": "7500.50",
    }  # fmt: skip
    collateral_remove(item=item, user=officer)
    assert not Collateral.objects.exists()
    assert AuditLog.objects.filter(action="collateral_removed").count() == 1


def test_bad_collateral_is_refused_field_by_field(loan: Loan, officer: User) -> None:
    with pytest.raises(ValidationError) as caught:
        collateral_add(loan=loan, user=officer, type="yacht", description="", value=D("0"))
    assert _errors(caught) == {
        "type": ["Choose the type of collateral."],
        "description": [
            "Describe the asset so it can be found again (registration, serial or title "
            "number, where it is)."
        ],
        "value": ["The value must be above zero."],
    }
    with pytest.raises(ValidationError) as caught:
        collateral_add(loan=loan, user=officer, type="land", description="x" * 501, value=D("1"))
    assert _errors(caught) == {"description": ["Shorten this to at most 500 characters."]}
    assert not Collateral.objects.exists()


def test_an_accountant_cannot_change_an_application(loan: Loan, accountant: User) -> None:
    with pytest.raises(PermissionDenied):
        guarantor_add(loan=loan, user=accountant, borrower=BorrowerFactory(), amount=D("1"))
    with pytest.raises(PermissionDenied):
        collateral_add(loan=loan, user=accountant, type="land", description="Plot", value=D("1"))


@pytest.mark.parametrize("typed", ["abc", "12", "+254 700 111", "0722 111 222 333 444"])
def test_a_guarantors_phone_that_is_not_a_number_is_refused_like_a_borrowers(
    loan: Loan, officer: User, typed: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        guarantor_add(
            loan=loan, user=officer, full_name="Grace", national_id="G1", phone=typed,
            amount=D("10"),
        )  # fmt: skip
    assert _errors(caught) == {"phone": [INVALID_PHONE]}
    assert not Guarantor.objects.exists()
    assert not AuditLog.objects.filter(action="guarantor_added").exists()
