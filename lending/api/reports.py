"""The portfolio summary: the dashboard's figures (`reporting.selectors.dashboard_figures`),
so the API and the dashboard can never disagree."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import HttpRequest
from ninja import Router

from accounts.models import Office
from accounts.offices import scope
from lending.api.common import user_with
from lending.api.schemas import SummaryOut, errors
from reporting.forms import officer_choices
from reporting.selectors import NO_FILTER, Narrow, dashboard

router = Router(tags=["reports"])


def _narrow(user: Any, office_id: int | None, officer_id: int | None) -> Narrow:
    """The dashboard's filter from the query: one of the user's offices (with those under
    it) and one officer with loans assigned there; anything else is a 422 on the field."""
    if office_id is None and officer_id is None:
        return NO_FILTER
    office = None
    if office_id is not None:
        office = scope(Office.objects.all(), user, "pk").filter(pk=office_id).first()
        if office is None:
            raise ValidationError({"office_id": "Choose one of your offices."})
    if officer_id is not None and officer_id not in dict(officer_choices(user)):
        raise ValidationError({"officer_id": "There is no officer with loans of yours by this id."})
    return Narrow(
        office_id=office.pk if office else None,
        office_path=office.path if office else "",
        officer_id=officer_id,
    )


@router.get(
    "/summary", response={200: SummaryOut, **errors(401, 403, 422)}, summary="Portfolio summary"
)
def summary(
    request: HttpRequest, office_id: int | None = None, officer_id: int | None = None
) -> dict[str, Any]:
    """Totals, PAR30, loans by status and the repayments of each of the last 7 days (days
    with nothing show zero), as of today. `office_id` narrows them to one of your offices and
    the offices under it, `officer_id` to the loans (and borrowers) of one loan officer."""
    user = user_with(request, "lending.view_loan")
    narrow = _narrow(user, office_id, officer_id)
    return {
        **dashboard(user=user, narrow=narrow).figures.summary(),
        "currency": settings.KARO_CURRENCY,
    }
