"""The page header: its links and the signed-in user's name, roles and office, rendered once
per process for each set of values (karo.rendered), never another user's or another page's."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from karo.rendered import _render, rendered

pytestmark = pytest.mark.django_db


def _header(client: Client, url: str) -> str:
    page = client.get(url).content.decode()
    return page.split('<header class="topbar">')[1].split("</header>")[0]


def test_the_header_marks_the_current_page_and_names_the_user(
    officer_client: Client, officer: User
) -> None:
    officer.first_name, officer.last_name = "Ama", "<b>Owusu</b>"
    officer.save()
    loans = _header(officer_client, reverse("loan_list"))
    borrowers = _header(officer_client, reverse("borrower_list"))
    assert f'href="{reverse("loan_list")}" aria-current="page"' in loans
    assert f'href="{reverse("borrower_list")}" aria-current="page"' in borrowers
    assert 'aria-current="page"' not in loans.split(reverse("borrower_list"))[1][:30]
    for header in (loans, borrowers):
        assert "Ama &lt;b&gt;Owusu&lt;/b&gt;" in header  # escaped, as the template escapes
        assert "Loan Officer" in header and 'name="csrfmiddlewaretoken"' in header


def test_each_set_of_values_is_rendered_once() -> None:
    _render.cache_clear()
    first = rendered(
        "includes/topbar_who.html", name="A", roles=("Accountant",), superuser=False, office=""
    )
    again = rendered(
        "includes/topbar_who.html", name="A", roles=("Accountant",), superuser=False, office=""
    )
    other = rendered("includes/topbar_who.html", name="B", roles=(), superuser=True, office="North")
    assert first == again and "Accountant" in first and "Head office" in first
    assert "Superuser" in other and "North" in other and "B" in other
    assert _render.cache_info().hits == 1 and _render.cache_info().misses == 2
