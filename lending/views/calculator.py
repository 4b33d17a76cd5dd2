"""The loan calculator: terms in, schedule and totals out, nothing stored.

A GET form, so a calculation can be bookmarked or sent to a colleague. As the terms change,
htmx asks for the `result` fragment and, out of band, each field's error slot; with
JavaScript off the "Calculate" button submits the same form.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET

from accounts.access import permission_required
from accounts.offices import user_office_id
from lending.forms import DEFAULT_TERMS, ROUNDING_FIELDS, CalculatorForm
from lending.views.borrowers import render_page

EXAMPLE = {"principal": "10000.00", "annual_interest_rate": "12"}


@permission_required("lending.view_loan")
@require_GET
def calculator(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    defaults: dict[str, Any] = {**DEFAULT_TERMS, **EXAMPLE, "disbursement_date": today}
    names = CalculatorForm.base_fields
    if any(name in request.GET for name in names):
        # Fields missing from a hand-made link take their defaults; sent fields are kept as
        # typed (an emptied field is reported as empty, not silently refilled).
        data = {name: defaults.get(name, "") for name in names}
        data.update({name: request.GET[name] for name in names if name in request.GET})
    else:
        data = {name: defaults.get(name, "") for name in names}
    form = CalculatorForm(data)
    form.office_id = user_office_id(request.user)  # the calculator uses the user's working days
    form.is_valid()
    context = {
        "form": form,
        "schedule": form.schedule if not form.errors else None,
        "rounding_fields": ROUNDING_FIELDS,
    }
    return render_page(request, "lending/calculator.html", "result", context)
