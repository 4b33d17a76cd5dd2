"""Repayments: record, reverse, quote a payoff, settle early.

Every posting is one transaction that locks the loan row first (`select_for_update`), so two
cashiers posting on the same loan at once are serialised and can never lose an update. The
receipt counter and the audit chain head are two more row locks, held briefly by every
posting until it commits (that is what keeps receipt numbers gapless and the chain unforked).
The allocation rule itself lives in `lending.allocation` (pure Python, shared with the demo
seeder). The query count does not grow with the schedule length:
the unpaid installments are read in one query, allocations are inserted with `bulk_create`
and the installments saved with `bulk_update`.

Idempotency: a payment form (or an API call with an `Idempotency-Key` header) carries a
one-time key. The same key with the same request returns the repayment it created; the same
key with a different request is refused (`IdempotencyConflict`). The key is checked after
the loan lock is taken, so two simultaneous submits of one form are serialised and the
second finds the first.

Waivers: settling waives the scheduled interest that is not yet earned. The interest waived
per installment is stored on the settlement's allocation rows (`Allocation.interest_waived`),
so reversing a settlement restores exactly those amounts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, fields
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import can_record_repayment, can_reverse_repayment, require
from lending import allocation
from lending.audit import audit_record
from lending.errors import StateConflict
from lending.models import Allocation, AuditLog, Installment, Loan, Receipt, Repayment
from lending.services.loans import loan_close, loan_reopen
from lending.services.numbers import next_receipt_number
from lending.signals import loan_changed, repayment_recorded, repayment_reversed

ZERO = Decimal("0.00")
CENTS = Decimal("0.01")
PAID = Installment.Status.PAID
_PAID_FIELDS = ["penalties_paid", "fees_paid", "interest_paid", "principal_paid"]
_INSTALLMENT_FIELDS = [*_PAID_FIELDS, "status", "paid_on"]


class IdempotencyConflict(StateConflict):
    """The idempotency key was already used for a different request (another amount, date,
    loan...). Nothing is written; the client must send a new key for a new payment."""


@dataclass(frozen=True)
class PayoffQuote(allocation.Payoff):
    """A payoff quote for one loan: the breakdown of `lending.allocation.Payoff` plus what
    the loan owes in full today, so a page can show the saving."""

    loan_id: int = 0
    outstanding: Decimal = ZERO


def money(amount: Decimal) -> str:
    """An amount as staff read it in a message: "USD 1,234.56"."""
    return f"{settings.KARO_CURRENCY} {amount:,.2f}"


def request_fingerprint_for(**parts: Any) -> str:
    """A stable digest of what a request asked for; two submits of one form give the same."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- reading the schedule ---------------------------------------------------------------


def installment_due(inst: Installment) -> allocation.InstallmentDue:
    """What is still owed on an installment, per component."""
    return allocation.InstallmentDue(
        id=inst.pk,
        number=inst.number,
        due_date=inst.due_date,
        penalties=inst.penalties - inst.penalties_paid,
        fees=inst.fees - inst.fees_paid,
        interest=inst.interest - inst.interest_waived - inst.interest_paid,
        principal=inst.principal - inst.principal_paid,
    )


def _status_of(inst: Installment) -> str:
    if inst.remaining == 0:
        return Installment.Status.PAID
    if inst.paid > 0:
        return Installment.Status.PARTIAL
    return Installment.Status.DUE


def _days_past_due(oldest_unpaid_due: date | None, today: date) -> int:
    if oldest_unpaid_due is None or oldest_unpaid_due >= today:
        return 0
    return (today - oldest_unpaid_due).days


def _schedule_for_payoff(installments: list[Installment]) -> list[allocation.ScheduledInstallment]:
    return [
        allocation.ScheduledInstallment(
            due=installment_due(inst),
            principal=inst.principal,
            interest=inst.interest - inst.interest_waived,
        )
        for inst in installments
    ]


def _payoff_for(loan: Loan, installments: list[Installment], on: date) -> allocation.Payoff:
    assert loan.disbursement_date is not None
    return allocation.payoff(
        schedule=_schedule_for_payoff(installments),
        on=on,
        disbursement_date=loan.disbursement_date,
        annual_rate=loan.annual_interest_rate,
        days_in_year=loan.days_in_year,
        flat=loan.interest_method == "flat",
        principal=loan.principal,
    )


# --- checks -----------------------------------------------------------------------------


def _lock(loan_id: int) -> Loan:
    return Loan.objects.select_for_update().get(pk=loan_id)


def _require_active(loan: Loan, what: str) -> None:
    if loan.status != Loan.Status.ACTIVE:
        raise StateConflict(
            f"Loan {loan.number} is {loan.get_status_display().lower()}; {what} can only be "
            "recorded on active loans."
        )


def _check_date(loan: Loan, value: date, field: str) -> None:
    today = timezone.localdate()
    if value > today:
        raise ValidationError({field: "The payment date cannot be in the future."})
    if loan.disbursement_date is not None and value < loan.disbursement_date:
        raise ValidationError(
            {
                field: f"The payment date cannot be before the loan was disbursed "
                f"({loan.disbursement_date:%d %b %Y})."
            }
        )


def _check_payable(loan: Loan, amount: Decimal, paid_on: date) -> None:
    """A payment of `amount` on `paid_on` fits the (locked) loan."""
    _require_active(loan, "payments")
    _check_date(loan, paid_on, "paid_on")
    if amount > loan.outstanding:
        raise ValidationError(
            {
                "amount": "The amount is above the loan's outstanding balance of "
                f"{money(loan.outstanding)}."
            }
        )


def _check_method(method: str) -> None:
    if method not in Repayment.Method.values:
        choices = ", ".join(label for label in Repayment.Method.labels)
        raise ValidationError({"method": f"Choose a payment method: {choices}."})


def _clean_reference(reference: str) -> str:
    reference = (reference or "").strip()
    max_length = Repayment._meta.get_field("reference").max_length or 100
    if len(reference) > max_length:
        raise ValidationError(
            {"reference": f"The reference can be at most {max_length} characters."}
        )
    return reference


def _clean_amount(amount: Any) -> Decimal:
    if isinstance(amount, float) or not isinstance(amount, Decimal | int | str):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    try:
        value = Decimal(amount)
    except ArithmeticError:
        raise ValidationError({"amount": "Enter the amount as a number."}) from None
    if not value.is_finite():
        raise ValidationError({"amount": "Enter the amount as a number."})
    if value != value.quantize(CENTS):
        raise ValidationError({"amount": "The amount must be in whole cents."})
    if value <= 0:
        raise ValidationError({"amount": "The amount must be more than zero."})
    return value.quantize(CENTS)


def _existing_for_key(key: str | None, fingerprint: str) -> Repayment | None:
    """The repayment an earlier submit with this key created, if the request was the same."""
    if not key:
        return None
    existing = Repayment.objects.filter(idempotency_key=key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This payment form was already submitted with different details. "
            "Open a new form to record another payment."
        )
    return existing


# --- posting ------------------------------------------------------------------------------


@dataclass
class _Posted:
    repayment: Repayment
    receipt: Receipt
    allocations: list[Allocation]
    before: dict[str, str]


def _post(
    *,
    loan: Loan,
    user: User,
    installments: list[Installment],
    amount: Decimal,
    paid_on: date,
    method: str,
    reference: str,
    idempotency_key: str | None,
    fingerprint: str,
    is_settlement: bool = False,
    waivers: dict[int, Decimal] | None = None,
) -> _Posted:
    """Allocate `amount` over `installments` (the loan's unpaid ones, waivers already
    applied in memory) and write everything a posting writes except the audit entry."""
    waivers = waivers or {}
    by_id = {inst.pk: inst for inst in installments}
    try:
        lines = allocation.allocate([installment_due(i) for i in installments], amount)
    except ValueError as exc:
        raise ValidationError({"amount": str(exc)}) from exc

    before = {"total_paid": str(loan.total_paid), "outstanding": str(loan.outstanding)}
    loan.total_paid += amount
    loan.total_waived += sum(waivers.values(), ZERO)
    loan.outstanding = loan.total_repayable - loan.total_waived - loan.total_paid
    if loan.outstanding < 0:  # the checks above make this impossible; never store it
        raise ValidationError({"amount": "The payment would leave a negative balance."})

    repayment = Repayment.objects.create(
        loan=loan,
        amount=amount,
        paid_on=paid_on,
        method=method,
        reference=reference,
        is_settlement=is_settlement,
        outstanding_after=loan.outstanding,
        recorded_by=user,
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
    )
    allocated = {line.installment_id for line in lines}
    allocations = Allocation.objects.bulk_create(
        [
            Allocation(
                repayment=repayment,
                installment_id=line.installment_id,
                penalties=line.penalties,
                fees=line.fees,
                interest=line.interest,
                principal=line.principal,
                interest_waived=waivers.get(line.installment_id, ZERO),
            )
            for line in lines
        ]
        + [
            Allocation(repayment=repayment, installment_id=pk, interest_waived=waived)
            for pk, waived in waivers.items()
            if pk not in allocated and waived
        ]
    )
    changed: dict[int, Installment] = {pk: by_id[pk] for pk in waivers}
    for line in lines:
        inst = by_id[line.installment_id]
        for component in allocation.COMPONENTS:
            paid_field = f"{component}_paid"
            setattr(inst, paid_field, getattr(inst, paid_field) + getattr(line, component))
        changed[inst.pk] = inst
    for inst in installments:
        status = _status_of(inst)
        if inst.pk in changed or status != inst.status:
            # An installment with nothing to pay (a schedule can end on a 0.00 row) counts
            # as paid once a payment reaches it, so it never shows as overdue.
            inst.status = status
            inst.paid_on = paid_on if status == PAID else None
            changed[inst.pk] = inst
    update_fields = _INSTALLMENT_FIELDS + (["interest_waived"] if waivers else [])
    if len(changed) == 1:  # the usual case; bulk_update's CASE costs ten times the Python
        next(iter(changed.values())).save(update_fields=update_fields)
    else:
        Installment.objects.bulk_update(list(changed.values()), update_fields)

    oldest_unpaid = min(
        (inst.due_date for inst in installments if inst.status != PAID), default=None
    )
    loan.days_past_due = _days_past_due(oldest_unpaid, timezone.localdate())
    loan.save(
        update_fields=["total_paid", "total_waived", "outstanding", "days_past_due", "updated_at"]
    )
    receipt = Receipt.objects.create(
        repayment=repayment, number=next_receipt_number(timezone.localdate().year)
    )
    return _Posted(repayment, receipt, allocations, before)


def _allocation_details(posted: _Posted, installments: list[Installment]) -> list[dict[str, Any]]:
    numbers = {inst.pk: inst.number for inst in installments}
    return [
        {
            "installment": numbers[a.installment_id],
            **{c: str(getattr(a, c)) for c in allocation.COMPONENTS},
        }
        for a in posted.allocations
    ]


def _finish(
    *,
    loan: Loan,
    user: User,
    posted: _Posted,
    event: str,
    request: HttpRequest | None,
) -> None:
    """Close a loan that reached zero, then tell whoever listens."""
    if loan.outstanding == 0:
        loan_close(loan=loan, user=user, on=posted.repayment.paid_on, request=request)
    repayment_recorded.send(sender=Repayment, repayment=posted.repayment, loan_id=loan.pk)
    loan_changed.send(sender=Loan, loan_id=loan.pk, event=event)


def _replay_after_race(key: str | None, fingerprint: str) -> Repayment | None:
    """After a unique-key clash (two submits of one key both got past the first check), the
    winner's row is the answer when the request was the same."""
    return _existing_for_key(key, fingerprint) if key else None


def repayment_record(
    *,
    loan: Loan,
    user: User,
    amount: Decimal,
    paid_on: date,
    method: str,
    reference: str = "",
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    request: HttpRequest | None = None,
) -> Repayment:
    """Record money received against an active loan, allocate it, issue its receipt, and
    close the loan when nothing is left. Refuses (ValidationError on the field, StateConflict
    for the loan's state) with nothing written."""
    require(can_record_repayment(user), "Your role does not allow recording repayments.")
    value = _clean_amount(amount)
    reference = _clean_reference(reference)
    _check_method(method)
    fingerprint = request_fingerprint or request_fingerprint_for(
        action="repayment",
        loan=loan.pk,
        amount=str(value),
        paid_on=paid_on.isoformat(),
        method=method,
        reference=reference,
    )
    # A repeated submit is answered before queueing for the loan's lock. One that got past
    # here while the first was being recorded meets it at the key's unique index (see below),
    # or, refused because the first closed the loan or took its balance, is answered here.
    existing = _existing_for_key(idempotency_key, fingerprint)
    if existing is not None:
        return existing
    try:
        with transaction.atomic():
            loan = _lock(loan.pk)
            try:
                _check_payable(loan, value, paid_on)
            except ValidationError:
                existing = _existing_for_key(idempotency_key, fingerprint)
                if existing is not None:
                    return existing
                raise
            installments = list(
                Installment.objects.filter(loan=loan)
                .exclude(status=PAID)
                .order_by("due_date", "number")
            )
            posted = _post(
                loan=loan,
                user=user,
                installments=installments,
                amount=value,
                paid_on=paid_on,
                method=method,
                reference=reference,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
            )
            audit_record(
                action=AuditLog.Action.REPAYMENT_RECORDED,
                user=user,
                obj=posted.repayment,
                details={
                    "loan": loan.number,
                    "receipt": posted.receipt.number,
                    "amount": str(value),
                    "paid_on": paid_on,
                    "method": method,
                    "reference": reference,
                    "before": posted.before,
                    "after": {
                        "total_paid": str(loan.total_paid),
                        "outstanding": str(loan.outstanding),
                    },
                    "allocations": _allocation_details(posted, installments),
                },
                request=request,
            )
            _finish(
                loan=loan, user=user, posted=posted, event="repayment_recorded", request=request
            )
            return posted.repayment
    except IntegrityError:
        replay = _replay_after_race(idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay


def payoff_quote(*, loan: Loan, on: date) -> PayoffQuote:
    """What settling `loan` on `on` would cost, with its breakdown (one query). Quotes may be
    for a future date too; settling is only possible up to today."""
    _require_active(loan, "settlements")
    assert loan.disbursement_date is not None
    if on < loan.disbursement_date:
        raise ValidationError(
            {
                "on": "Choose a date on or after the disbursement "
                f"({loan.disbursement_date:%d %b %Y})."
            }
        )
    installments = list(Installment.objects.filter(loan=loan).order_by("due_date", "number"))
    payoff = _payoff_for(loan, installments, on)
    return PayoffQuote(
        **{f.name: getattr(payoff, f.name) for f in fields(payoff)},
        loan_id=loan.pk,
        outstanding=loan.outstanding,
    )


def loan_settle(
    *,
    loan: Loan,
    user: User,
    on: date,
    method: str,
    reference: str = "",
    idempotency_key: str | None = None,
    expected_amount: Decimal | None = None,
    request: HttpRequest | None = None,
) -> Repayment:
    """Early settlement: record the payoff amount as of `on` (a settlement repayment), waive
    the scheduled interest not yet earned, and close the loan. `expected_amount` is the figure
    the cashier quoted and collected: if the payoff differs once the loan is locked (a payment
    or a penalty came in since the quote), nothing is recorded."""
    require(can_record_repayment(user), "Your role does not allow recording repayments.")
    reference = _clean_reference(reference)
    _check_method(method)
    fingerprint = request_fingerprint_for(
        action="settlement",
        loan=loan.pk,
        on=on.isoformat(),
        method=method,
        reference=reference,
    )
    try:
        with transaction.atomic():
            loan = _lock(loan.pk)
            existing = _existing_for_key(idempotency_key, fingerprint)
            if existing is not None:
                return existing
            _require_active(loan, "settlements")
            _check_date(loan, on, "on")
            everything = list(Installment.objects.filter(loan=loan).order_by("due_date", "number"))
            quote = _payoff_for(loan, everything, on)
            if expected_amount is not None and quote.total != expected_amount:
                raise ValidationError(
                    {
                        "expected_amount": "The payoff changed since the quote: it is now "
                        f"{money(quote.total)}. Check it and settle again."
                    }
                )
            if quote.total <= 0:
                raise ValidationError(
                    {
                        "on": "Nothing but future interest is left on this loan; record the "
                        f"remaining {money(loan.outstanding)} as a payment instead."
                    }
                )
            unpaid = [inst for inst in everything if inst.status != PAID or inst.remaining]
            for inst in unpaid:
                inst.interest_waived += quote.waivers.get(inst.pk, ZERO)
            posted = _post(
                loan=loan,
                user=user,
                installments=unpaid,
                amount=quote.total,
                paid_on=on,
                method=method,
                reference=reference,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                is_settlement=True,
                waivers=quote.waivers,
            )
            if loan.outstanding != 0:  # the quote covers everything by construction
                raise StateConflict(
                    f"Settling would leave {money(loan.outstanding)}; nothing was recorded."
                )
            audit_record(
                action=AuditLog.Action.LOAN_SETTLED,
                user=user,
                obj=loan,
                details={
                    "repayment": posted.repayment.pk,
                    "receipt": posted.receipt.number,
                    "on": on,
                    "method": method,
                    "reference": reference,
                    "amount": str(quote.total),
                    "breakdown": {
                        "past_due": str(quote.past_due),
                        "principal_not_due": str(quote.principal_not_due),
                        "accrued_interest": str(quote.accrued_interest),
                        "penalties_and_fees": str(quote.penalties_and_fees),
                    },
                    "interest_waived": str(quote.interest_waived),
                    "waivers": {str(pk): str(v) for pk, v in quote.waivers.items()},
                    "before": posted.before,
                    "after": {
                        "total_paid": str(loan.total_paid),
                        "total_waived": str(loan.total_waived),
                        "outstanding": str(loan.outstanding),
                    },
                    "allocations": _allocation_details(posted, unpaid),
                },
                request=request,
            )
            _finish(loan=loan, user=user, posted=posted, event="settled", request=request)
            return posted.repayment
    except IntegrityError:
        replay = _replay_after_race(idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay


# --- reversal -----------------------------------------------------------------------------


def repayment_reverse(
    *,
    repayment: Repayment,
    user: User,
    reason: str,
    request: HttpRequest | None = None,
) -> Repayment:
    """Undo exactly one repayment's allocations (and a settlement's waivers), void its
    receipt and re-open the loan if it was closed. The repayment row stays, marked reversed."""
    require(can_reverse_repayment(user), "Your role does not allow reversing repayments.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason for the reversal."})
    with transaction.atomic():
        loan = _lock(repayment.loan_id)
        repayment = Repayment.objects.select_for_update().get(pk=repayment.pk)
        repayment.loan = loan  # the locked row: its number names the entry, no second read
        if repayment.is_reversed:
            assert repayment.reversed_at is not None
            raise StateConflict(
                f"This repayment was already reversed on {repayment.reversed_at:%d %b %Y}."
            )
        if loan.status not in (Loan.Status.ACTIVE, Loan.Status.CLOSED):
            raise StateConflict(
                f"Loan {loan.number} is {loan.get_status_display().lower()}; its repayments "
                "can no longer be reversed."
            )
        allocations = list(repayment.allocations.select_related("installment"))
        waivers = {a.installment_id: a.interest_waived for a in allocations if a.interest_waived}
        changed = {a.installment_id: a.installment for a in allocations}
        for a in allocations:
            inst = changed[a.installment_id]
            for component in allocation.COMPONENTS:
                paid_field = f"{component}_paid"
                setattr(inst, paid_field, getattr(inst, paid_field) - getattr(a, component))
        for pk, waived in waivers.items():
            changed[pk].interest_waived -= waived
        for inst in changed.values():
            assert min(getattr(inst, f) for f in [*_PAID_FIELDS, "interest_waived"]) >= 0
            inst.status = _status_of(inst)
            if inst.status != PAID:
                inst.paid_on = None
        update_fields = _INSTALLMENT_FIELDS + (["interest_waived"] if waivers else [])
        Installment.objects.bulk_update(list(changed.values()), update_fields)

        before = {
            "total_paid": str(loan.total_paid),
            "total_waived": str(loan.total_waived),
            "outstanding": str(loan.outstanding),
            "status": loan.status,
        }
        loan.total_paid -= repayment.amount
        loan.total_waived -= sum(waivers.values(), ZERO)
        loan.outstanding = loan.total_repayable - loan.total_waived - loan.total_paid
        oldest_unpaid = (
            Installment.objects.filter(loan=loan)
            .exclude(status=PAID)
            .order_by("due_date")
            .values_list("due_date", flat=True)
            .first()
        )
        loan.days_past_due = _days_past_due(oldest_unpaid, timezone.localdate())
        loan.save(
            update_fields=[
                "total_paid",
                "total_waived",
                "outstanding",
                "days_past_due",
                "updated_at",
            ]
        )
        now = timezone.now()
        repayment.reversed_at = now
        repayment.reversed_by = user  # type: ignore[assignment]
        repayment.reversal_reason = reason
        repayment.save(update_fields=["reversed_at", "reversed_by", "reversal_reason"])
        receipt_number = (
            Receipt.objects.filter(repayment=repayment).values_list("number", flat=True).first()
        )
        Receipt.objects.filter(repayment=repayment).update(voided_at=now)
        audit_record(
            action=AuditLog.Action.REPAYMENT_REVERSED,
            user=user,
            obj=repayment,
            details={
                "loan": loan.number,
                "receipt": receipt_number,
                "amount": str(repayment.amount),
                "paid_on": repayment.paid_on,
                "settlement": repayment.is_settlement,
                "interest_restored": str(sum(waivers.values(), ZERO)),
                "reason": reason,
                "before": before,
                "after": {
                    "total_paid": str(loan.total_paid),
                    "total_waived": str(loan.total_waived),
                    "outstanding": str(loan.outstanding),
                },
            },
            request=request,
        )
        if loan.status == Loan.Status.CLOSED and loan.outstanding > 0:
            loan_reopen(loan=loan, user=user, request=request)
        repayment_reversed.send(sender=Repayment, repayment=repayment, loan_id=loan.pk)
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="repayment_reversed")
    return repayment
