"""Forms of the officer pages: the reassignment's filter and its decision."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import User

from accounts.offices import scope
from karo.inputs import InputRulesMixin
from lending.forms import OfficerChoiceField
from lending.forms_repayments import ServiceErrorsMixin
from lending.limits import SEARCH_MAX_LENGTH
from lending.models import Borrower
from lending.services.officers import eligible_officers

NOBODY = "0"


class ReassignFilterForm(InputRulesMixin, forms.Form):
    """Whose borrowers to list: an officer's, or those of nobody (registered before officers
    were assigned, or whose officer left)."""

    officer = forms.TypedChoiceField(
        label="Borrowers of", required=False, coerce=int, empty_value=None
    )
    q = forms.CharField(
        label="Search",
        required=False,
        max_length=SEARCH_MAX_LENGTH,
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Name or number"}),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        officer = self.fields["officer"]
        assert isinstance(officer, forms.TypedChoiceField)
        officer.choices = [
            ("", "Any officer"),
            (NOBODY, "Nobody (unassigned)"),
            *(
                (str(u.pk), u.get_full_name() or u.get_username())
                for u in officers_with_borrowers(user)
            ),
        ]


def officers_with_borrowers(user: User) -> list[User]:
    """Everyone holding a borrower of the user's offices, even one who can no longer originate
    (who left)."""
    return list(
        User.objects.filter(pk__in=scope(Borrower.objects.all(), user).values("officer_id"))
        .only("id", "username", "first_name", "last_name")
        .order_by("first_name", "last_name", "username")
    )


class ReassignForm(InputRulesMixin, ServiceErrorsMixin, forms.Form):
    officer = OfficerChoiceField(
        label="Give them to",
        queryset=User.objects.none(),
        empty_label="Choose a loan officer",
        error_messages={
            "required": "Choose the loan officer to give the borrowers to.",
            "invalid_choice": "Choose a loan officer from the list.",
        },
    )
    borrowers = forms.ModelMultipleChoiceField(
        queryset=Borrower.objects.all(),
        required=False,
        error_messages={"invalid_choice": "A chosen borrower does not exist."},
    )
    # Everyone the filter lists (every page), instead of the ticked rows.
    everyone = forms.BooleanField(required=False)

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        officer = self.fields["officer"]
        assert isinstance(officer, forms.ModelChoiceField)
        officer.queryset = eligible_officers(user)
        borrowers = self.fields["borrowers"]
        assert isinstance(borrowers, forms.ModelMultipleChoiceField)
        borrowers.queryset = scope(Borrower.objects.all(), user)
