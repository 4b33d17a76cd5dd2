"""Waivers (Admin) and recoveries on written-off loans (Accountant, Admin): each one call to
its service (`lending.services.waivers`, `lending.services.recoveries`), as the pages make."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router

from lending.api.common import found, user_with
from lending.api.schemas import Id, WaiveIn, WaiverOut, errors
from lending.models import Loan
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
    loan = found(Loan.objects.all(), id, "Loan")
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
