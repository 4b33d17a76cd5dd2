"""Waivers: an Admin forgives all or part of a loan's charges (fees, penalties) or interest.

A waiver is one loan transaction (kind `waiver`, no payment behind it), dated the business
day it is given, with its lines per installment, oldest installment first within each
component. It is replayed like every transaction (`lending.replay`), with two rules of its own:

- what it waives is set aside from the start of a replay, so a payment backdated before the
  waiver never pays it (the money goes to what is still owed instead);
- a late penalty it waives is never taken back, nor charged again, by a later replay or
  daily close: it stays charged and waived.

The installments keep fees and penalties net of waivers (as if never charged) and waived
interest in `interest_waived`. Journal: nothing under cash basis (the charges were never
booked as income); under accrual basis the waived fees and penalties are taken back from
income against their receivables, and the daily close trues up the interest accrued.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import can_waive, require
from ledger.services import check_open
from lending import replay
from lending.audit import audit_record
from lending.errors import StateConflict
from lending.models import AuditLog, Installment, Loan, LoanTransaction
from lending.replay import Kind, Line, Parts, Txn
from lending.services import transactions as books
from lending.services.loans import loan_close
from lending.signals import loan_changed

ZERO = Decimal("0.00")
CENTS = Decimal("0.01")
WAIVABLE = ("penalties", "fees", "interest")  # the components, in the order they are shown
LABELS = {"penalties": "penalties", "fees": "fees", "interest": "interest"}


def money(amount: Decimal) -> str:
    return f"{settings.KARO_CURRENCY} {amount:,.2f}"


@dataclass
class WaiverResult:
    """What a waiver does (or, in a dry run, would do)."""

    loan: Loan
    amounts: dict[str, Decimal]
    lines: list[dict[str, Any]]  # per installment: its number and what is waived of it
    loan_before: dict[str, Any]
    loan_after: dict[str, Any]
    plan: books.Plan
    transaction: LoanTransaction | None = None
    dry_run: bool = True
    changes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum(self.amounts.values(), ZERO)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "transaction_id": self.transaction.pk if self.transaction else None,
            "total": str(self.total),
            **{c: str(self.amounts[c]) for c in WAIVABLE},
            "lines": self.lines,
            "loan_before": self.loan_before,
            "loan_after": self.loan_after,
            "changes": self.changes,
        }


def _clean(value: Any, name: str) -> Decimal:
    if value is None or value == "":
        return ZERO
    if isinstance(value, float) or not isinstance(value, Decimal | int | str):
        raise TypeError(f"{name} must be a Decimal, not {type(value).__name__}")
    try:
        amount = Decimal(value)
    except ArithmeticError:
        raise ValidationError({name: "Enter the amount as a number."}) from None
    if not amount.is_finite():
        raise ValidationError({name: "Enter the amount as a number."})
    if amount != amount.quantize(CENTS):
        raise ValidationError({name: "The amount must be in whole cents."})
    if amount < 0:
        raise ValidationError({name: "The amount cannot be negative."})
    return amount.quantize(CENTS)


def waivable(installment: Installment) -> Parts:
    """What is left to waive of one installment: its unpaid interest, fees and penalties."""
    return Parts(
        interest=installment.interest - installment.interest_waived - installment.interest_paid,
        fees=installment.fees - installment.fees_paid,
        penalties=installment.penalties - installment.penalties_paid,
    )


def waivable_totals(installments: list[Installment]) -> dict[str, Decimal]:
    left = sum((waivable(i) for i in installments), Parts())
    return {c: getattr(left, c) for c in WAIVABLE}


def _spread(installments: list[Installment], amounts: dict[str, Decimal]) -> tuple[Line, ...]:
    """Each component's amount over the installments, oldest first, up to what each owes."""
    lines: dict[int, Parts] = {}
    for component, amount in amounts.items():
        rest = amount
        for inst in installments:
            if rest <= 0:
                break
            take = min(getattr(waivable(inst), component), rest)
            if take <= 0:
                continue
            lines[inst.pk] = lines.get(inst.pk, Parts()) + Parts(**{component: take})
            rest -= take
    return tuple(Line(pk, parts) for pk, parts in lines.items())


def loan_waive(
    *,
    loan: Loan,
    user: User,
    reason: str,
    interest: Any = ZERO,
    fees: Any = ZERO,
    penalties: Any = ZERO,
    dry_run: bool = False,
    request: HttpRequest | None = None,
) -> WaiverResult:
    """Waive `interest`, `fees` and `penalties` (each up to what is left unpaid of it) on an
    active loan, today, with a reason (Admin). With `dry_run` nothing is written and the
    answer says what would change. Bad input is a ValidationError on its field, a loan that
    is not active a StateConflict; either way nothing is written. A loan the waiver leaves
    owing nothing closes."""
    require(can_waive(user), "Only an administrator can waive charges or interest.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason for the waiver."})
    amounts = {
        "penalties": _clean(penalties, "penalties"),
        "fees": _clean(fees, "fees"),
        "interest": _clean(interest, "interest"),
    }
    if sum(amounts.values(), ZERO) <= 0:
        raise ValidationError(
            {"interest": "Enter an amount to waive of the interest, fees or penalties."}
        )
    with transaction.atomic():
        loan = Loan.objects.select_for_update().get(pk=loan.pk)
        if loan.status != Loan.Status.ACTIVE:
            raise StateConflict(
                f"Loan {loan.number} is {loan.get_status_display().lower()}; only an active "
                "loan's charges or interest can be waived."
            )
        today = timezone.localdate()
        accounts, closed_through = books.posting_setup(loan)
        check_open(today, field="reason", through=closed_through)
        installments = list(Installment.objects.filter(loan=loan).order_by("due_date", "number"))
        left = waivable_totals(installments)
        errors = {
            c: f"At most {money(left[c])} of {LABELS[c]} is left unpaid to waive."
            for c in WAIVABLE
            if amounts[c] > left[c]
        }
        if errors:
            raise ValidationError(errors)
        lines = _spread(installments, {c: v for c, v in amounts.items() if v > 0})
        total = sum(amounts.values(), ZERO)
        txn = Txn(replay.NEW_ID, Kind.WAIVER, today, total, lines, reserved=True)
        plan = books.plan_replay(loan=loan, add=txn, today=today)
        numbers = {i.pk: i.number for i in installments}
        result = WaiverResult(
            loan=loan,
            amounts=amounts,
            lines=[
                {
                    "installment": numbers[line.installment_id],
                    **{c: str(getattr(line.parts, c)) for c in WAIVABLE},
                }
                for line in sorted(lines, key=lambda line: numbers[line.installment_id])
            ],
            loan_before=plan.loan_before,
            loan_after=plan.loan_after,
            plan=plan,
            changes=[c.as_dict() for c in plan.changes],
        )
        if dry_run:
            return result
        stored = books.store_replay(
            plan,
            user=user,
            reason=f"waiver: {reason}",
            accounts=accounts,
            new_fields={"kind": Kind.WAIVER, "value_date": today, "amount": total},
            today=today,
        )
        result.transaction = stored
        result.dry_run = False
        audit_record(
            action=AuditLog.Action.CHARGES_WAIVED,
            user=user,
            obj=loan,
            details={
                "reason": reason,
                "value_date": today,
                **{c: str(amounts[c]) for c in WAIVABLE},
                "lines": result.lines,
                "before": plan.loan_before,
                "after": plan.loan_after,
                "replay": plan.as_dict(),
            },
            request=request,
        )
        if loan.outstanding == 0:
            loan_close(loan=loan, user=user, on=today, request=request)
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="waived")
    return result
