"""Waivers (Admin) and recoveries on written-off loans (Accountant, Admin): each one call to
its service (`lending.services.waivers`, `lending.services.recoveries`), as the pages make."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.utils import timezone
from ninja import Header, Router
from ninja.responses import Status

from accounts.offices import scope
from lending.api.common import found, user_with
from lending.api.history import repayment_answer
from lending.api.repayments import IDEMPOTENCY_CONFLICT, IDEMPOTENCY_KEY, fingerprint
from lending.api.schemas import Id, RepaymentIn, RepaymentOut, WaiveIn, WaiverOut, errors
from lending.errors import StateConflict
from lending.limits import IDEMPOTENCY_KEY_PATTERN
from lending.models import Loan
from lending.services.recoveries import recovery_record
from lending.services.repayments import IdempotencyConflict
from lending.services.waivers import loan_waive

router = Router(tags=["loans"])


def _only_dry_run(request: HttpRequest) -> None:
    for name in request.GET:
        if name != "dry_run":
            raise ValidationError({name: "Unknown query parameter."})


@router.post(
    "/loans/{id}/waive",
    response={200: WaiverOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Waive charges or interest (Admin; preview it with dry_run)",
)
def waive(request: HttpRequest, id: Id, payload: WaiveIn, dry_run: bool = False) -> dict[str, Any]:
    """Waive penalties, fees and interest of an active loan today, oldest installment first,
    each up to what is left unpaid of it (400 on the field above it), with a reason (400).
    With `?dry_run=true` nothing is stored and the answer is what would change. 409 for a loan
    that is not active or a day in closed books."""
    user = user_with(request, "lending.waive_loan")
    _only_dry_run(request)
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    result = loan_waive(
        loan=loan,
        user=user,
        reason=payload.reason,
        penalties=payload.penalties,
        fees=payload.fees,
        interest=payload.interest,
        dry_run=dry_run,
        request=request,
    )
    return result.as_dict()


@router.post(
    "/loans/{id}/recoveries",
    response={201: RepaymentOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Record a recovery on a written-off loan",
    tags=["repayments"],
    openapi_extra={"responses": {409: {"description": IDEMPOTENCY_CONFLICT}}},
)
def create_recovery(
    request: HttpRequest,
    id: Id,
    payload: RepaymentIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=IDEMPOTENCY_KEY,
    ),
) -> Status:
    """As a repayment (same body, receipt, `Idempotency-Key`), booked to recoveries income:
    the loan stays written off. At most what is left of the write-off (400 on `amount`); 409
    for a loan that is not written off or a key already used with another body. Reversed with
    `POST /api/repayments/{id}/reverse`."""
    user = user_with(request, "lending.add_repayment")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    stored_key = f"api:{user.pk}:{idempotency_key}" if idempotency_key else None
    try:
        recovery = recovery_record(
            loan=loan,
            user=user,
            amount=payload.amount,
            paid_on=payload.paid_on or timezone.localdate(),
            method=payload.method,
            reference=payload.reference,
            idempotency_key=stored_key,
            request_fingerprint=fingerprint(loan.pk, payload),
            request=request,
        )
    except IdempotencyConflict:
        raise StateConflict(
            "This Idempotency-Key was already used for a different request; send a new key "
            "for a new payment."
        ) from None
    return Status(201, repayment_answer(recovery.pk))
