"""Borrower services: numbering, normalised unique national ID, adults only, audit entries."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from lending.models import AuditLog, Borrower
from lending.services.borrowers import (
    age_on,
    borrower_create,
    borrower_update,
    check_adult,
    duplicate_id_message,
)
from tests.factories import BorrowerFactory

pytestmark = pytest.mark.django_db


def fields(**overrides: Any) -> dict[str, Any]:
    values: dict[str, Any] = {
        "full_name": "Grace Banda",
        "national_id": "ab 123-456",
        "date_of_birth": date(1990, 5, 31),
        "phone": "+265 991 000 111",
        "monthly_income": Decimal("1200.00"),
    }
    return values | overrides


def test_create_numbers_normalises_and_audits(officer: Any) -> None:
    borrower = borrower_create(user=officer, **fields())
    assert borrower.number.startswith("B-") and len(borrower.number) == 8
    assert borrower.national_id == "AB123456"
    assert borrower.created_by == officer
    entry = AuditLog.objects.get(action=AuditLog.Action.BORROWER_CREATED)
    assert entry.object_id == str(borrower.pk)
    assert entry.details["after"]["national_id"] == "AB123456"


def test_duplicate_national_id_typed_differently_is_refused(officer: Any) -> None:
    borrower_create(user=officer, **fields())
    audit_rows = AuditLog.objects.count()
    with pytest.raises(ValidationError) as caught:
        borrower_create(user=officer, **fields(full_name="Other", national_id="AB-123 456"))
    first = Borrower.objects.get()
    assert caught.value.message_dict == {"national_id": [duplicate_id_message(first)]}
    assert first.full_name in caught.value.message_dict["national_id"][0]
    assert first.number in caught.value.message_dict["national_id"][0]
    assert Borrower.objects.count() == 1
    assert AuditLog.objects.count() == audit_rows


def eighteenth_birthday_today(today: date) -> date:
    """Born exactly 18 years ago (28 February for someone asked on 29 February)."""
    try:
        return today.replace(year=today.year - 18)
    except ValueError:
        return date(today.year - 18, 2, 28)


@pytest.mark.parametrize(
    ("days_after", "ok"), [(0, True), (1, False)], ids=["turns-18-today", "one-day-short"]
)
def test_borrowers_must_be_adults(officer: Any, days_after: int, ok: bool) -> None:
    dob = eighteenth_birthday_today(timezone.localdate()) + timedelta(days=days_after)
    if ok:
        assert borrower_create(user=officer, **fields(date_of_birth=dob)).pk
        return
    with pytest.raises(ValidationError) as caught:
        borrower_create(user=officer, **fields(date_of_birth=dob))
    assert "date_of_birth" in caught.value.message_dict
    assert not Borrower.objects.exists()


def test_date_of_birth_in_the_future_is_refused(officer: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        borrower_create(
            user=officer, **fields(date_of_birth=timezone.localdate() + timedelta(days=1))
        )
    assert caught.value.message_dict["date_of_birth"] == [
        "The date of birth cannot be in the future."
    ]


def test_age_counts_whole_years_and_leap_day_birthdays() -> None:
    assert age_on(date(2008, 2, 29), date(2026, 2, 28)) == 17
    assert age_on(date(2008, 2, 29), date(2026, 3, 1)) == 18
    check_adult(date(2000, 1, 1), today=date(2018, 1, 1))
    with pytest.raises(ValidationError):
        check_adult(date(2000, 1, 2), today=date(2018, 1, 1))


def test_negative_income_is_refused(officer: Any) -> None:
    with pytest.raises(ValidationError) as caught:
        borrower_create(user=officer, **fields(monthly_income=Decimal("-1.00")))
    assert "monthly_income" in caught.value.message_dict


def test_update_audits_only_what_changed(officer: Any) -> None:
    borrower = BorrowerFactory(created_by=officer)
    before = AuditLog.objects.count()
    borrower_update(borrower=borrower, user=officer, phone="+1 650 253 0000")
    entry = AuditLog.objects.latest("id")
    assert entry.action == AuditLog.Action.BORROWER_UPDATED
    assert entry.details["changes"] == {"phone": [borrower.phone, "+16502530000"]}
    borrower_update(borrower=borrower, user=officer, phone="+1 650 253 0000")
    assert AuditLog.objects.count() == before + 1  # no change, no entry


def test_update_to_another_borrowers_national_id_is_refused(officer: Any) -> None:
    first = BorrowerFactory(national_id="X1")
    second = BorrowerFactory(national_id="X2")
    with pytest.raises(ValidationError) as caught:
        borrower_update(borrower=second, user=officer, national_id="x-1")
    assert caught.value.message_dict == {"national_id": [duplicate_id_message(first)]}
    second.refresh_from_db()
    assert second.national_id == "X2" and first.national_id == "X1"


# --- name, phone, age and income bounds (issue 18) ----------------------------------------------


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("+254 776 780 218", "+254776780218"),
        ("+254776780218", "+254776780218"),
        ("0776780218", "+254776780218"),
        ("0776 780-218", "+254776780218"),
        ("+260 977 123 456", "+260977123456"),
    ],
)
def test_phones_are_stored_in_e164(officer: Any, typed: str, stored: str) -> None:
    assert borrower_create(user=officer, **fields(phone=typed)).phone == stored


@pytest.mark.parametrize("typed", ["abc", "1", "+254 12", "0776 780 218 999 1", "07x6780218"])
def test_an_invalid_phone_is_refused(officer: Any, typed: str) -> None:
    with pytest.raises(ValidationError) as caught:
        borrower_create(user=officer, **fields(phone=typed))
    assert "valid phone number" in caught.value.message_dict["phone"][0]


@pytest.mark.parametrize("name", ["X", "X.", "1 2", " - "])
def test_a_name_needs_two_letters(officer: Any, name: str) -> None:
    with pytest.raises(ValidationError) as caught:
        borrower_create(user=officer, **fields(full_name=name))
    assert "at least 2 letters" in caught.value.message_dict["full_name"][0]


def test_a_two_letter_name_in_any_script_is_taken(officer: Any) -> None:
    assert borrower_create(user=officer, **fields(full_name="Wu")).pk
    assert borrower_create(user=officer, **fields(full_name="李明", national_id="CN1")).pk


def test_the_oldest_age_at_registration_is_100(officer: Any) -> None:
    today = timezone.localdate()
    oldest = today.replace(year=today.year - 101, day=1) + timedelta(days=40)
    assert borrower_create(user=officer, **fields(date_of_birth=oldest)).pk
    with pytest.raises(ValidationError) as caught:
        borrower_create(
            user=officer,
            **fields(national_id="OLD2", date_of_birth=oldest.replace(year=oldest.year - 2)),
        )
    assert "older than 100" in caught.value.message_dict["date_of_birth"][0]


def test_a_borrower_past_100_can_still_be_edited(officer: Any) -> None:
    today = timezone.localdate()
    borrower = BorrowerFactory(date_of_birth=today.replace(year=today.year - 90, day=1))
    Borrower.objects.filter(pk=borrower.pk).update(
        date_of_birth=today.replace(year=today.year - 102, day=1)
    )
    borrower.refresh_from_db()
    assert (
        borrower_update(borrower=borrower, user=officer, employer="Retired").employer == "Retired"
    )


def test_income_above_ten_million_is_refused(officer: Any) -> None:
    assert borrower_create(user=officer, **fields(monthly_income=Decimal("10000000.00"))).pk
    with pytest.raises(ValidationError) as caught:
        borrower_create(
            user=officer,
            **fields(national_id="RICH2", monthly_income=Decimal("9999999999.99")),
        )
    assert "at most 10,000,000.00" in caught.value.message_dict["monthly_income"][0]
