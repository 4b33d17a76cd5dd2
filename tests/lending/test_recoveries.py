"""Recoveries on written-off loans (issue 15, bullet 4; DESIGN.md "Charges, penalties and
delinquency"): a repayment flagged as a recovery, with a receipt, an idempotency key and the
usual reversal, booked to recoveries income up to what was written off; the write-off cannot
be undone while a recovery is booked."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command
from django.db.models import Sum
from django.utils import timezone

from ledger.models import JournalLine
from lending.errors import StateConflict
from lending.models import AuditLog, Loan, LoanTransaction, Receipt, Repayment
from lending.services.loans import loan_write_off, loan_write_off_undo
from lending.services.recoveries import recovery_record
from lending.services.repayments import repayment_record, repayment_reverse
from lending.services.transactions import replay_differences
from tests.factories import AccountantFactory, ActiveLoanFactory, OfficerFactory

D = Decimal
pytestmark = pytest.mark.django_db


def today() -> Any:
    return timezone.localdate()


def written_off(admin: Any) -> Loan:
    loan = ActiveLoanFactory(disbursed_days_ago=70, principal=D("1200.00"), installments=6)
    repayment_record(
        loan=loan, user=AccountantFactory(), amount=D("100.00"),
        paid_on=today() - timedelta(days=20), method="cash",
    )  # fmt: skip
    return loan_write_off(loan=loan, user=admin, reason="Borrower gone")


def balance(code: str) -> Decimal:
    lines = JournalLine.objects.filter(account__code=code).aggregate(
        d=Sum("debit"), c=Sum("credit")
    )
    return (lines["d"] or D("0")) - (lines["c"] or D("0"))


def check(loan: Loan) -> None:
    assert replay_differences(Loan.objects.get(pk=loan.pk)) == []
    call_command("check_money", stdout=StringIO())


def test_a_recovery_is_booked_to_recoveries_income(admin_user: Any) -> None:
    loan = written_off(admin_user)
    write_off = LoanTransaction.objects.get(loan=loan, kind="write_off")
    # The write-off records what was left by component.
    assert write_off.principal > 0 and write_off.interest > 0
    assert write_off.amount == write_off.principal + write_off.interest + write_off.fees + (
        write_off.penalties
    )
    cashier = AccountantFactory()
    cash_before = balance("1010")
    recovery = recovery_record(
        loan=loan, user=cashier, amount="150.00", paid_on=today(), method="cash", reference="R1"
    )
    assert recovery.is_recovery and recovery.receipt.number.startswith("RCT-")
    fresh = Loan.objects.get(pk=loan.pk)
    assert (fresh.status, fresh.total_paid, fresh.outstanding) == (
        Loan.Status.WRITTEN_OFF,
        loan.total_paid,
        loan.outstanding,
    )
    assert balance("4040") == D("-150.00")  # a credit: income
    assert balance("1010") - cash_before == D("150.00")
    txn = LoanTransaction.objects.get(kind="recovery")
    assert (txn.amount, txn.repayment_id, txn.method) == (D("150.00"), recovery.pk, "cash")
    entry = AuditLog.objects.filter(action=AuditLog.Action.RECOVERY_RECORDED).get()
    assert entry.details["amount"] == "150.00" and entry.details["recovered_after"] == "150.00"
    check(loan)


def test_the_same_key_records_one_recovery(admin_user: Any) -> None:
    loan = written_off(admin_user)
    cashier = AccountantFactory()
    args = {"loan": loan, "user": cashier, "amount": "10.00", "paid_on": today(), "method": "cash"}
    first = recovery_record(**args, idempotency_key="k-1")
    again = recovery_record(**args, idempotency_key="k-1")
    assert first == again and Repayment.objects.filter(is_recovery=True).count() == 1


def test_a_recovery_is_reversed_like_a_payment_and_the_write_off_then_undone(
    admin_user: Any,
) -> None:
    loan = written_off(admin_user)
    cashier = AccountantFactory()
    recovery = recovery_record(
        loan=loan, user=cashier, amount="50.00", paid_on=today(), method="mobile_money"
    )
    with pytest.raises(StateConflict, match="reverse the recoveries"):
        loan_write_off_undo(loan=loan, user=admin_user, reason="Found")
    repayment_reverse(repayment=recovery, user=cashier, reason="Wrong loan")
    recovery.refresh_from_db()
    assert recovery.is_reversed
    assert Receipt.objects.get(repayment=recovery).is_void
    assert balance("4040") == D("0.00")
    assert Loan.objects.get(pk=loan.pk).status == Loan.Status.WRITTEN_OFF
    check(loan)
    loan_write_off_undo(loan=loan, user=admin_user, reason="Found")
    assert Loan.objects.get(pk=loan.pk).status == Loan.Status.ACTIVE
    check(loan)


def test_a_recovery_on_an_active_loan_is_refused(admin_user: Any) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    with pytest.raises(StateConflict):
        recovery_record(
            loan=loan, user=AccountantFactory(), amount="1.00", paid_on=today(), method="cash"
        )
    assert not Repayment.objects.exists()


def test_a_recovery_above_what_was_written_off_is_refused(admin_user: Any) -> None:
    loan = written_off(admin_user)
    cashier = AccountantFactory()
    recovery_record(loan=loan, user=cashier, amount="100.00", paid_on=today(), method="cash")
    left = loan.outstanding - D("100.00")
    count = Repayment.objects.count(), AuditLog.objects.count(), JournalLine.objects.count()
    with pytest.raises(ValidationError) as exc:
        recovery_record(
            loan=loan, user=cashier, amount=left + D("0.01"), paid_on=today(), method="cash"
        )
    assert f"At most USD {left:,.2f} is left to recover" in exc.value.message_dict["amount"][0]
    assert (
        Repayment.objects.count(),
        AuditLog.objects.count(),
        JournalLine.objects.count(),
    ) == count
    recovery_record(loan=loan, user=cashier, amount=left, paid_on=today(), method="cash")
    check(loan)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"amount": "0"}, "amount"),
        ({"amount": "1.001"}, "amount"),
        ({"paid_on": "future"}, "paid_on"),
        ({"paid_on": "before"}, "paid_on"),
        ({"method": "gold"}, "method"),
    ],
)
def test_bad_input_names_the_field(admin_user: Any, kwargs: dict[str, Any], field: str) -> None:
    loan = written_off(admin_user)
    args: dict[str, Any] = {"amount": "10.00", "paid_on": today(), "method": "cash", **kwargs}
    if args["paid_on"] == "future":
        args["paid_on"] = today() + timedelta(days=1)
    elif args["paid_on"] == "before":
        args["paid_on"] = today() - timedelta(days=1)
    with pytest.raises(ValidationError) as exc:
        recovery_record(loan=loan, user=AccountantFactory(), **args)
    assert field in exc.value.message_dict
    assert not Repayment.objects.filter(is_recovery=True).exists()


def test_a_loan_officer_cannot_record_a_recovery(admin_user: Any) -> None:
    loan = written_off(admin_user)
    with pytest.raises(PermissionDenied):
        recovery_record(
            loan=loan, user=OfficerFactory(), amount="1.00", paid_on=today(), method="cash"
        )


def test_recovering_everything_in_parts_reconciles(admin_user: Any) -> None:
    loan = written_off(admin_user)
    cashier = AccountantFactory()
    first = (loan.outstanding * D("0.1")).quantize(D("0.01"))
    recovery_record(loan=loan, user=cashier, amount=first, paid_on=today(), method="cash")
    recovery_record(
        loan=loan, user=cashier, amount=loan.outstanding - first, paid_on=today(), method="cash"
    )
    check(loan)


def test_a_recovery_on_the_write_off_day_replays_after_the_write_off() -> None:
    """The write-off is booked at the end of its day (after the day's payments and the close's
    penalties); a recovery the same day must replay after it. Found by the money machine: a
    loan penalised by a late close, written off and recovered on the close's day."""
    from unittest import mock

    from lending.models import LoanProduct
    from lending.services.close_day import day_close
    from tests.factories import AdminFactory, LoanProductFactory

    start = timezone.localdate() - timedelta(days=200)
    product = LoanProductFactory(
        penalty_type=LoanProduct.PenaltyType.FLAT,
        penalty_amount=Decimal("5.00"),
        penalty_grace_days=0,
    )
    admin, cashier = AdminFactory(), AccountantFactory()
    with mock.patch("django.utils.timezone.localdate", return_value=start):
        loan = ActiveLoanFactory(
            product=product, approved_by=admin, frequency="biweekly", installments=6
        )
    day = start + timedelta(days=45)
    day_close(on=day)  # three installments late: three penalties, booked at the end of the day
    with mock.patch("django.utils.timezone.localdate", return_value=day):
        loan_write_off(loan=loan, user=admin, reason="Gone abroad.")
        recovery_record(
            loan=loan, user=cashier, amount=Decimal("100.00"), paid_on=day, method="cash"
        )
    loan.refresh_from_db()
    assert LoanTransaction.objects.filter(loan=loan, kind="charge").count() == 3
    assert replay_differences(loan) == []
