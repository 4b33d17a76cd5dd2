"""The statements a payment runs written out by hand (`karo.rows`): they read exactly what
the ORM reads."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from ledger.models import Account, BooksClosing
from lending.models import Installment, Loan, ProductAccount
from lending.services import transactions as books
from lending.services.repayments import repayment_record
from tests.factories import ActiveLoanFactory, LoanProductFactory

pytestmark = pytest.mark.django_db


def _fields(obj: object, model: type) -> dict[str, object]:
    return {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields}


def test_the_posting_lock_reads_the_loan_as_the_orm_does(accountant: User) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    loan.charges = [{"name": "Insurance", "kind": "installment", "amount": "1.50"}]
    loan.save(update_fields=["charges"])
    with transaction.atomic():
        locked = books.lock_for_posting(loan.pk, key=None)
    assert _fields(locked.loan, Loan) == _fields(Loan.objects.get(pk=loan.pk), Loan)
    assert locked.loan.charges[0]["amount"] == "1.50"  # the JSON field parsed, not text
    assert not locked.loan._state.adding  # saved with an UPDATE, as a loaded row is


def test_the_posting_lock_reads_the_accounts_the_closing_and_the_key(accountant: User) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40, product=LoanProductFactory())
    with transaction.atomic():
        plain = books.lock_for_posting(loan.pk, key="never-used")
    assert (plain.accounts, plain.closed_through) == books.posting_setup(loan)
    assert plain.accounts and not plain.key_spent

    # The product's own account for a role wins over the default; a closing is read.
    other = Account.objects.exclude(pk=plain.accounts["fund_cash"]).first()
    assert other is not None
    ProductAccount.objects.create(product_id=loan.product_id, role="fund_cash", account=other)
    closed = timezone.localdate() - timedelta(days=50)
    BooksClosing.objects.create(through=closed)
    repayment_record(
        loan=loan,
        user=accountant,
        amount=Decimal("1.00"),
        paid_on=timezone.localdate(),
        method="cash",
        idempotency_key="spent",
    )
    with transaction.atomic():
        locked = books.lock_for_posting(loan.pk, key="spent")
        unkeyed = books.lock_for_posting(loan.pk, key=None)
    assert locked.accounts["fund_cash"] == other.pk
    assert (locked.accounts, locked.closed_through) == books.posting_setup(loan)
    assert locked.closed_through == closed
    assert locked.key_spent and not unkeyed.key_spent


def test_an_unknown_loan_is_not_found() -> None:
    with transaction.atomic(), pytest.raises(Loan.DoesNotExist):
        books.lock_for_posting(987654321, key=None)


def test_unpaid_installments_are_the_orms_in_payment_order(accountant: User) -> None:
    loan = ActiveLoanFactory(installments=6, disbursed_days_ago=100)
    first = Installment.objects.filter(loan=loan).order_by("number").first()
    assert first is not None
    repayment_record(
        loan=loan,
        user=accountant,
        amount=first.remaining,
        paid_on=timezone.localdate(),
        method="cash",
    )
    expected = list(
        Installment.objects.filter(loan=loan)
        .exclude(status=Installment.Status.PAID)
        .order_by("due_date", "number")
    )
    got = books.unpaid_installments(loan)
    assert [i.number for i in got] == [i.number for i in expected] == [2, 3, 4, 5, 6]
    assert [_fields(i, Installment) for i in got] == [_fields(i, Installment) for i in expected]


def test_a_backdated_payment_reads_the_closed_date_again_after_the_lock(
    accountant: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lock's statement reads the closed-books date as of before any wait for the lock:
    a closing committed during that wait is missed there. A payment dated today cannot fall
    in closed books; an earlier one is checked against the date read afresh."""
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    lock = books.lock_for_posting

    def before_the_closing(loan_id: int, *, key: str | None) -> books.PostingLock:
        locked = lock(loan_id, key=key)
        return dataclasses.replace(locked, closed_through=None)  # read before it committed

    monkeypatch.setattr(books, "lock_for_posting", before_the_closing)
    closed = timezone.localdate() - timedelta(days=10)
    BooksClosing.objects.create(through=closed)
    with pytest.raises(ValidationError) as refused:
        repayment_record(
            loan=loan,
            user=accountant,
            amount=Decimal("1.00"),
            paid_on=closed - timedelta(days=1),
            method="cash",
        )
    assert "closed through" in str(refused.value.message_dict["paid_on"])
    assert not loan.repayments.exists()
    today = repayment_record(
        loan=loan,
        user=accountant,
        amount=Decimal("1.00"),
        paid_on=timezone.localdate(),
        method="cash",
    )
    assert today.pk is not None
