"""The portfolio summary: the dashboard's figures (`reporting.selectors.dashboard_figures`),
so the API and the dashboard can never disagree."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja import Router

from lending.api.common import user_with
from lending.api.schemas import SummaryOut, errors
from reporting.selectors import dashboard

router = Router(tags=["reports"])


@router.get("/summary", response={200: SummaryOut, **errors(401, 403)}, summary="Portfolio summary")
def summary(request: HttpRequest) -> dict[str, Any]:
    """Totals, PAR30, loans by status and the repayments of each of the last 7 days (days
    with nothing show zero), as of today."""
    user = user_with(request, "lending.view_loan")
    return {**dashboard(user=user).figures.summary(), "currency": settings.KARO_CURRENCY}
