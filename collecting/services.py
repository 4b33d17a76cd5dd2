"""Posting a collection sheet: each row through the one repayment service.

A sheet is not one database transaction: each row is its own posting
(`lending.services.repayments.repayment_record`, which locks the loan, checks, allocates,
issues the receipt and audits), so a refused row (a loan closed since the sheet was printed,
an amount above the balance) is listed with its reason while the others are posted.

Idempotency: every row carries a key derived from the sheet and the loan, so a sheet submitted
again (a double click, a browser retry, the back button and a resubmit, the page opened again
and posted again) finds each posted row's repayment and posts nothing twice; a row sent again
with another amount or method is refused instead of posted a second time.

- The page's sheet is the day's: a row's key is the sheet's date and the loan
  (`sheetday:<date>:<loan id>`), whatever the officer filter, the page load or the user. So a
  loan takes one payment per day through the sheet, however often the sheet is opened,
  printed, drawn for one officer or for all, or posted; collecting a second time from the
  same borrower on the same day is not a sheet's job (the loan's payment form records it).
- The API names its sheet with the client's `key`: a row's key is that key, its user and
  the loan, stored as `sheet:<user id>:<digest>`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import can_record_repayment, require
from accounts.offices import scope
from lending.audit import audit_record
from lending.errors import StateConflict
from lending.models import AuditLog, Loan, Receipt, Repayment
from lending.services.repayments import (
    IdempotencyConflict,
    repayment_record,
    request_fingerprint_for,
)

MAX_ROWS = 3000


@dataclass(frozen=True)
class SheetLine:
    """One row as submitted."""

    loan_id: int
    amount: Decimal
    method: str = Repayment.Method.CASH
    reference: str = ""


@dataclass
class LineOutcome:
    loan_id: int
    loan_number: str
    amount: Decimal
    repayment: Repayment | None = None
    already_posted: bool = False  # by an earlier submit of this sheet
    error: str = ""
    receipt_number: str = ""


@dataclass
class SheetResult:
    on: date
    outcomes: list[LineOutcome] = field(default_factory=list)

    @property
    def posted(self) -> list[LineOutcome]:
        return [o for o in self.outcomes if o.repayment is not None and not o.already_posted]

    @property
    def already_posted(self) -> list[LineOutcome]:
        return [o for o in self.outcomes if o.already_posted]

    @property
    def refused(self) -> list[LineOutcome]:
        return [o for o in self.outcomes if o.error]

    @property
    def posted_total(self) -> Decimal:
        return sum((o.amount for o in self.posted), Decimal("0.00"))


def row_key(*, user: User, sheet_key: str, loan_id: int) -> str:
    """The stored idempotency key of one sheet row (at most 66 characters)."""
    digest = hashlib.sha256(f"{sheet_key}\x1f{loan_id}".encode()).hexdigest()[:40]
    return f"sheet:{user.pk}:{digest}"


def day_row_key(*, on: date, loan_id: int) -> str:
    """The stored idempotency key of a loan's row on the page's sheet of day `on` (the same
    for every rendering of that day's sheet: see the module docstring)."""
    return f"sheetday:{on.isoformat()}:{loan_id}"


def posted_on_day_sheet(*, on: date, loan_ids: Iterable[int]) -> dict[int, Repayment]:
    """The repayments the page's sheet of day `on` already posted, by loan id (one query,
    with their receipts)."""
    keys = [day_row_key(on=on, loan_id=loan_id) for loan_id in loan_ids]
    return {
        repayment.loan_id: repayment
        for repayment in Repayment.objects.filter(idempotency_key__in=keys)
        .select_related("receipt")
        .only("id", "loan_id", "amount", "paid_on", "receipt__id", "receipt__number")
    }


def _reason(error: Exception) -> str:
    if isinstance(error, ValidationError):
        return " ".join(error.messages)
    return str(error)


def _check_lines(lines: list[SheetLine]) -> None:
    if not lines:
        raise ValidationError({"rows": "Enter at least one amount to post."})
    if len(lines) > MAX_ROWS:
        raise ValidationError({"rows": f"A sheet can post at most {MAX_ROWS} rows at once."})
    seen: set[int] = set()
    for line in lines:
        if line.loan_id in seen:
            raise ValidationError({"rows": f"Loan id {line.loan_id} appears twice on the sheet."})
        seen.add(line.loan_id)


def collection_sheet_post(
    *,
    user: User,
    sheet_key: str | None,
    on: date,
    lines: Iterable[SheetLine],
    request: HttpRequest | None = None,
) -> SheetResult:
    """Post each row of a collection sheet dated `on` (see the module docstring): the API's
    sheet named by its client's `sheet_key`, or the page's sheet of the day when `sheet_key`
    is None. The sheet as a whole is refused (ValidationError naming `date` or `rows`,
    nothing posted) when its date is in the future or its rows repeat a loan; otherwise each
    row is posted or refused on its own, with the service's reason."""
    require(can_record_repayment(user), "Your role does not allow posting collection sheets.")
    lines = list(lines)
    if on > timezone.localdate():
        raise ValidationError({"date": "A sheet dated in the future cannot be posted yet."})
    _check_lines(lines)
    # Another office's loan is "no loan with id N", as everywhere (DESIGN.md "Offices").
    loans = scope(Loan.objects.all(), user).in_bulk([line.loan_id for line in lines])
    keys = {
        line.loan_id: (
            day_row_key(on=on, loan_id=line.loan_id)
            if sheet_key is None
            else row_key(user=user, sheet_key=sheet_key, loan_id=line.loan_id)
        )
        for line in lines
    }
    earlier = set(
        Repayment.objects.filter(idempotency_key__in=list(keys.values())).values_list(
            "idempotency_key", flat=True
        )
    )
    result = SheetResult(on=on)
    for line in lines:
        loan = loans.get(line.loan_id)
        outcome = LineOutcome(
            loan_id=line.loan_id,
            loan_number=loan.number if loan else "",
            amount=line.amount,
        )
        result.outcomes.append(outcome)
        if loan is None:
            outcome.error = f"There is no loan with id {line.loan_id}."
            continue
        fingerprint = request_fingerprint_for(
            action="collection_sheet",
            loan=loan.pk,
            amount=f"{line.amount:.2f}",
            paid_on=on.isoformat(),
            method=line.method,
            reference=line.reference,
        )
        try:
            outcome.repayment = repayment_record(
                loan=loan,
                user=user,
                amount=line.amount,
                paid_on=on,
                method=line.method,
                reference=line.reference,
                idempotency_key=keys[line.loan_id],
                request_fingerprint=fingerprint,
                request=request,
            )
        except IdempotencyConflict as error:
            outcome.error = (
                _reason(error)
                if sheet_key is not None
                else f"Already posted on the sheet of {on:%d %b %Y} with another amount or "
                "method: nothing was posted again. A second payment on the same day is "
                "recorded on the loan's payment form."
            )
            continue
        except (ValidationError, StateConflict, PermissionDenied) as error:
            outcome.error = _reason(error)
            continue
        outcome.already_posted = keys[line.loan_id] in earlier
    _attach_receipts(result)
    audit_record(
        action=AuditLog.Action.COLLECTION_SHEET_POSTED,
        user=user,
        details={
            "date": on,
            "rows": len(result.outcomes),
            "posted": len(result.posted),
            "posted_total": str(result.posted_total),
            "already_posted": len(result.already_posted),
            "refused": [
                {"loan": o.loan_number or o.loan_id, "amount": str(o.amount), "reason": o.error}
                for o in result.refused[:100]
            ],
        },
        request=request,
    )
    return result


def _attach_receipts(result: SheetResult) -> None:
    """Each posted row's receipt number, read in one query for the whole sheet."""
    by_repayment = {o.repayment.pk: o for o in result.outcomes if o.repayment is not None}
    for repayment_id, number in Receipt.objects.filter(
        repayment_id__in=list(by_repayment)
    ).values_list("repayment_id", "number"):
        by_repayment[repayment_id].receipt_number = number
