"""The office tree in the Django admin (DESIGN.md "Offices"): an Admin adds an office under
another (its path follows the parent's) and puts a user in it; both are audited, and the
user's scope changes at once."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from accounts.models import Office, UserOffice
from accounts.offices import reaches_everything, scope_key
from lending.models import AuditLog
from tests.factories import OfficerFactory

pytestmark = pytest.mark.django_db


def test_an_admin_adds_an_office_under_another_and_puts_a_user_in_it(
    admin_client: Client, admin_user: Any
) -> None:
    response = admin_client.post(
        "/admin/accounts/office/add/", {"name": "Coast region", "parent": 1}
    )
    assert response.status_code == 302, response.content
    region = Office.objects.get(name="Coast region")
    assert region.path == f"0001/{region.pk:04d}/"
    admin_client.post("/admin/accounts/office/add/", {"name": "Mombasa", "parent": region.pk})
    branch = Office.objects.get(name="Mombasa")
    assert branch.path == f"{region.path}{branch.pk:04d}/" and branch.depth == 2
    assert AuditLog.objects.filter(action=AuditLog.Action.OFFICE_SAVED).count() == 2

    officer = OfficerFactory(username="coastal")
    assert reaches_everything(User.objects.get(pk=officer.pk))
    UserOffice.objects.create(user=officer, office=branch)
    fresh = User.objects.get(pk=officer.pk)
    assert scope_key(fresh) == branch.path
