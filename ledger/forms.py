"""The ledger pages' filters (read from the query string), the books-closing form and the
manual journal entry's form (date and memo) with its formset of lines.

A date the form cannot read, or one past next year, is a form error next to its field, never a
500. The account ledger's range takes the reports' own form (`reporting.forms.DateRangeForm`),
with no cap on its length: a long range is cut on the page and complete in the CSV.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, cast

from django import forms
from django.utils import timezone

from accounts.forms import OfficeChoiceField
from accounts.models import Office
from accounts.offices import only_one_office, visible_offices
from karo.inputs import DayFirstDateField, InputRulesMixin, PlainDecimalField, check_value_date
from ledger.models import Account


def _latest() -> date:
    """The latest date a filter accepts: the 1st of this month next year (like the reports)."""
    today = timezone.localdate()
    return today.replace(year=today.year + 1, day=1)


class _OneDateForm(InputRulesMixin, forms.Form):
    """One date from the query string, today when none is given."""

    field_name = "as_of"

    def __init__(self, data: Any = None, *, user: Any = None) -> None:
        if data is not None and not data.get(self.field_name) and not data.get("office"):
            data = None  # no filter given: today
        super().__init__(data, initial={self.field_name: timezone.localdate()})
        self.fields[self.field_name].required = False  # none given: today
        if user is not None and not only_one_office(user):  # one office's books, or all
            self.fields["office"] = OfficeChoiceField(
                queryset=visible_offices(user),
                required=False,
                empty_label="All my offices",
                error_messages={"invalid_choice": "Choose one of your offices."},
            )

    def office(self) -> Office | None:
        """The office chosen (call after is_valid), or None: all of the user's."""
        if not self.is_bound or "office" not in self.fields:
            return None
        return self.cleaned_data.get("office")

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        value = cleaned.get(self.field_name)
        if value is not None and value > _latest():
            self.add_error(self.field_name, f"Choose a date before {_latest():%d %b %Y}.")
        return cleaned

    def day(self) -> date:
        """The chosen date (call after is_valid), or today when nothing was given."""
        if self.is_bound and self.cleaned_data.get(self.field_name):
            return self.cleaned_data[self.field_name]
        return self.initial[self.field_name]


class AsOfForm(_OneDateForm):
    """The trial balance's date: everything dated on or before it."""

    as_of = DayFirstDateField(label="As of")


class JournalDayForm(_OneDateForm):
    """The day whose journal is shown."""

    field_name = "date"
    date = DayFirstDateField(label="Date")


class BooksCloseForm(InputRulesMixin, forms.Form):
    """Close the books through a date; the service decides whether that date may be closed
    (before today, after the current closing) and its errors come back next to the field."""

    through = DayFirstDateField(
        label="Close the books through",
        help_text="Nothing can be booked, reversed or backdated on or before this date afterwards.",
        validators=[check_value_date],
        error_messages={"required": "Enter the last day to close."},
    )


# --- Manual journal entry ----------------------------------------------------------------------

LINES_PREFIX = "lines"
DEFAULT_LINES = 4
MAX_LINES = 40


class JournalEntryForm(InputRulesMixin, forms.Form):
    """The entry's date and memo; its lines are a `line_formset()`. Whether the date may
    be booked (books open) is the service's question, answered next to the field."""

    value_date = DayFirstDateField(
        label="Date",
        validators=[check_value_date],
        error_messages={"required": "Enter the entry's date."},
    )
    memo = forms.CharField(
        label="Memo",
        max_length=300,
        help_text="What the entry is for; it is shown in the journal and every account's ledger.",
        error_messages={"required": "Say what the entry is for."},
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("initial", {"value_date": timezone.localdate()})
        super().__init__(*args, **kwargs)

    def clean_value_date(self) -> date:
        value: date = self.cleaned_data["value_date"]
        if value > _latest():
            raise forms.ValidationError(f"Choose a date before {_latest():%d %b %Y}.")
        return value


def account_choices() -> list[tuple[str | int, str]]:
    """The accounts that take entries (active, not a header), read once for every row."""
    accounts = Account.objects.filter(is_active=True, children__isnull=True).order_by("code")
    return [("", "Choose an account")] + [(a.pk, f"{a.code} {a.name}") for a in accounts]


def _amount(label: str) -> PlainDecimalField:
    return PlainDecimalField(
        label=label,
        required=False,
        max_digits=14,
        decimal_places=2,
        min_value=Decimal("0.01"),
        error_messages={
            "invalid": "Enter an amount.",
            "min_value": "Enter an amount above zero.",
            "max_decimal_places": "Amounts are in whole cents.",
            "max_digits": "The amount is too large.",
            "max_whole_digits": "The amount is too large.",
        },
    )


class JournalLineForm(InputRulesMixin, forms.Form):
    """One line: an account and either a debit or a credit. A row left blank is no line."""

    account = forms.TypedChoiceField(label="Account", coerce=int, required=False, empty_value=None)
    debit = _amount("Debit")
    credit = _amount("Credit")

    def __init__(
        self, *args: Any, choices: list[tuple[str | int, str]], number: int, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["account"]).choices = choices
        # The table's cells have no <label>: each input says what it is.
        for field in self.fields.values():
            field.widget.attrs["aria-label"] = f"{field.label}, line {number}"

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        account, debit, credit = (cleaned.get(k) for k in ("account", "debit", "credit"))
        if account is None and debit is None and credit is None:
            return cleaned
        if account is None:
            self.add_error("account", "Choose the account of this line.")
        if debit is None and credit is None:
            self.add_error("debit", "Enter a debit or a credit.")
        elif debit is not None and credit is not None:
            self.add_error("credit", "Enter a debit or a credit, not both.")
        return cleaned

    def line(self) -> tuple[int, Decimal | None, Decimal | None] | None:
        """(account id, debit, credit), or None for a blank row (after is_valid)."""
        account = self.cleaned_data.get("account")
        if account is None:
            return None
        return account, self.cleaned_data.get("debit"), self.cleaned_data.get("credit")


class BaseJournalLineFormSet(forms.BaseFormSet):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", LINES_PREFIX)
        kwargs.setdefault("form_kwargs", {"choices": account_choices()})
        super().__init__(*args, **kwargs)

    def get_form_kwargs(self, index: int | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = super().get_form_kwargs(index)
        return {**kwargs, "number": (index or 0) + 1}

    def lines(self) -> list[tuple[int, Decimal | None, Decimal | None]]:
        """The rows that are lines, in order (after is_valid)."""
        return [line for form in self.forms if (line := form.line()) is not None]


def line_formset(
    data: Any = None, *, initial: list[dict[str, Any]] | None = None, extra: int = DEFAULT_LINES
) -> BaseJournalLineFormSet:
    """The lines' formset: `extra` blank rows after the `initial` ones, at most MAX_LINES."""
    formset_class = forms.formset_factory(
        JournalLineForm,
        formset=BaseJournalLineFormSet,
        extra=max(0, min(extra, MAX_LINES - len(initial or []))),
        max_num=MAX_LINES,
        absolute_max=MAX_LINES,
        validate_max=True,
    )
    return cast(BaseJournalLineFormSet, formset_class(data, initial=initial))


def with_more_lines(data: Any, *, more: int = 2) -> tuple[JournalEntryForm, BaseJournalLineFormSet]:
    """The entry as typed so far, unbound (no errors yet), with `more` blank rows: the "add
    lines" button works without JavaScript by posting the form and getting it back longer."""
    fields = ("account", "debit", "credit")
    try:
        rows = min(int(data.get(f"{LINES_PREFIX}-TOTAL_FORMS", DEFAULT_LINES)), MAX_LINES)
    except ValueError:
        rows = DEFAULT_LINES
    initial = [{f: data.get(f"{LINES_PREFIX}-{i}-{f}", "") for f in fields} for i in range(rows)]
    form = JournalEntryForm(
        initial={"value_date": data.get("value_date", ""), "memo": data.get("memo", "")}
    )
    return form, line_formset(initial=initial, extra=more)
