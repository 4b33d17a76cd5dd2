"""The Working days page (Admin): the weekly days off, the holidays, and the rescheduling of
the active loans whose due dates fall on a day off (preview, then apply as one action).

Every write goes through `lending.services.calendar`; a refusal is shown beside its field
with nothing stored."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.access import permission_required
from accounts.offices import check_office, reaches_everything, user_office_id, visible_offices
from ledger.services import closed_through
from lending.forms import add_service_errors
from lending.forms_calendar import HolidayForm, RescheduleForm, WeekdaysOffForm
from lending.models import Holiday, NonWorkingWeekday
from lending.schedule import WEEKDAY_NAMES, CalendarError
from lending.services import calendar as services
from lending.views.borrowers import signed_in

PERMISSION = services.PERMISSION
PAST_HOLIDAYS_SHOWN = 20


def _page(
    request: HttpRequest,
    *,
    weekdays_form: WeekdaysOffForm | None = None,
    holiday_form: HolidayForm | None = None,
) -> HttpResponse:
    """The page; a refused form is shown again with its errors beside its fields (200, as the
    other pages of forms do)."""
    today = timezone.localdate()
    user = request.user
    # The weekly days off of all offices and of the offices the user reaches.
    weekday_rows = list(
        NonWorkingWeekday.objects.select_related("office").filter(
            Q(office__isnull=True) | Q(office__in=visible_offices(user))
        )
    )
    mine = None if reaches_everything(user) else user_office_id(user)
    by_office: dict[Any, list[str]] = {}
    for row in weekday_rows:
        by_office.setdefault(row.office, []).append(WEEKDAY_NAMES[row.weekday])
    initial = {
        "office": mine,
        "weekdays": [row.weekday for row in weekday_rows if row.office_id == mine],
    }
    # The holidays of all offices and those of the offices the user reaches.
    holidays = Holiday.objects.select_related("office").filter(
        Q(office__isnull=True) | Q(office__in=visible_offices(user))
    )
    past = holidays.filter(date__lt=today).order_by("-date")[:PAST_HOLIDAYS_SHOWN]
    context: dict[str, Any] = {
        "weekdays_form": weekdays_form
        or WeekdaysOffForm(initial=initial, offices=visible_offices(user)),
        "weekdays_off": by_office.pop(None, []),
        "weekdays_by_office": sorted(by_office.items(), key=lambda item: item[0].path),
        "holiday_form": holiday_form or HolidayForm(offices=visible_offices(user)),
        "upcoming": list(holidays.filter(date__gte=today)),
        "past": list(past),
        "today": today,
    }
    return render(request, "lending/working_days.html", context)


@require_GET
@permission_required(PERMISSION)
def working_days(request: HttpRequest) -> HttpResponse:
    return _page(request)


@require_POST
@permission_required(PERMISSION)
def working_days_weekdays(request: HttpRequest) -> HttpResponse:
    form = WeekdaysOffForm(request.POST, offices=visible_offices(request.user))
    if form.is_valid():
        office = form.cleaned_data["office"]
        try:
            names = services.weekdays_off_set(
                user=signed_in(request),
                weekdays=form.cleaned_data["weekdays"],
                office=office,
                request=request,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        except PermissionDenied as exc:
            form.add_error("office", str(exc))
        else:
            off = ", ".join(names) if names else "none"
            where = office.name if office is not None else "all offices"
            messages.success(request, f"Weekly days off of {where} saved: {off}.")
            return redirect("working_days")
    return _page(request, weekdays_form=form)


@require_POST
@permission_required(PERMISSION)
def holiday_add(request: HttpRequest) -> HttpResponse:
    form = HolidayForm(request.POST, offices=visible_offices(request.user))
    if form.is_valid():
        data = form.cleaned_data
        try:
            added = services.holidays_add(
                user=signed_in(request),
                first=data["first"],
                last=data["last"],
                name=data["name"],
                office=data["office"],
                request=request,
            )
        except ValidationError as exc:
            add_service_errors(form, exc)
        else:
            days = f"{len(added)} days" if len(added) > 1 else f"{added[0].date:%d %b %Y}"
            messages.success(
                request,
                f"Holiday added: {added[0].name}, {days}. Loans already scheduled keep their "
                "dates until you reschedule them.",
            )
            return redirect("working_days")
    return _page(request, holiday_form=form)


@require_POST
@permission_required(PERMISSION)
def holiday_remove(request: HttpRequest, pk: int) -> HttpResponse:
    holiday = get_object_or_404(Holiday, pk=pk)
    if holiday.office_id is not None:
        check_office(request.user, holiday.office_id)  # another office's: 404
    services.holiday_remove(user=signed_in(request), holiday=holiday, request=request)
    messages.success(request, f"Holiday removed: {holiday.name}, {holiday.date:%d %b %Y}.")
    return redirect("working_days")


@require_http_methods(["GET", "POST"])
@permission_required(PERMISSION)
def loans_reschedule(request: HttpRequest) -> HttpResponse:
    """GET: the moves the calendar asks for (nothing changes). POST: apply exactly those
    (the preview's digest is posted back; when the moves changed since, nothing moves and
    the new preview is shown)."""
    form = RescheduleForm(request.POST or None)
    if request.method == "POST":
        if form.is_valid():
            try:
                result = services.loans_reschedule(
                    user=signed_in(request),
                    expected=form.cleaned_data["preview"],
                    request=request,
                )
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
            else:
                messages.success(
                    request,
                    f"{result.installments} due date{'s' if result.installments != 1 else ''} "
                    f"of {result.loans} loan{'s' if result.loans != 1 else ''} moved; "
                    f"{result.penalties_taken_back} late "
                    f"penalt{'ies' if result.penalties_taken_back != 1 else 'y'} taken back.",
                )
                return redirect("loans_reschedule")
        else:
            messages.error(request, "Look at the preview below, then apply it from this page.")
    try:
        moves = services.reschedule_moves(user=request.user)
    except CalendarError as exc:  # a calendar stored behind the services' back
        messages.error(request, str(exc))
        moves = []
    context = {
        "loans": services.group_by_loan(moves),
        "count": len(moves),
        "form": RescheduleForm(initial={"preview": services.fingerprint(moves)}),
        "closed_through": closed_through(),
        "CURRENCY": settings.KARO_CURRENCY,
    }
    return render(request, "lending/reschedule.html", context)
