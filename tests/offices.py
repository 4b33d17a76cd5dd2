"""Two branches under the head office, and staff in them, for the office scoping tests."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import User

from accounts.models import Office
from accounts.offices import office_create, user_office_set
from tests.factories import AccountantFactory, AdminFactory, OfficerFactory


@dataclass
class Branch:
    office: Office
    admin: User
    officer: User
    officer2: User
    accountant: User


def branch(name: str, parent: Office | None = None) -> Branch:
    """An office under `parent` (the head office by default) with an Admin, two officers and
    an accountant in it."""
    office = office_create(name=name, parent=parent)
    slug = name.split()[0].lower()
    staff = {
        "admin": AdminFactory(username=f"{slug}_admin"),
        "officer": OfficerFactory(username=f"{slug}_officer"),
        "officer2": OfficerFactory(username=f"{slug}_officer2"),
        "accountant": AccountantFactory(username=f"{slug}_accountant"),
    }
    for user in staff.values():
        user_office_set(user=user, office=office)
    return Branch(office=office, **staff)
