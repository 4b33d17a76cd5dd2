"""Forms for the lending pages: they convert and check input; the services decide and write.

Errors a service raises (`ValidationError({"field": ...})`) are put back on the form next to
the field they name with `add_service_errors`, so the page shows them the same way as the
form's own errors, and nothing is written.
"""

from __future__ import annotations

import json
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from accounts.forms import OfficeChoiceField
from accounts.offices import scope, user_office_id, visible_offices
from karo.inputs import DayFirstDateField, InputRulesMixin, PlainDecimalField, check_value_date
from lending.charges import with_fees
from lending.limits import (
    ADDRESS_MAX_LENGTH,
    NOTES_MAX_LENGTH,
    REASON_MAX_LENGTH,
    SEARCH_MAX_LENGTH,
)
from lending.models import (
    AMORTIZATION_CHOICES,
    DAYS_IN_YEAR_CHOICES,
    DUE_DATE_RULE_CHOICES,
    FREQUENCY_CHOICES,
    INSTALLMENT_ROUNDING_CHOICES,
    INTEREST_METHOD_CHOICES,
    INTEREST_PERIOD_CHOICES,
    Borrower,
    Loan,
    LoanProduct,
    Repayment,
)
from lending.phones import normalise_phone
from lending.schedule import MAX_INSTALLMENTS, MINOR_UNIT, DueDateRule, Schedule
from lending.selectors.calendar import working_calendar
from lending.selectors.loans import loan_officers
from lending.services.borrowers import (
    ADULT_AGE,
    BORROWER_FIELDS,
    MONTHLY_INCOME_MAX,
    OLDEST_AGE,
    DuplicateNationalId,
    check_adult,
    check_full_name,
    check_monthly_income,
    check_national_id_free,
)
from lending.services.loans import (
    TERM_FIELDS,
    check_product_limits,
    due_date_rule_for,
    fees_for,
    preview_schedule,
    product_charge_terms,
)


def add_service_errors(form: forms.BaseForm, exc: ValidationError) -> None:
    """Show a service's ValidationError on the form: next to the field it names when the form
    has that field, at the top of the form otherwise."""
    if hasattr(exc, "error_dict"):
        for name, errors in exc.error_dict.items():
            target = name if name in form.fields else None
            for error in errors:
                form.add_error(target, error)
    else:
        form.add_error(None, exc)


def error_text(exc: ValidationError) -> str:
    """One sentence for a message banner (transition errors are shown on the loan page)."""
    return " ".join(dict.fromkeys(exc.messages))


# --- Borrowers --------------------------------------------------------------------------------


class BorrowerForm(InputRulesMixin, forms.ModelForm):
    """Registration and edit form. The national ID is compared normalised (by the service's
    own check, which the service repeats under its transaction), not by ModelForm's plain
    unique lookup, which would miss "AB 12" against "AB12". The address and notes, stored at
    any length, take as much as the API does (`lending.limits`)."""

    duplicate: Borrower | None = None  # who already has the national ID typed, if anyone

    address = forms.CharField(
        required=False,
        max_length=ADDRESS_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    notes = forms.CharField(
        required=False,
        max_length=NOTES_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    class Meta:
        model = Borrower
        fields = BORROWER_FIELDS
        field_classes = {"monthly_income": PlainDecimalField, "date_of_birth": DayFirstDateField}
        widgets = {
            "phone": forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
            "national_id": forms.TextInput(attrs={"autocomplete": "off"}),
        }
        help_texts = {
            "national_id": "Spaces, dashes and letter case are ignored: AB 123-45 = AB12345.",
            "date_of_birth": f"Borrowers must be {ADULT_AGE} to {OLDEST_AGE} years old.",
            "phone": "With the country code (+254 712 345 678), or as dialled in the country.",
            "monthly_income": "Zero if unknown.",
        }
        error_messages = {
            "full_name": {"required": "Enter the borrower's full name."},
            "national_id": {"required": "Enter the national ID."},
            "date_of_birth": {
                "required": "Enter the date of birth.",
                "invalid": "Enter the date of birth as dd/mm/yyyy, for example 31/05/1990.",
            },
            "phone": {"required": "Enter a phone number."},
            "monthly_income": {
                "invalid": "Enter the monthly income as a number, such as 1500 or 1500.50.",
                "min_value": "The monthly income cannot be negative.",
            },
        }

    def __init__(self, *args: Any, offices: Any = None, **kwargs: Any) -> None:
        """`offices`: the offices a new borrower may be registered in, offered as a choice
        (None: no choice, the registering user's office)."""
        super().__init__(*args, **kwargs)
        if offices is not None:
            self.fields["office"] = forms.ModelChoiceField(
                queryset=offices,
                required=False,
                empty_label="My office",
                help_text="The office the borrower belongs to: it sees and serves them.",
                error_messages={"invalid_choice": "Choose one of your offices."},
            )
        today = timezone.localdate()
        latest = date(today.year - ADULT_AGE, today.month, 28 if today.day > 28 else today.day)
        self.fields["date_of_birth"].widget.attrs["max"] = latest.isoformat()
        self.fields["monthly_income"].widget.attrs.update(
            {"min": "0", "max": str(MONTHLY_INCOME_MAX), "step": "0.01"}
        )

    def clean_national_id(self) -> str:
        value: str = self.cleaned_data["national_id"]
        if not Borrower.normalise_national_id(value):
            raise ValidationError("Enter the national ID (letters and digits).")
        try:
            check_national_id_free(value, exclude_pk=self.instance.pk)
        except DuplicateNationalId as exc:
            self.duplicate = exc.borrower  # the page links to them
            raise ValidationError(exc.message_dict["national_id"]) from exc
        return value

    def clean_date_of_birth(self) -> date:
        value: date = self.cleaned_data["date_of_birth"]
        try:
            # A borrower registered long ago may be past the oldest age now: only a new date
            # of birth is held to it (as the service does).
            check_adult(value, oldest=value != self.instance.date_of_birth)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["date_of_birth"]) from exc
        return value

    def clean_full_name(self) -> str:
        value: str = self.cleaned_data["full_name"]
        try:
            check_full_name(value)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["full_name"]) from exc
        return value

    def clean_phone(self) -> str:
        """Stored in E.164; a number without its country code is one of KARO_PHONE_REGION."""
        return normalise_phone(self.cleaned_data["phone"])

    def clean_monthly_income(self) -> Decimal:
        value: Decimal = self.cleaned_data["monthly_income"]
        try:
            check_monthly_income(value)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["monthly_income"]) from exc
        return value

    def validate_unique(self) -> None:
        """Replaced by `clean_national_id` (see the class docstring)."""


# --- Loan terms -------------------------------------------------------------------------------

DEFAULT_TERMS: dict[str, Any] = {
    "installments": 12,
    "frequency": "monthly",
    "interest_method": "declining",
    "amortization": "equal_installments",
    "grace_periods": 0,
    "installment_multiple": Decimal("0.01"),
    "installment_rounding": "nearest",
    "interest_period": "per_period",
    "days_in_year": 365,
}
PRODUCT_DEFAULT_FIELDS = [
    "frequency",
    "interest_method",
    "amortization",
    "grace_periods",
    "installment_multiple",
    "installment_rounding",
    "interest_period",
    "days_in_year",
]
ROUNDING_FIELDS = [
    "installment_multiple",
    "installment_rounding",
    "interest_period",
    "days_in_year",
]


def product_defaults(product: LoanProduct, current: dict[str, Any]) -> dict[str, Any]:
    """The terms a product starts an application from. The principal and the number of
    installments the officer typed are kept when they fit the product's limits."""
    terms = {name: getattr(product, name) for name in PRODUCT_DEFAULT_FIELDS}
    # "18", not "18.0000": the form shows what an officer would type.
    terms["annual_interest_rate"] = format(product.default_interest_rate.normalize(), "f")
    try:
        n = int(current.get("installments") or 0)
    except (TypeError, ValueError):
        n = 0
    if not product.min_installments <= n <= product.max_installments:
        n = min(
            max(DEFAULT_TERMS["installments"], product.min_installments), product.max_installments
        )
    terms["installments"] = n
    return terms


def _number_messages(label: str, example: str) -> dict[str, str]:
    return {
        "required": f"Enter the {label}.",
        "invalid": f"Enter the {label} as a number, such as {example}.",
        "max_digits": f"The {label} is too large.",
        "max_whole_digits": f"The {label} is too large.",
    }


class LoanTermsForm(InputRulesMixin, forms.Form):
    """Loan terms as typed by a person: numbers are checked here, the schedule rules by the
    engine (via `preview_schedule`), whose errors land next to the field they concern."""

    principal = PlainDecimalField(
        max_digits=14,
        decimal_places=2,
        min_value=MINOR_UNIT,
        error_messages={
            **_number_messages("principal", "5000 or 5000.50"),
            "min_value": "The principal must be more than zero.",
            "max_decimal_places": "The principal must be in whole cents (two decimals at most).",
        },
    )
    annual_interest_rate = PlainDecimalField(
        label="Annual interest rate (%)",
        max_digits=7,
        decimal_places=4,
        min_value=Decimal("0"),
        error_messages={
            **_number_messages("interest rate", "12 or 12.5"),
            "min_value": "The interest rate cannot be negative.",
            "max_decimal_places": "Give the rate with at most four decimals.",
        },
    )
    installments = forms.IntegerField(
        label="Number of installments",
        min_value=1,
        max_value=MAX_INSTALLMENTS,
        error_messages={
            "required": "Enter the number of installments.",
            "invalid": "Enter the number of installments as a whole number, such as 12.",
            "min_value": f"The number of installments must be from 1 to {MAX_INSTALLMENTS}.",
            "max_value": f"The number of installments must be from 1 to {MAX_INSTALLMENTS}.",
        },
    )
    frequency = forms.ChoiceField(label="Repayment frequency", choices=FREQUENCY_CHOICES)
    interest_method = forms.ChoiceField(choices=INTEREST_METHOD_CHOICES)
    amortization = forms.ChoiceField(choices=AMORTIZATION_CHOICES)
    grace_periods = forms.IntegerField(
        label="Principal grace periods",
        required=False,
        min_value=0,
        max_value=MAX_INSTALLMENTS - 1,
        help_text="Interest-only installments at the start.",
        error_messages={
            "invalid": "Enter the grace periods as a whole number (0 for none).",
            "min_value": "The grace periods cannot be negative.",
            "max_value": "The grace periods must be fewer than the installments.",
        },
    )
    first_due_date = DayFirstDateField(
        required=False,
        validators=[check_value_date],
        help_text="Leave empty for one period after disbursement.",
        error_messages={
            "invalid": "Enter the first due date as dd/mm/yyyy, for example 31/03/2027."
        },
    )
    installment_multiple = PlainDecimalField(
        max_digits=14,
        decimal_places=2,
        required=False,
        min_value=MINOR_UNIT,
        help_text="Round each installment to a multiple of this (1 = whole units).",
        error_messages={
            **_number_messages("installment multiple", "0.01 or 1"),
            "min_value": "The installment multiple must be at least 0.01.",
            "max_decimal_places": "The installment multiple must be in whole cents.",
        },
    )
    installment_rounding = forms.ChoiceField(choices=INSTALLMENT_ROUNDING_CHOICES)
    interest_period = forms.ChoiceField(choices=INTEREST_PERIOD_CHOICES)
    days_in_year = forms.TypedChoiceField(
        label="Days in a year", choices=DAYS_IN_YEAR_CHOICES, coerce=int
    )

    schedule: Schedule | None = None
    # Whose working days the preview moves due dates around (set by the view: the user's
    # office; an application uses its borrower's).
    office_id: int | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("principal", "installment_multiple"):
            self.fields[name].widget.attrs.update({"step": "0.01", "inputmode": "decimal"})
        self.fields["annual_interest_rate"].widget.attrs.update({"step": "any"})

    def terms(self) -> dict[str, Any]:
        """The cleaned terms under the names `loan_submit` and the engine take."""
        data = self.cleaned_data
        terms = {name: data.get(name) for name in TERM_FIELDS}
        for name in ("grace_periods", "installment_multiple"):
            if terms[name] is None:
                terms[name] = DEFAULT_TERMS[name]
        return terms

    def terms_ok(self) -> bool:
        return all(name not in self.errors for name in TERM_FIELDS)

    def rounding_open(self) -> bool:
        """Whether the folded rounding options show: one has an error or is not the default."""
        for name in ROUNDING_FIELDS:
            if self[name].errors:
                return True
            value = self[name].value()
            if value not in (None, "") and str(value) != str(DEFAULT_TERMS[name]):
                try:
                    if Decimal(str(value)) == Decimal(str(DEFAULT_TERMS[name])):
                        continue
                except (ArithmeticError, ValueError):
                    pass
                return True
        return False

    def build_preview(
        self,
        disbursement_date: date,
        due_date_rule: str = DueDateRule.NEXT,
        product: LoanProduct | None = None,
    ) -> None:
        """The schedule these terms give, with the fees `product` would charge today."""
        try:
            terms = self.terms()
            schedule = preview_schedule(
                terms,
                disbursement_date,
                due_date_rule=due_date_rule,
                calendar=working_calendar(self.office_id),
            )
            charges = product_charge_terms(product)
            fees = fees_for(charges, terms["principal"], disbursement_date, schedule)
            self.schedule = with_fees(schedule, fees, terms["principal"])
        except ValidationError as exc:
            add_service_errors(self, exc)


class CalculatorForm(LoanTermsForm):
    """The calculator: terms plus a disbursement date; nothing is stored."""

    disbursement_date = DayFirstDateField(
        validators=[check_value_date],
        error_messages={
            "required": "Enter the disbursement date.",
            "invalid": "Enter the disbursement date as dd/mm/yyyy, for example 31/01/2027.",
        },
    )
    product = forms.ModelChoiceField(
        queryset=LoanProduct.objects.filter(is_active=True),
        required=False,
        empty_label="No product (no fees)",
        help_text="The schedule shows the fees this product charges.",
        error_messages={"invalid_choice": "That product is not offered; choose another."},
    )
    due_date_rule = forms.ChoiceField(
        label="A due date on a day off moves to",
        choices=DUE_DATE_RULE_CHOICES,
        required=False,
        help_text="Days off are those of the Working days page.",
    )
    field_order = ["principal", "annual_interest_rate", "installments", "disbursement_date"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if self.terms_ok() and not {"disbursement_date", "product"} & set(self.errors):
            rule = cleaned.get("due_date_rule") or DueDateRule.NEXT
            product = cleaned.get("product")
            self.build_preview(self.cleaned_data["disbursement_date"], rule, product)
        return cleaned


class BorrowerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return f"{obj.full_name} · {obj.number} · ID {obj.national_id}"


class LoanApplicationForm(LoanTermsForm):
    """An application: a borrower (picked by search), an optional product whose defaults and
    limits apply, and the terms. The preview assumes disbursement today; the stored schedule
    is built at approval from the date the approver chooses."""

    borrower_q = forms.CharField(
        label="Find a borrower",
        required=False,
        max_length=SEARCH_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Name, number, phone or national ID"}
        ),
    )
    borrower = BorrowerChoiceField(
        queryset=Borrower.objects.all(),
        empty_label="— choose a borrower —",
        error_messages={
            "required": "Choose the borrower the loan is for.",
            "invalid_choice": "That borrower is not registered; search again.",
        },
    )
    product = forms.ModelChoiceField(
        queryset=LoanProduct.objects.filter(is_active=True),
        required=False,
        empty_label="No product (custom terms)",
        help_text="A product fills in its default terms and sets the limits.",
        error_messages={"invalid_choice": "That product is not offered; choose another."},
    )
    purpose = forms.CharField(max_length=200, required=False)
    field_order = ["borrower_q", "borrower", "product", "purpose"]

    def __init__(
        self,
        *args: Any,
        borrower_options: list[Borrower] | None = None,
        user: Any = None,
        **kwargs: Any,
    ):
        super().__init__(*args, **kwargs)
        # Only the selected borrower and the search matches are listed, never the whole
        # register; validation still accepts any borrower of the user's offices.
        field = self.fields["borrower"]
        assert isinstance(field, BorrowerChoiceField)
        if user is not None:
            field.queryset = scope(Borrower.objects.all(), user)
            self.office_id = user_office_id(user)
        field.choices = [
            ("", field.empty_label or ""),
            *[(b.pk, field.label_from_instance(b)) for b in borrower_options or []],
        ]
        # Progressive enhancement: the search refills the picker as you type and a product
        # change reloads the form with its defaults; the "Find" and "Use product defaults"
        # buttons do the same without JavaScript.
        self.fields["borrower_q"].widget.attrs.update(
            {
                "hx-get": reverse("borrower_search"),
                "hx-trigger": "input changed delay:300ms, search",
                "hx-target": f"#{self['borrower'].id_for_label}",
                "hx-include": f"#{self['borrower'].id_for_label}",
                "autocomplete": "off",
            }
        )
        self.fields["product"].widget.attrs.update(
            {
                "hx-post": reverse("loan_apply"),
                "hx-trigger": "change",
                "hx-target": "#application",
                "hx-swap": "outerHTML",
                "hx-vals": json.dumps({"use_defaults": "1"}),
            }
        )

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        if not self.terms_ok():
            return cleaned
        product = cleaned.get("product")
        if "product" not in self.errors:
            try:
                check_product_limits(product, self.terms())
            except ValidationError as exc:
                add_service_errors(self, exc)
        if self.terms_ok() and "product" not in self.errors:
            borrower = cleaned.get("borrower")
            if borrower is not None:
                self.office_id = borrower.office_id
            self.build_preview(timezone.localdate(), due_date_rule_for(product), product)
        return cleaned


# --- Loan list filters and transitions ----------------------------------------------------------


class OfficerChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return obj.get_full_name() or obj.get_username()


class LoanFilterForm(InputRulesMixin, forms.Form):
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=SEARCH_MAX_LENGTH,
        widget=forms.TextInput(
            attrs={"type": "search", "placeholder": "Loan or borrower, name or number"}
        ),
    )
    status = forms.ChoiceField(choices=[("", "Any status"), *Loan.Status.choices], required=False)
    officer = OfficerChoiceField(
        label="Loan officer",
        queryset=User.objects.none(),
        required=False,
        empty_label="Anyone",
        error_messages={"invalid_choice": "Choose an officer from the list."},
    )
    product = forms.ModelChoiceField(
        queryset=LoanProduct.objects.all(),
        required=False,
        empty_label="Any product",
        error_messages={"invalid_choice": "Choose a product from the list."},
    )
    # Bounded: a database id is a positive bigint, and SQLite cannot even compare a larger one.
    borrower = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )
    submitted_from = DayFirstDateField(
        label="Submitted from",
        required=False,
    )
    submitted_to = DayFirstDateField(
        label="Submitted to",
        required=False,
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        officer = self.fields["officer"]
        assert isinstance(officer, forms.ModelChoiceField)
        officer.queryset = loan_officers(user=user)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or self.cleaned_data
        start, end = cleaned.get("submitted_from"), cleaned.get("submitted_to")
        if start and end and start > end:
            self.add_error("submitted_to", "The end date is before the start date.")
        return cleaned

    def filters(self) -> dict[str, Any]:
        """Selector arguments from the valid fields; an invalid field filters nothing."""
        data = self.cleaned_data if self.is_bound else {}

        def ok(name: str) -> Any:
            return data.get(name) if name not in self.errors else None

        product = ok("product")
        return {
            "query": ok("q") or "",
            "status": ok("status") or "",
            "officer": ok("officer"),
            "product_id": product.pk if product else None,
            "borrower_id": ok("borrower"),
            "submitted_from": ok("submitted_from"),
            "submitted_to": ok("submitted_to"),
        }


class ApproveForm(InputRulesMixin, forms.Form):
    disbursement_date = DayFirstDateField(
        validators=[check_value_date],
        error_messages={
            "required": "Enter the disbursement date.",
            "invalid": "Enter the disbursement date as dd/mm/yyyy, for example 31/01/2027.",
        },
    )


class ApproveOnlyForm(InputRulesMixin, forms.Form):
    """Approval of a loan whose product disburses separately: how much, and when the money is
    expected to be handed over (from today, the approval date, to a year ahead)."""

    approved_amount = PlainDecimalField(
        label="Approved amount",
        max_digits=14,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
        help_text="At most the amount applied for.",
    )
    expected_disbursement_date = DayFirstDateField(
        label="Expected disbursement date",
        validators=[check_value_date],
        error_messages={"required": "Enter the expected disbursement date."},
    )


class DisburseForm(InputRulesMixin, forms.Form):
    """Handing an approved loan's money over."""

    amount = PlainDecimalField(
        label="Amount handed over",
        max_digits=14,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
    )
    disbursement_date = DayFirstDateField(
        label="Disbursement date",
        validators=[check_value_date],
        error_messages={"required": "Enter the disbursement date."},
        help_text="The schedule is built from this date: on or after the approval, not in "
        "the future.",
    )
    method = forms.ChoiceField(label="Method", choices=Repayment.Method.choices)
    reference = forms.CharField(
        label="Reference",
        max_length=100,
        required=False,
        help_text="Voucher, bank transfer or mobile-money transaction ID.",
    )


class ReasonForm(InputRulesMixin, forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=REASON_MAX_LENGTH,
        error_messages={"required": "Give a reason."},
    )

    def __init__(self, *args: Any, what: str = "", **kwargs: Any) -> None:
        """`what` names the decision in the message ("Give a reason for the rejection.")."""
        super().__init__(*args, **kwargs)
        if what:
            self.fields["reason"].error_messages["required"] = f"Give a reason for the {what}."


class WithdrawForm(InputRulesMixin, forms.Form):
    reason = forms.CharField(
        label="Reason (optional)",
        required=False,
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class BorrowerTransferForm(InputRulesMixin, forms.Form):
    """Move a borrower (and their loans) to another of the user's offices."""

    office = OfficeChoiceField(
        label="Move to",
        queryset=None,
        empty_label="— choose an office —",
        error_messages={
            "required": "Choose the office to move the borrower to.",
            "invalid_choice": "Choose one of your offices.",
        },
    )
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=REASON_MAX_LENGTH,
        error_messages={"required": "Give a reason for the move."},
    )

    def __init__(self, *args: Any, user: Any, borrower: Borrower, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["office"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = visible_offices(user).exclude(pk=borrower.office_id or 0)
