"""Repayments of a loan: record one (idempotent with an `Idempotency-Key` header), settle the
loan early, and list them. Posting is `lending.services.repayments.repayment_record` (and
`loan_settle`), the same as the cashier's pages.

Idempotency: the key is scoped to the calling user (stored as `api:<user id>:<key>`, so one
client cannot replay or block another's), and the request fingerprint is the SHA-256 of the
canonical body (loan, amount in cents, date, method, reference as sent). A retry with the
same key and body gets the same answer (201, same body, nothing new recorded, even when the
retries race); the same key with another body is a 409.
"""

from __future__ import annotations

import hashlib
import json

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Header, Query, Router
from ninja.responses import Status

from accounts.offices import reaches_everything, scope
from lending.api.common import exists_or_404, found, json_answer, page_of, user_with
from lending.api.history import repayment_answer, repayment_answers, repayment_rows
from lending.api.schemas import (
    Id,
    PageParams,
    RepaymentIn,
    RepaymentOut,
    RepaymentPage,
    SettleIn,
    errors,
)
from lending.errors import StateConflict
from lending.limits import IDEMPOTENCY_KEY_PATTERN
from lending.models import Loan, Repayment
from lending.services.repayments import IdempotencyConflict, loan_settle, repayment_record

router = Router(tags=["repayments"])


def fingerprint(loan_id: int, payload: RepaymentIn) -> str:
    """The request as sent, canonical: "12.5" and "12.50" are one amount; an omitted date
    stays omitted (so a retry the next day still matches)."""
    body = {
        "loan": loan_id,
        "amount": f"{payload.amount:.2f}",
        "paid_on": payload.paid_on.isoformat() if payload.paid_on else None,
        "method": payload.method,
        "reference": payload.reference,
    }
    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


IDEMPOTENCY_KEY = (
    "Optional; one per payment: 1 to 64 printable ASCII characters (a UUID is ideal). Keys "
    "are per user: a retry by the same user with the same key and the same body answers 201 "
    "with the payment already recorded (nothing is recorded twice, even when retries race); "
    "the same key with a different body is a 409. Another user's key of the same text is "
    "another key."
)
IDEMPOTENCY_CONFLICT = (
    "Conflict: the loan is not active (pending, closed, written off), the date is in closed "
    "books, or this user already used the Idempotency-Key for a request with a different body."
)


@router.post(
    "/loans/{id}/repayments",
    response={201: RepaymentOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Record a repayment",
    openapi_extra={"responses": {409: {"description": IDEMPOTENCY_CONFLICT}}},
)
def create_repayment(
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
    """Allocated oldest installment first (penalties, fees, interest, principal); a receipt is
    issued; the loan closes when nothing is left. 409 for a loan that is not active, or for
    an `Idempotency-Key` this user already sent with a different body (keys are per user)."""
    user = user_with(request, "lending.add_repayment")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    stored_key = f"api:{user.pk}:{idempotency_key}" if idempotency_key else None
    try:
        repayment = repayment_record(
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
    return Status(201, repayment_answer(repayment.pk))


@router.post(
    "/loans/{id}/settle",
    response={201: RepaymentOut, **errors(400, 401, 403, 404, 409, 422)},
    summary="Settle a loan early",
    openapi_extra={"responses": {409: {"description": IDEMPOTENCY_CONFLICT}}},
)
def settle_loan(
    request: HttpRequest,
    id: Id,
    payload: SettleIn,
    idempotency_key: str | None = Header(
        None,
        alias="Idempotency-Key",
        pattern=IDEMPOTENCY_KEY_PATTERN,
        description=IDEMPOTENCY_KEY,
    ),
) -> Status:
    """Record the payoff amount as of `on` (the settlement's repayment, with its receipt),
    waive the scheduled interest not earned by then, credit the interest already paid on
    installments due after it, and close the loan: `lending.services.repayments.loan_settle`,
    as the settlement page. 409 for a loan that is not active; 422 on `on` when something
    was booked on the loan after that date, and on `expected_amount` when the payoff moved."""
    user = user_with(request, "lending.add_repayment")
    loan = found(scope(Loan.objects.all(), user), id, "Loan")
    try:
        repayment = loan_settle(
            loan=loan,
            user=user,
            on=payload.on or timezone.localdate(),
            method=payload.method,
            reference=payload.reference,
            idempotency_key=f"api:{user.pk}:{idempotency_key}" if idempotency_key else None,
            expected_amount=payload.expected_amount,
            request=request,
        )
    except IdempotencyConflict:
        raise StateConflict(
            "This Idempotency-Key was already used for a different request; send a new key "
            "for a new settlement."
        ) from None
    return Status(201, repayment_answer(repayment.pk))


@router.get(
    "/loans/{id}/repayments",
    response={200: RepaymentPage, **errors(401, 403, 404, 422)},
    summary="List a loan's repayments",
)
def list_repayments(request: HttpRequest, id: Id, paging: Query[PageParams]) -> HttpResponse:
    """Newest first, reversed ones included (`reversed: true`), a page at a time (`next`
    links the following page). The same queries whatever the loan's history."""
    user = user_with(request, "lending.view_repayment")
    if not reaches_everything(user):  # another office's loan is a 404
        exists_or_404(scope(Loan.objects.all(), user), id, "Loan")
    page = page_of(request, repayment_rows(Repayment.objects.filter(loan_id=id)), paging)
    if not page["items"]:  # no rows to say the loan exists: ask (instead of the allocations)
        exists_or_404(Loan.objects.all(), id, "Loan")
    return json_answer({**page, "items": repayment_answers(page["items"])})
