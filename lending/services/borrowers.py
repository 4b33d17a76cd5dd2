"""Borrower writes: create and update, each audited in its own transaction."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import require
from accounts.head_office import HEAD_OFFICE_ID
from accounts.offices import check_office_choice, may_reach, user_office_id
from karo.inputs import EARLIEST_BIRTH_DATE
from lending.audit import audit_record, changes, snapshot
from lending.limits import ADDRESS_MAX_LENGTH, NOTES_MAX_LENGTH
from lending.models import AuditLog, Borrower
from lending.phones import normalise_phone
from lending.services.numbers import next_borrower_number
from lending.signals import borrower_changed

BORROWER_FIELDS = [
    "full_name",
    "national_id",
    "date_of_birth",
    "phone",
    "email",
    "address",
    "employer",
    "monthly_income",
    "notes",
    "reminders_opt_out",
]
DUPLICATE_ID = "A borrower with this national ID is already registered."
ADULT_AGE = 18
# At registration (or when the date of birth is corrected), older than this is a typing mistake.
OLDEST_AGE = 100
NAME_MIN_LETTERS = 2
# A month's income above this is a typing mistake (ten million in the institution's currency).
MONTHLY_INCOME_MAX = Decimal("10000000.00")


def age_on(date_of_birth: date, today: date) -> int:
    """Whole years completed; someone born on 29 February turns a year older on 1 March."""
    had_birthday = (today.month, today.day) >= (date_of_birth.month, date_of_birth.day)
    return today.year - date_of_birth.year - (0 if had_birthday else 1)


def check_adult(
    date_of_birth: date | None, today: date | None = None, *, oldest: bool = True
) -> None:
    """Only adults may borrow: refuse a date of birth less than ADULT_AGE years ago (and one
    before EARLIEST_BIRTH_DATE or, with `oldest`, more than OLDEST_AGE years ago: a typing
    mistake)."""
    if not isinstance(date_of_birth, date):
        return  # a missing date is reported by the field's own validation
    today = today or timezone.localdate()
    if date_of_birth < EARLIEST_BIRTH_DATE:
        raise ValidationError(
            {"date_of_birth": f"Enter a date of birth on or after {EARLIEST_BIRTH_DATE:%d %b %Y}."}
        )
    if date_of_birth > today:
        raise ValidationError({"date_of_birth": "The date of birth cannot be in the future."})
    if age_on(date_of_birth, today) < ADULT_AGE:
        raise ValidationError(
            {"date_of_birth": f"Borrowers must be adults: at least {ADULT_AGE} years old."}
        )
    if oldest and age_on(date_of_birth, today) > OLDEST_AGE:
        raise ValidationError(
            {
                "date_of_birth": f"That makes the borrower older than {OLDEST_AGE}: "
                "check the year of birth."
            }
        )


def check_full_name(full_name: str) -> None:
    if sum(1 for char in full_name or "" if char.isalpha()) < NAME_MIN_LETTERS:
        raise ValidationError(
            {"full_name": f"Enter the full name: at least {NAME_MIN_LETTERS} letters."}
        )


def check_monthly_income(income: Decimal | None) -> None:
    if income is not None and income > MONTHLY_INCOME_MAX:
        raise ValidationError(
            {
                "monthly_income": f"Enter a monthly income of at most {MONTHLY_INCOME_MAX:,.2f}; "
                "check the amount."
            }
        )


def clean_contact(borrower: Borrower) -> None:
    """The name, phone (stored E.164) and income every caller gives, checked alike."""
    errors: dict[str, Any] = {}
    for check in (
        lambda: check_full_name(borrower.full_name),
        lambda: check_monthly_income(borrower.monthly_income),
    ):
        try:
            check()
        except ValidationError as exc:
            errors.update(exc.message_dict)
    try:
        borrower.phone = normalise_phone(borrower.phone)
    except ValidationError as exc:
        errors["phone"] = exc.messages
    if errors:
        raise ValidationError(errors)


def check_text_lengths(borrower: Borrower) -> None:
    """The address and notes are stored at any length; take no more than the form and the API
    (`lending.limits`), so no caller writes a megabyte into the row and its audit entry."""
    limits = {"address": ADDRESS_MAX_LENGTH, "notes": NOTES_MAX_LENGTH}
    errors = {
        name: f"Shorten this to at most {limit} characters."
        for name, limit in limits.items()
        if len(getattr(borrower, name) or "") > limit
    }
    if errors:
        raise ValidationError(errors)


def check_national_id_free(national_id: str, exclude_pk: int | None = None) -> None:
    """Refuse an ID already registered to another borrower (compared normalised). Forms call
    it to report a duplicate together with their other errors; the services call it again
    inside their transaction, where it counts."""
    national_id = Borrower.normalise_national_id(national_id)
    clash = Borrower.objects.filter(national_id=national_id)
    if exclude_pk is not None:
        clash = clash.exclude(pk=exclude_pk)
    registered = clash.only("pk", "number", "full_name").first()
    if registered is not None:
        raise DuplicateNationalId(registered)


class DuplicateNationalId(ValidationError):
    """The national ID belongs to `borrower` already: the message names them (every staff
    role may see any borrower), and a page can link to them."""

    def __init__(self, borrower: Borrower) -> None:
        self.borrower = borrower
        super().__init__({"national_id": duplicate_id_message(borrower)})


def duplicate_id_message(borrower: Borrower) -> str:
    return (
        f"A borrower with this national ID is already registered: {borrower.full_name} "
        f"({borrower.number})."
    )


def borrower_create(
    *,
    user: User,
    office_id: int | None = None,
    request: HttpRequest | None = None,
    **fields: Any,
) -> Borrower:
    unknown = set(fields) - set(BORROWER_FIELDS)
    if unknown:
        raise TypeError(f"Unknown borrower fields: {sorted(unknown)}")
    require(user.has_perm("lending.add_borrower"), "Your role does not allow adding borrowers.")
    # A borrower is registered in the office of whoever registers them (DESIGN.md "Offices"),
    # or in one of the offices under it when they say so.
    if office_id is None:
        office_id = user_office_id(user)
    else:
        check_office_choice(user, office_id)
    borrower = Borrower(created_by=user, officer=user, office_id=office_id, **fields)
    borrower.national_id = Borrower.normalise_national_id(borrower.national_id or "")
    borrower.full_clean(exclude=["number", "created_by", "office"], validate_unique=False)
    clean_contact(borrower)
    check_text_lengths(borrower)
    check_adult(borrower.date_of_birth)
    with transaction.atomic():
        check_national_id_free(borrower.national_id)
        borrower.number = next_borrower_number()
        try:
            with transaction.atomic():
                borrower.save()
        except IntegrityError as exc:  # a concurrent insert of the same national ID
            raise ValidationError({"national_id": DUPLICATE_ID}) from exc
        audit_record(
            action=AuditLog.Action.BORROWER_CREATED,
            user=user,
            obj=borrower,
            details={"after": snapshot(borrower, ["number", *BORROWER_FIELDS])},
            request=request,
        )
        borrower_changed.send(sender=Borrower, borrower_id=borrower.pk)
    return borrower


def borrower_update(
    *,
    borrower: Borrower,
    user: User,
    request: HttpRequest | None = None,
    **fields: Any,
) -> Borrower:
    unknown = set(fields) - set(BORROWER_FIELDS)
    if unknown:
        raise TypeError(f"Unknown borrower fields: {sorted(unknown)}")
    require(user.has_perm("lending.change_borrower"), "Your role does not allow editing borrowers.")
    with transaction.atomic():
        locked = Borrower.objects.select_for_update().get(pk=borrower.pk)
        before = snapshot(locked, BORROWER_FIELDS)
        born = locked.date_of_birth
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.national_id = Borrower.normalise_national_id(locked.national_id or "")
        locked.full_clean(exclude=["number", "created_by", "office"], validate_unique=False)
        clean_contact(locked)
        check_text_lengths(locked)
        # A borrower registered long ago may be past OLDEST_AGE now; only a new date is checked.
        check_adult(locked.date_of_birth, oldest=locked.date_of_birth != born)
        check_national_id_free(locked.national_id, exclude_pk=locked.pk)
        diff = changes(before, snapshot(locked, BORROWER_FIELDS))
        if diff:
            locked.save(update_fields=[*fields.keys(), "national_id", "phone", "updated_at"])
            audit_record(
                action=AuditLog.Action.BORROWER_UPDATED,
                user=user,
                obj=locked,
                details={"changes": diff},
                request=request,
            )
            borrower_changed.send(sender=Borrower, borrower_id=locked.pk)
    return locked


def borrower_transfer(
    *,
    borrower: Borrower,
    office_id: int,
    user: User,
    reason: str = "",
    request: HttpRequest | None = None,
) -> Borrower:
    """Move a borrower, and every loan of theirs, to another office the user reaches (Admin;
    DESIGN.md "Offices"), with one audit entry naming both offices and the loans moved.
    Transactions and journal entries already booked keep the office they were booked in:
    where money moved is history. A loan booked from now on is in the new office."""
    from accounts.models import Office
    from lending.models import Loan
    from lending.signals import loans_changed

    require(
        user.has_perm("lending.transfer_borrower"),
        "Only an administrator can move a borrower to another office.",
    )
    check_office_choice(user, office_id)
    with transaction.atomic():
        locked = Borrower.objects.select_for_update().get(pk=borrower.pk)
        if not may_reach(user, locked.office_id):  # the caller's 404 already, as a rule here
            raise ValidationError({"borrower": "This borrower is not in one of your offices."})
        if locked.office_id == office_id:
            raise ValidationError({"office": "The borrower is in this office already."})
        loans = list(
            Loan.objects.select_for_update()
            .filter(borrower=locked)
            .order_by("pk")
            .values_list("pk", "number")
        )
        names = dict(
            Office.objects.filter(pk__in=[locked.office_id, office_id]).values_list("pk", "name")
        )
        before = locked.office_id or HEAD_OFFICE_ID  # never None: the column has a default
        locked.office_id = office_id
        locked.save(update_fields=["office", "updated_at"])
        Loan.objects.filter(borrower=locked).update(office_id=office_id, updated_at=timezone.now())
        audit_record(
            action=AuditLog.Action.BORROWER_TRANSFERRED,
            user=user,
            obj=locked,
            details={
                "from": names.get(before, str(before)),
                "to": names.get(office_id, str(office_id)),
                "loans": [number for _, number in loans],
                "reason": reason.strip()[:300],
            },
            request=request,
        )
        borrower_changed.send(sender=Borrower, borrower_id=locked.pk)
        if loans:
            loans_changed.send(sender=Loan, loan_ids=[pk for pk, _ in loans], event="transfer")
    return locked
