"""The reminders outbox: every payment reminder made, with its status, newest first.

Who: Admin, Accountant and Loan Officer (`collecting.view_reminder`). DESIGN.md's matrix lets
every role view the collection sheet, and officers "follow up overdue loans": whether and
when a borrower was reminded is part of that follow-up, and the page shows no more than the
borrower and loan pages already show them. Nobody sends or edits from here; the templates are
edited in the Django admin (Admin).
"""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from accounts.access import permission_required
from accounts.offices import scope
from collecting.models import Reminder
from collecting.reminders import email_backend_name

PAGE_SIZE = 50


class OutboxFilterForm(forms.Form):
    status = forms.ChoiceField(
        choices=[("", "Any status"), *Reminder.Status.choices], required=False
    )
    channel = forms.ChoiceField(
        choices=[("", "SMS and e-mail"), *Reminder.Channel.choices], required=False
    )


@require_GET
@permission_required("collecting.view_reminder")
def reminder_outbox(request: HttpRequest) -> HttpResponse:
    """The reminders made, filtered by status and channel, 50 a page (two queries)."""
    form = OutboxFilterForm(request.GET or None)
    reminders = (
        scope(Reminder.objects.all(), request.user, "loan__office")
        .select_related("loan", "borrower")
        .order_by("-created_at", "-id")
    )
    if form.is_bound and not form.is_valid():
        reminders = reminders.none()
    elif form.is_bound:
        for name in ("status", "channel"):
            if form.cleaned_data[name]:
                reminders = reminders.filter(**{name: form.cleaned_data[name]})
    page = Paginator(reminders, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "collecting/outbox.html",
        {
            "form": form,
            "page_obj": page,
            "sms_backend": settings.KARO_SMS_BACKEND,
            "email_backend": email_backend_name(),
        },
    )
