"""The office a new borrower is registered in: who reaches several offices chooses it on the
registration form (one of their offices), who reaches one office is not asked; and the page
header names the signed-in user's office, from the cached access (no query of its own)."""

from __future__ import annotations

from typing import Any

import pytest
from django.urls import reverse

from accounts.head_office import HEAD_OFFICE_ID
from lending.models import Borrower
from tests.conftest import login
from tests.lending.test_views_borrowers import form_data
from tests.offices import branch

pytestmark = pytest.mark.django_db
NEW = reverse("borrower_create")


def test_a_region_officer_registers_a_borrower_in_a_branch_under_it() -> None:
    region = branch("Region office")
    town = branch("Town branch", parent=region.office)
    other = branch("Other branch")
    client = login(region.officer)
    page = client.get(NEW).content.decode()
    assert 'name="office"' in page and "Town branch" in page and "Other branch" not in page
    response = client.post(NEW, form_data(office=str(town.office.pk)))
    assert response.status_code == 302
    assert Borrower.objects.get().office == town.office
    # Another office's, or no office at all: a form error on the field, nothing stored.
    for bad in (str(other.office.pk), "x"):
        response = client.post(NEW, form_data(national_id="QQ 1", office=bad))
        assert response.status_code == 200
        assert "Choose one of your offices." in response.content.decode()
    assert Borrower.objects.count() == 1


def test_without_a_choice_the_borrower_is_in_the_registering_users_office(
    officer_client: Any,
) -> None:
    north = branch("North branch")
    client = login(north.officer)
    assert 'name="office"' not in client.get(NEW).content.decode()  # one office: no picker
    assert client.post(NEW, form_data(office=str(HEAD_OFFICE_ID))).status_code == 302
    assert Borrower.objects.get().office == north.office  # a posted office is ignored
    assert 'name="office"' in officer_client.get(NEW).content.decode()  # the head office's
    officer_client.post(NEW, form_data(national_id="HQ 1"))
    assert Borrower.objects.get(national_id="HQ1").office_id == HEAD_OFFICE_ID


def test_the_header_names_the_users_office(officer_client: Any) -> None:
    north = branch("North branch")
    client = login(north.officer)
    page = client.get(reverse("dashboard")).content.decode()
    assert 'class="office">North branch<' in page
    page = officer_client.get(reverse("dashboard")).content.decode()
    assert 'class="office">Head office<' in page


def test_the_header_follows_a_renamed_office(settings: Any) -> None:
    settings.KARO_CACHE_ACCESS = True
    north = branch("North branch")
    client = login(north.officer)
    assert 'class="office">North branch<' in client.get(reverse("dashboard")).content.decode()
    north.office.name = "North-East branch"
    north.office.save()
    page = client.get(reverse("dashboard")).content.decode()
    assert 'class="office">North-East branch<' in page
