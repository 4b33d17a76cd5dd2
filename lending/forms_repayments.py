"""Forms of the repayment pages. They parse and convert input; the services decide."""

from __future__ import annotations

import uuid
from datetime import date
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator

from karo.inputs import DayFirstDateField, InputRulesMixin, PlainDecimalField, check_value_date
from lending.limits import (
    IDEMPOTENCY_KEY_MAX_LENGTH,
    IDEMPOTENCY_KEY_PATTERN,
    REASON_MAX_LENGTH,
)
from lending.models import Repayment
from lending.selectors.repayments import RepaymentFilters, recorders

METHOD_CHOICES = Repayment.Method.choices


def new_idempotency_key() -> str:
    return uuid.uuid4().hex


def stored_idempotency_key(user: Any, key: str) -> str:
    """Where a payment form's one-time key is stored: `form:<user id>:<key>`, beside the API's
    `api:<user id>:<key>`, so a key sent from a form can never take or replay another user's
    payment, nor one of the API's."""
    return f"form:{user.pk}:{key}"


def _idempotency_key_field() -> forms.CharField:
    return forms.CharField(
        widget=forms.HiddenInput,
        max_length=IDEMPOTENCY_KEY_MAX_LENGTH,
        validators=[RegexValidator(IDEMPOTENCY_KEY_PATTERN)],
    )


class ServiceErrorsMixin:
    """Put a service's ValidationError on the fields it names (others on the form)."""

    def add_service_error(self, error: ValidationError) -> None:
        form: forms.Form = self  # type: ignore[assignment]
        if hasattr(error, "error_dict"):
            for field, errors in error.error_dict.items():
                target = field if field in form.fields else None
                for e in errors:
                    form.add_error(target, e)
        else:
            form.add_error(None, error)


class RepaymentForm(InputRulesMixin, ServiceErrorsMixin, forms.Form):
    amount = PlainDecimalField(
        label="Amount",
        max_digits=14,
        decimal_places=2,
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0.01", "inputmode": "decimal"}),
        error_messages={
            "max_digits": "The amount is too large.",
            "max_whole_digits": "The amount is too large.",
            "max_decimal_places": "The amount must be in whole cents.",
        },
    )
    paid_on = DayFirstDateField(label="Date paid", validators=[check_value_date])
    method = forms.ChoiceField(label="Method", choices=METHOD_CHOICES)
    reference = forms.CharField(
        label="Reference",
        max_length=100,
        required=False,
        help_text="Bank or mobile-money transaction ID, cheque number…",
    )
    idempotency_key = _idempotency_key_field()


class RepaymentConfirmForm(RepaymentForm):
    """The payment form's values carried hidden through the confirmation page of a backdated
    payment, with its one-time key unchanged (confirming twice records one payment) and
    `confirmed`, which tells the view to record without asking again."""

    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "confirm_%s")
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.widget = forms.HiddenInput()


def is_confirmed(data: Any) -> bool:
    """Whether a payment form was sent from the confirmation page (its hidden `confirmed`)."""
    return bool(forms.BooleanField(required=False).to_python(data.get("confirmed")))


class PayoffForm(InputRulesMixin, ServiceErrorsMixin, forms.Form):
    on = DayFirstDateField(label="Settle on", validators=[check_value_date])


class SettleForm(InputRulesMixin, ServiceErrorsMixin, forms.Form):
    """Settles at the quote the cashier saw: its date and amount ride along hidden, and the
    view refuses when the payoff has changed since (another payment came in)."""

    on = DayFirstDateField(widget=forms.HiddenInput, validators=[check_value_date])
    expected_amount = PlainDecimalField(max_digits=14, decimal_places=2, widget=forms.HiddenInput)
    method = forms.ChoiceField(label="Method", choices=METHOD_CHOICES)
    reference = forms.CharField(label="Reference", max_length=100, required=False)
    idempotency_key = _idempotency_key_field()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Shown beside the quote form, which has its own "on": keep element ids unique.
        kwargs.setdefault("auto_id", "settle_%s")
        super().__init__(*args, **kwargs)


class ReverseForm(InputRulesMixin, ServiceErrorsMixin, forms.Form):
    reason = forms.CharField(
        label="Reason for the reversal",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text="For example: posted to the wrong loan, cheque bounced, amount typed wrong.",
    )


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Any) -> str:
        return str(obj.get_full_name() or obj.get_username())


class RepaymentFilterForm(InputRulesMixin, forms.Form):
    date_from = DayFirstDateField(label="Paid from", required=False)
    date_to = DayFirstDateField(label="Paid to", required=False)
    method = forms.ChoiceField(
        label="Method", required=False, choices=[("", "Any method"), *METHOD_CHOICES]
    )
    recorded_by = UserChoiceField(
        label="Recorded by", required=False, queryset=None, empty_label="Anyone"
    )
    # One loan's repayments (the loan page's "See them all"); a database id, so bounded.
    loan = forms.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, widget=forms.HiddenInput
    )

    def __init__(self, *args: Any, user: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["recorded_by"]
        assert isinstance(field, forms.ModelChoiceField)
        field.queryset = recorders(user)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start and end and start > end:
            self.add_error("date_to", "The end date is before the start date.")
        return data

    def filters(self) -> RepaymentFilters:
        """The valid filters; an invalid one is ignored (its error shows beside it)."""
        data = (
            self.cleaned_data
            if self.is_valid()
            else {
                k: v for k, v in getattr(self, "cleaned_data", {}).items() if k not in self.errors
            }
        )
        user = data.get("recorded_by")
        start: date | None = data.get("date_from")
        end: date | None = data.get("date_to")
        if start and end and start > end:
            end = None
        return RepaymentFilters(
            date_from=start,
            date_to=end,
            method=data.get("method") or "",
            recorded_by=user.pk if user is not None else None,
            loan=data.get("loan"),
        )


def _waiver_amount(label: str) -> PlainDecimalField:
    return PlainDecimalField(
        label=label,
        max_digits=14,
        decimal_places=2,
        required=False,
        min_value=Decimal("0"),
        widget=forms.NumberInput(attrs={"step": "0.01", "min": "0", "inputmode": "decimal"}),
        error_messages={
            "max_digits": "The amount is too large.",
            "max_whole_digits": "The amount is too large.",
            "max_decimal_places": "The amount must be in whole cents.",
            "min_value": "The amount cannot be negative.",
        },
    )


class WaiverForm(InputRulesMixin, ServiceErrorsMixin, forms.Form):
    """What to waive of each component (blank: nothing) and why. `confirmed` is set by the
    confirmation page, whose copy of the form rides hidden."""

    penalties = _waiver_amount("Penalties to waive")
    fees = _waiver_amount("Fees to waive")
    interest = _waiver_amount("Interest to waive")
    reason = forms.CharField(
        label="Reason for the waiver",
        max_length=REASON_MAX_LENGTH,
        widget=forms.Textarea(attrs={"rows": 3}),
        error_messages={"required": "Give a reason for the waiver."},
    )
    confirmed = forms.BooleanField(required=False, widget=forms.HiddenInput)

    def amounts(self) -> dict[str, Decimal]:
        return {
            c: self.cleaned_data.get(c) or Decimal("0.00")
            for c in ("penalties", "fees", "interest")
        }

    def hide(self) -> None:
        """Carried through the confirmation page unchanged."""
        for field in self.fields.values():
            field.widget = forms.HiddenInput()
