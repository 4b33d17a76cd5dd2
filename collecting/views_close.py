"""The daily close page (Admin): when the close last ran, the latest runs with their progress
and results, and a button that runs it through the same service as `manage.py close_day`
(`collecting.close.day_close_start`, by way of `day_close_request`, which refuses a day
whose close is running or done)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_POST

from accounts.access import permission_required
from collecting.close import day_close_request, result_from_json
from collecting.forms import DayCloseForm
from collecting.selectors import day_close_runs, last_day_closed
from lending.forms import add_service_errors
from lending.views.borrowers import signed_in

VIEW = "collecting.view_daycloserun"
RUN = "collecting.add_daycloserun"


def _page(request: HttpRequest, form: DayCloseForm) -> HttpResponse:
    today = timezone.localdate()
    runs = day_close_runs()
    last = last_day_closed()
    context: dict[str, Any] = {
        "form": form,
        "runs": runs,
        "running": [row for row in runs if not row.finished],
        "last_closed": last,
        "today": today,
        "today_closed": last is not None and last.on >= today,
        "with_workers": bool(settings.CELERY_BROKER_URL),
    }
    return render(request, "collecting/day_close.html", context)


@require_GET
@permission_required(VIEW)
def day_close_page(request: HttpRequest) -> HttpResponse:
    return _page(request, DayCloseForm(initial={"on": timezone.localdate()}))


@require_POST
@permission_required(VIEW, RUN)
def day_close_run(request: HttpRequest) -> HttpResponse:
    """Run the close of the day given (today by default); a refusal is shown on the page,
    with nothing started."""
    form = DayCloseForm(request.POST)
    if form.is_valid():
        on = form.cleaned_data["on"]
        try:
            run = day_close_request(user=signed_in(request), on=on)
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            if run.finished_at is None:
                messages.success(
                    request, f"The close of {on:%d %b %Y} is queued: the workers are closing it."
                )
            else:
                r = result_from_json(run.result, on)
                messages.success(
                    request,
                    f"{on:%d %b %Y} is closed: {r.loans_checked:,} active loans checked, "
                    f"{r.loans_overdue:,} overdue, {r.penalties_applied:,} late penalties applied "
                    f"({settings.KARO_CURRENCY} {r.penalty_total:,.2f}).",
                )
            return redirect("day_close")
    return _page(request, form)
