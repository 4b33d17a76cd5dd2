"""Loan officers: reassign borrowers (with their open loans) to another officer. The write
goes through `officers_reassign`, as the page's does."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router

from lending.api.common import referenced, user_with
from lending.api.schemas import ReassignIn, ReassignOut, errors
from lending.services.officers import officers_reassign

router = Router(tags=["officers"])
BODY_FIELDS = {"officer": "officer_id", "borrowers": "borrower_ids"}


@router.post(
    "/officers/reassign",
    response={200: ReassignOut, **errors(400, 401, 403, 422)},
    summary="Reassign borrowers to a loan officer",
    description="Admin only. Borrowers already with the officer are left alone; each one moved "
    "is audited with its officer before and after and the loans that moved with it.",
)
def reassign_officers(request: HttpRequest, payload: ReassignIn) -> dict[str, Any]:
    user = user_with(request, "lending.reassign_officer")
    officer = referenced(User.objects.all(), payload.officer_id, "officer_id", "Loan officer")
    try:
        done = officers_reassign(
            user=user, officer=officer, borrower_ids=payload.borrower_ids, request=request
        )
    except ValidationError as exc:  # the service names the page's fields
        raise ValidationError(
            {BODY_FIELDS.get(k, k): v for k, v in exc.message_dict.items()}
        ) from None
    return {"officer_id": done.officer.pk, "borrowers": done.borrowers, "loans": done.loans}
