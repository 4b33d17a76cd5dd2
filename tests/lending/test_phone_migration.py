"""Migration 0010 stores existing borrowers' phones in E.164 and leaves unreadable ones."""

import importlib
from typing import Any

import pytest
from django.apps import apps

from lending.models import Borrower
from tests.factories import BorrowerFactory

pytestmark = pytest.mark.django_db
migration = importlib.import_module("lending.migrations.0010_borrower_phone_e164")


def test_existing_phones_are_normalised_and_unreadable_ones_kept(capsys: Any) -> None:
    typed = {"0776 780 218": "+254776780218", "+260 977 123 456": "+260977123456", "abc": "abc"}
    borrowers = {}
    for phone in typed:
        borrower = BorrowerFactory()
        Borrower.objects.filter(pk=borrower.pk).update(phone=phone)  # as stored before the check
        borrowers[phone] = borrower
    migration.normalise_phones(apps, None)
    for phone, stored in typed.items():
        borrowers[phone].refresh_from_db()
        assert borrowers[phone].phone == stored
    assert f"{borrowers['abc'].number} ('abc')" in capsys.readouterr().out
