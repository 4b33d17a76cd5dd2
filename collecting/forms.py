"""Forms of the collections pages. They parse and convert input; the services decide."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.utils import timezone

from accounts.forms import OfficeChoiceField
from accounts.offices import only_one_office, visible_offices
from collecting.imports import FIELD_LABELS
from collecting.selectors import SheetFilters, sheet_officers
from collecting.services import SheetLine
from karo.inputs import DayFirstDateField, InputRulesMixin, PlainDecimalField, check_value_date
from lending.forms_repayments import METHOD_CHOICES

AMOUNT_PREFIX = "amount-"


class OfficerChoiceField(forms.ModelChoiceField):  # type: ignore[type-arg]
    def label_from_instance(self, obj: User) -> str:
        return obj.get_full_name() or obj.get_username()


class SheetFilterForm(InputRulesMixin, forms.Form):
    """Which sheet: the officer (all when left empty) and the date."""

    officer = OfficerChoiceField(
        queryset=User.objects.none(), required=False, empty_label="All officers"
    )
    on = DayFirstDateField(label="Due on or before", validators=[check_value_date])

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["officer"].queryset = sheet_officers(user)  # type: ignore[attr-defined]
        if user is not None and not only_one_office(user):
            self.fields["office"] = OfficeChoiceField(
                queryset=visible_offices(user),
                required=False,
                empty_label="All my offices",
                error_messages={"invalid_choice": "Choose one of your offices."},
            )
            self.order_fields(["office", "officer", "on"])

    def filters(self) -> SheetFilters:
        officer = self.cleaned_data.get("officer")
        office = self.cleaned_data.get("office")
        return SheetFilters(
            on=self.cleaned_data["on"],
            officer_id=officer.pk if officer else None,
            office_id=office.pk if office else None,
        )


def default_filters() -> SheetFilters:
    return SheetFilters(on=timezone.localdate())


class SheetPostForm(InputRulesMixin, forms.Form):
    """The sheet as submitted: its date, one method for every row, and an `amount-<loan id>`
    field per row (read by `lines`; an empty or zero amount means nothing was collected on
    that loan). It carries no key: each row's key is derived from the sheet's date and the
    loan (`collecting.services.day_row_key`), so a reloaded page posts nothing twice."""

    on = DayFirstDateField(
        label="Date paid", widget=forms.HiddenInput, validators=[check_value_date]
    )
    officer = forms.IntegerField(required=False, widget=forms.HiddenInput)
    method = forms.ChoiceField(label="Method", choices=METHOD_CHOICES)
    amount = PlainDecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        min_value=Decimal("0"),
        error_messages={
            "max_digits": "The amount is too large.",
            "max_whole_digits": "The amount is too large.",
            "max_decimal_places": "The amount must be in whole cents.",
            "min_value": "The amount cannot be negative.",
            "invalid": "Enter the amount as a number, like 1250.50.",
        },
    )  # the parser of every row's amount; the form itself has no such field

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.row_errors: dict[int, str] = {}
        self.amounts: dict[int, str] = {}
        if self.data:
            for name, value in self.data.items():
                if name.startswith(AMOUNT_PREFIX) and name[len(AMOUNT_PREFIX) :].isdigit():
                    self.amounts[int(name[len(AMOUNT_PREFIX) :])] = str(value)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        parser = self.fields["amount"]
        for loan_id, text in self.amounts.items():
            try:
                parser.clean(text)
            except ValidationError as error:
                self.row_errors[loan_id] = " ".join(error.messages)
        if self.row_errors:
            raise ValidationError(
                "Some amounts are not valid (marked below); nothing was posted.", code="rows"
            )
        return cleaned

    @property
    def paid_on(self) -> date:
        value: date = self.cleaned_data["on"]
        return value

    def lines(self) -> list[SheetLine]:
        parser = self.fields["amount"]
        method = self.cleaned_data["method"]
        lines = []
        for loan_id, text in self.amounts.items():
            amount = parser.clean(text)
            if amount:
                lines.append(SheetLine(loan_id=loan_id, amount=amount, method=method))
        return lines


class ImportUploadForm(InputRulesMixin, forms.Form):
    source = forms.CharField(
        label="Source",
        max_length=80,
        help_text="The bank or mobile-money service the file comes from; its column mapping "
        "is remembered for its next file.",
    )
    method = forms.ChoiceField(label="Method of these payments", choices=METHOD_CHOICES)
    file = forms.FileField(label="Payment file (CSV or XLSX)")


class ImportMappingForm(InputRulesMixin, forms.Form):
    """One column per field (a choice among the file's headers)."""

    def __init__(self, *args: Any, header: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        choices = [("", "—"), *[(h, h) for h in header]]
        for name, label in FIELD_LABELS.items():
            self.fields[name] = forms.ChoiceField(
                label=label, choices=choices, required=name in ("paid_on", "amount")
            )

    def mapping(self) -> dict[str, str]:
        return {name: value for name, value in self.cleaned_data.items() if value}


class DayCloseForm(InputRulesMixin, forms.Form):
    """The day the Admin closes from the daily close page (today unless one was missed)."""

    on = DayFirstDateField(
        label="Day to close",
        validators=[check_value_date],
        help_text="Today, unless a day was missed. A day in the future cannot be closed.",
        error_messages={"required": "Enter the day to close."},
    )
