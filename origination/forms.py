"""Origination forms: they convert and check what was typed; the services check again (and
decide) inside their transaction, and their errors come back next to the same fields."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from karo.inputs import InputRulesMixin, PlainDecimalField
from lending.models import Borrower
from origination.content import ACCEPTED
from origination.models import BorrowerDocument, Collateral
from origination.services import MAX_DOCUMENT_BYTES, MAX_DOCUMENT_MB

ACCEPT = ",".join(
    [".pdf", ".jpg", ".jpeg", ".png", *(file_type.content_type for file_type in ACCEPTED)]
)


def _amount_field(label: str, what: str) -> PlainDecimalField:
    return PlainDecimalField(
        label=label,
        max_digits=14,
        decimal_places=2,
        widget=forms.TextInput(attrs={"inputmode": "decimal", "autocomplete": "off"}),
        error_messages={
            "required": f"Enter the {what}.",
            "invalid": f"Enter the {what} as a number, such as 1500 or 1500.50.",
            "max_digits": f"The {what} is too large.",
            "max_whole_digits": f"The {what} is too large.",
            "max_decimal_places": f"Enter the {what} to the cent (two decimals at most).",
        },
    )


class DocumentUploadForm(InputRulesMixin, forms.Form):
    kind = forms.ChoiceField(
        label="Document",
        choices=BorrowerDocument.Kind.choices,
        error_messages={"required": "Choose what the document is."},
    )
    description = forms.CharField(
        label="Description",
        required=False,
        max_length=200,
        help_text="Optional: which ID, which month's payslip.",
    )
    # Last in the form: a too-large file stops the upload, and the fields before it still
    # arrive (the sign-in token among them), so the page can say why.
    file = forms.FileField(
        label="File",
        help_text=f"PDF, JPEG or PNG, at most {MAX_DOCUMENT_MB} MB.",
        widget=forms.FileInput(attrs={"accept": ACCEPT, "data-max-bytes": str(MAX_DOCUMENT_BYTES)}),
        error_messages={
            "required": "Choose the file to upload.",
            "empty": "This file is empty. Choose the scan or photo again.",
        },
    )


class GuarantorForm(InputRulesMixin, forms.Form):
    """A registered borrower (by number or national ID) or a named person, and the amount."""

    who = forms.ChoiceField(
        label="Guarantor is",
        choices=[("borrower", "A registered borrower"), ("person", "Another person")],
        initial="borrower",
        widget=forms.RadioSelect,
        error_messages={"required": "Choose whether the guarantor is a registered borrower."},
    )
    borrower = forms.CharField(
        label="Borrower number or national ID",
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    full_name = forms.CharField(label="Full name", required=False, max_length=200)
    national_id = forms.CharField(
        label="National ID",
        required=False,
        max_length=40,
        widget=forms.TextInput(attrs={"autocomplete": "off"}),
    )
    phone = forms.CharField(
        label="Phone",
        required=False,
        max_length=30,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "off"}),
    )
    amount = _amount_field("Amount guaranteed", "amount guaranteed")

    def __init__(self, *args: Any, borrowers: QuerySet[Borrower], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.borrowers = borrowers

    def clean(self) -> dict[str, Any]:
        data = super().clean() or self.cleaned_data
        if data.get("who") == "borrower":
            reference = (data.get("borrower") or "").strip()
            if "borrower" in self.errors:
                return data
            if not reference:
                self.add_error("borrower", "Enter the guarantor's borrower number or national ID.")
                return data
            found = self._find(reference)
            if found is None:
                self.add_error(
                    "borrower",
                    "No registered borrower has this number or national ID. Check it, or "
                    "choose \u201cAnother person\u201d.",
                )
            data["guarantor"] = found
        elif data.get("who") == "person":
            data["guarantor"] = None
            for name, message in [
                ("full_name", "Enter the guarantor's full name."),
                ("national_id", "Enter the guarantor's national ID."),
                ("phone", "Enter the guarantor's phone number."),
            ]:
                if not (data.get(name) or "").strip() and name not in self.errors:
                    self.add_error(name, message)
        return data

    def _find(self, reference: str) -> Borrower | None:
        by_number = self.borrowers.filter(number__iexact=reference).first()
        if by_number is not None:
            return by_number
        national_id = Borrower.normalise_national_id(reference)
        if not national_id:
            return None
        return self.borrowers.filter(national_id=national_id).first()

    def person(self) -> dict[str, Any]:
        """The service's arguments for the chosen kind of guarantor."""
        data = self.cleaned_data
        if data["who"] == "borrower":
            return {"borrower": data["guarantor"]}
        return {name: data[name] for name in ("full_name", "national_id", "phone")}


class CollateralForm(InputRulesMixin, forms.Form):
    type = forms.ChoiceField(
        label="Type",
        choices=Collateral.Type.choices,
        error_messages={"required": "Choose the type of collateral."},
    )
    description = forms.CharField(
        label="Description",
        max_length=500,
        help_text="What identifies it: registration, serial or title number, where it is.",
        error_messages={"required": "Describe the asset so it can be found again."},
    )
    value = _amount_field("Value", "value")

    def clean_value(self) -> Any:
        value = self.cleaned_data["value"]
        if value is not None and value <= 0:
            raise ValidationError("The value must be above zero.")
        return value
