"""Recoveries: money received on a written-off loan (DESIGN.md, "Charges, penalties and
delinquency").

A recovery is a repayment flagged `is_recovery`: it has a receipt numbered like every payment,
an idempotency key (a form or an API retry records it once) and is reversed through the same
reversal flow. It does not pay the installments (they were written off): its loan transaction
(kind `recovery`) books the money to recoveries income (fund source Dr, recoveries income Cr).
The loan stays written off; what was recovered adds up to at most what was written off. While
a recovery is booked the write-off cannot be undone.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import can_record_repayment, require
from ledger.services import check_open, journal_post_many
from lending.audit import audit_record
from lending.errors import StateConflict
from lending.models import AuditLog, Loan, LoanTransaction, Repayment
from lending.replay import Kind
from lending.services import transactions as books
from lending.services.repayments import (
    _check_method,
    _clean_amount,
    _clean_reference,
    _existing_for_key,
    _issue_receipt,
    money,
    request_fingerprint_for,
)
from lending.signals import loan_changed, repayment_recorded

ZERO = Decimal("0.00")


def recoverable(loan: Loan) -> tuple[Decimal, Decimal, date | None]:
    """What was written off, what was recovered of it so far (live transactions), and the
    write-off's date."""
    live = LoanTransaction.objects.filter(loan=loan, reversed_at=None)
    write_off = live.filter(kind=Kind.WRITE_OFF).order_by("-id").first()
    recovered = live.filter(kind=Kind.RECOVERY).aggregate(s=Sum("amount"))["s"] or ZERO
    if write_off is None:
        return ZERO, recovered, None
    return write_off.amount, recovered, write_off.value_date


def recovery_record(
    *,
    loan: Loan,
    user: User,
    amount: Any,
    paid_on: date,
    method: str,
    reference: str = "",
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    request: HttpRequest | None = None,
) -> Repayment:
    """Record money recovered on a written-off loan (Accountant, Admin) with its receipt.
    Refused with nothing written: a loan not written off (StateConflict), an amount above what
    is left to recover, a date in the future, before the write-off or in closed books
    (ValidationError on the field)."""
    require(can_record_repayment(user), "Your role does not allow recording recoveries.")
    value = _clean_amount(amount)
    reference = _clean_reference(reference)
    _check_method(method)
    fingerprint = (
        request_fingerprint_for(action="recovery", request=request_fingerprint)
        if request_fingerprint
        else request_fingerprint_for(
            action="recovery",
            loan=loan.pk,
            amount=str(value),
            paid_on=paid_on.isoformat(),
            method=method,
            reference=reference,
        )
    )
    existing = _existing_for_key(idempotency_key, fingerprint)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            loan = Loan.objects.select_for_update().get(pk=loan.pk)
            if loan.status != Loan.Status.WRITTEN_OFF:
                raise StateConflict(
                    f"Loan {loan.number} is {loan.get_status_display().lower()}; recoveries "
                    "are recorded only on written-off loans (record a repayment instead)."
                )
            written_off, recovered, written_off_on = recoverable(loan)
            if paid_on > timezone.localdate():
                raise ValidationError({"paid_on": "The payment date cannot be in the future."})
            if written_off_on is not None and paid_on < written_off_on:
                raise ValidationError(
                    {
                        "paid_on": "A recovery cannot be dated before the write-off "
                        f"({written_off_on:%d %b %Y})."
                    }
                )
            accounts, closed_through = books.posting_setup(loan)
            check_open(paid_on, field="paid_on", through=closed_through)
            left = written_off - recovered
            if value > left:
                raise ValidationError(
                    {
                        "amount": f"At most {money(left)} is left to recover: "
                        f"{money(written_off)} was written off, {money(recovered)} recovered."
                    }
                )
            repayment = Repayment.objects.create(
                loan=loan,
                amount=value,
                paid_on=paid_on,
                method=method,
                reference=reference,
                is_recovery=True,
                outstanding_after=loan.outstanding,
                recorded_by=user,
                idempotency_key=idempotency_key or None,
                request_fingerprint=fingerprint,
            )
            txn = LoanTransaction.objects.create(
                loan=loan,
                office_id=loan.office_id,
                kind=Kind.RECOVERY,
                value_date=paid_on,
                booked_by=user,
                amount=value,
                method=method,
                repayment=repayment,
                outstanding_after=loan.outstanding,
                # After the write-off, which is booked at the end of its day: a recovery on
                # that same day must come after it when the loan is replayed.
                end_of_day=True,
            )
            journal_post_many(
                [books.entry_for(txn, books.stored_effect(txn), loan=loan, accounts=accounts)],
                user=user,
            )
            after = paid_on + timedelta(days=1)  # booked at the end of its day
            if loan.incremental_from is None or after > loan.incremental_from:
                loan.incremental_from = after
            loan.save(update_fields=["incremental_from", "updated_at"])
            receipt = _issue_receipt(repayment)
            audit_record(
                action=AuditLog.Action.RECOVERY_RECORDED,
                user=user,
                obj=repayment,
                details={
                    "loan": loan.number,
                    "receipt": receipt.number,
                    "amount": str(value),
                    "paid_on": paid_on,
                    "method": method,
                    "reference": reference,
                    "written_off": str(written_off),
                    "recovered_before": str(recovered),
                    "recovered_after": str(recovered + value),
                },
                request=request,
            )
            repayment_recorded.send(sender=Repayment, repayment=repayment, loan_id=loan.pk)
            loan_changed.send(sender=Loan, loan_id=loan.pk, event="recovery_recorded")
            return repayment
    except IntegrityError:
        again = _existing_for_key(idempotency_key, fingerprint) if idempotency_key else None
        if again is None:
            raise
        return again
