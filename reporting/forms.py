"""The reports' filters, read from the query string: a date range, and an office and a loan
officer (also the dashboard's)."""

from __future__ import annotations

from datetime import date
from typing import Any

from django import forms
from django.core.cache import cache
from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Office
from accounts.offices import scope, scope_key, visible_offices
from karo.inputs import DayFirstDateField, InputRulesMixin
from lending.receivers import portfolio_generation
from reporting.selectors import NO_FILTER, Narrow

OFFICER_CHOICES_SECONDS = 600

MAX_RANGE_DAYS = 366


class DateRangeForm(InputRulesMixin, forms.Form):
    """From / to, both inclusive. Defaults (when the page is opened without a filter): the
    1st of this month to today. `required=False` makes both optional (aging: all loans)."""

    date_from = DayFirstDateField(label="From", error_messages={"required": "Enter a start date."})
    date_to = DayFirstDateField(label="To", error_messages={"required": "Enter an end date."})

    def __init__(
        self,
        data: Any = None,
        *,
        required: bool = True,
        max_days: int | None = MAX_RANGE_DAYS,
        labels: tuple[str, str] | None = None,
    ) -> None:
        self.max_days = max_days
        today = timezone.localdate()
        initial = {"date_from": today.replace(day=1), "date_to": today} if required else {}
        if data is not None and not any(data.get(k) for k in ("date_from", "date_to")):
            data = None  # no filter given: show the default range
        super().__init__(data, initial=initial)
        for name in ("date_from", "date_to"):
            self.fields[name].required = required
        if labels:
            self.fields["date_from"].label, self.fields["date_to"].label = labels

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        latest = timezone.localdate().replace(year=timezone.localdate().year + 1, day=1)
        for name in ("date_from", "date_to"):
            value = cleaned.get(name)
            if value is not None and value > latest:
                self.add_error(name, f"Choose a date before {latest:%d %b %Y}.")
                cleaned.pop(name, None)
        start, end = cleaned.get("date_from"), cleaned.get("date_to")
        if start and end:
            if start > end:
                self.add_error("date_to", "The end date is before the start date.")
            elif self.max_days and (end - start).days + 1 > self.max_days:
                self.add_error("date_to", f"Choose a range of at most {self.max_days} days.")
        return cleaned

    def range(self) -> tuple[date | None, date | None]:
        """The chosen range (call after is_valid), or the defaults when nothing was given."""
        if self.is_bound:
            return self.cleaned_data.get("date_from"), self.cleaned_data.get("date_to")
        return self.initial.get("date_from"), self.initial.get("date_to")


def officer_choices(user: Any, generation: str | None = None) -> list[tuple[int, str]]:
    """The loan officers to filter by: whoever has loans assigned in the user's offices, by
    name (see `filter_choices`)."""
    return filter_choices(user, generation)[1]


def filter_choices(
    user: Any, generation: str | None = None
) -> tuple[list[Office], list[tuple[int, str]]]:
    """The user's offices (the tree's order) and the loan officers to filter by: whoever has
    loans assigned in those offices, by name. Kept together under the portfolio generation
    (`generation`, when the caller read it already; renewed by any loan, staff or office
    change, an officer's reassignment included) and the user's scope, so a cached dashboard
    reads them in one round trip and no table (two queries when missing)."""
    from django.contrib.auth.models import User

    key = f"filter_choices:{generation or portfolio_generation()}:{scope_key(user)}"
    kept = cache.get(key)
    if kept is not None:
        offices, choices = kept
        return list(offices), list(choices)
    from lending.models import Loan

    # EXISTS, not a join: joined to their loans (twice, once per filter) the officers of a
    # large portfolio were millions of rows to make distinct again.
    assigned = scope(Loan.objects.filter(officer_id=OuterRef("pk")), user)
    rows = User.objects.filter(Exists(assigned)).order_by("first_name", "last_name", "username")
    choices = [
        (u.pk, u.get_full_name() or u.get_username())
        for u in rows.only("id", "username", "first_name", "last_name")
    ]
    offices = list(visible_offices(user))
    cache.set(key, (offices, choices), OFFICER_CHOICES_SECONDS)
    return offices, choices


class PortfolioFilterForm(InputRulesMixin, forms.Form):
    """Which part of the user's portfolio the dashboard or a report shows (GET): one of their
    offices with the offices under it (offered only to a user who sees more than one) and one
    loan officer. Empty: everything they reach. The choices are read once (`filter_choices`:
    one cache read, two queries when missing): a value is checked against them, never looked
    up again."""

    officer = forms.TypedChoiceField(
        label="Officer",
        coerce=int,
        required=False,
        empty_value=None,
        error_messages={"invalid_choice": "Choose one of the officers listed."},
    )

    def __init__(self, data: Any = None, *, user: Any, generation: str | None = None) -> None:
        if not self.given(data):
            data = None  # no filter given: the whole portfolio, and no error
        super().__init__(data)
        self.offices, officers = filter_choices(user, generation)
        if len(self.offices) > 1:
            self.fields["office"] = forms.TypedChoiceField(
                label="Office",
                coerce=int,
                required=False,
                empty_value=None,
                choices=[("", "All my offices")] + [(o.pk, o.indented_name) for o in self.offices],
                error_messages={"invalid_choice": "Choose one of your offices."},
            )
            self.order_fields(["office", "officer"])
        self.fields["officer"].choices = [("", "All officers"), *officers]  # type: ignore[attr-defined]

    @staticmethod
    def given(data: Any) -> bool:
        """Whether the query string asks for an office or an officer."""
        return data is not None and any(data.get(k) for k in ("office", "officer"))

    @property
    def offices_shown(self) -> bool:
        """Whether the user sees several offices (the office filter and "By office")."""
        return "office" in self.fields

    def office_pairs(self) -> list[tuple[int, str]]:
        """(id, name) of the user's offices, for PAR by office."""
        return [(o.pk, o.name) for o in self.offices] if self.offices_shown else []

    def narrow(self) -> Narrow:
        """The chosen filter (call after is_valid); empty when unbound or invalid."""
        if not self.is_bound or not self.is_valid():
            return NO_FILTER
        office_id = self.cleaned_data.get("office")
        office = next((o for o in self.offices if o.pk == office_id), None)
        return Narrow(
            office_id=office.pk if office else None,
            office_path=office.path if office else "",
            officer_id=self.cleaned_data.get("officer"),
        )
