"""factory-boy factories. Loans are made through the services, so they obey the same rules
(numbers, audit entries, stored schedules) as loans made through the pages."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import factory
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group, User
from django.utils import timezone

from accounts.roles import ACCOUNTANT, ADMIN, LOAN_OFFICER
from lending.models import Borrower, Loan, LoanProduct
from lending.services.borrowers import borrower_create
from lending.services.loans import loan_approve, loan_submit

PASSWORD = "correct-horse-battery"
# Hashing once keeps the suite fast; the hasher itself is tested in tests/accounts.
_PASSWORD_HASH: str | None = None


def _password_hash() -> str:
    global _PASSWORD_HASH
    if _PASSWORD_HASH is None:
        _PASSWORD_HASH = make_password(PASSWORD)
    return _PASSWORD_HASH


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    first_name = factory.Faker("first_name")
    last_name = factory.Faker("last_name")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.org")
    password = factory.LazyFunction(_password_hash)

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        _add_role(self, create, extracted)


def _add_role(user: User, create: bool, role: str | None) -> None:
    if create and role:
        user.groups.add(Group.objects.get(name=role))


class AdminFactory(UserFactory):
    username = factory.Sequence(lambda n: f"admin{n}")
    is_staff = True

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        _add_role(self, create, extracted or ADMIN)


class OfficerFactory(UserFactory):
    username = factory.Sequence(lambda n: f"officer{n}")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        _add_role(self, create, extracted or LOAN_OFFICER)


class AccountantFactory(UserFactory):
    username = factory.Sequence(lambda n: f"accountant{n}")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: Any) -> None:
        _add_role(self, create, extracted or ACCOUNTANT)


class LoanProductFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LoanProduct
        django_get_or_create = ["name"]

    name = factory.Sequence(lambda n: f"Product {n}")
    min_principal = Decimal("100.00")
    max_principal = Decimal("1000000.00")
    max_interest_rate = Decimal("60")
    max_installments = 480


class BorrowerFactory(factory.Factory):
    """Built through `borrower_create` (numbered and audited like a real one)."""

    class Meta:
        model = Borrower

    full_name = factory.Faker("name")
    national_id = factory.Sequence(lambda n: f"ID{n:08d}")
    date_of_birth = date(1985, 6, 15)
    phone = factory.Sequence(lambda n: f"+2547{n:08d}")
    email = factory.Sequence(lambda n: f"borrower{n}@example.org")
    address = "12 Market Street"
    employer = "Self-employed"
    monthly_income = Decimal("1500.00")

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Borrower:
        user = kwargs.pop("created_by", None) or OfficerFactory()
        return borrower_create(user=user, **kwargs)


class LoanFactory(factory.Factory):
    """A pending application, submitted through `loan_submit`."""

    class Meta:
        model = Loan

    borrower = factory.SubFactory(BorrowerFactory)
    product = None
    principal = Decimal("5000.00")
    annual_interest_rate = Decimal("12.0000")
    installments = 12
    frequency = "monthly"
    interest_method = "declining"
    amortization = "equal_installments"
    grace_periods = 0
    first_due_date = None
    installment_multiple = Decimal("0.01")
    installment_rounding = "nearest"
    interest_period = "per_period"
    days_in_year = 365

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Loan:
        user = kwargs.pop("submitted_by", None) or OfficerFactory()
        return loan_submit(user=user, **kwargs)


class ActiveLoanFactory(LoanFactory):
    """An approved loan, disbursed `disbursed_days_ago` days ago (default today)."""

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Loan:
        approver = kwargs.pop("approved_by", None) or AdminFactory()
        days_ago = kwargs.pop("disbursed_days_ago", 0)
        disbursement_date = kwargs.pop("disbursement_date", None) or (
            timezone.localdate() - timedelta(days=days_ago)
        )
        loan = super()._create(model_class, *args, **kwargs)
        return loan_approve(loan=loan, user=approver, disbursement_date=disbursement_date)
