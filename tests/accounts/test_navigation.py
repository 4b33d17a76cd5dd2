"""The header's main navigation: the links each role may follow, the current page marked."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

pytestmark = pytest.mark.django_db

EXPECTED = {
    "admin_client": [
        "Dashboard",
        "Borrowers",
        "Loans",
        "My portfolio",
        "Calculator",
        "Repayments",
        "Collections",
        "Reports",
        "Ledger",
        "Daily close",
        "Working days",
        "Admin",
    ],
    "officer_client": [
        "Dashboard",
        "Borrowers",
        "Loans",
        "My portfolio",
        "Calculator",
        "Collections",
        "Reports",
    ],
    "accountant_client": [
        "Dashboard",
        "Borrowers",
        "Loans",
        "Calculator",
        "Repayments",
        "Collections",
        "Reports",
        "Ledger",
    ],
}


def _links(html: str) -> list[tuple[str, bool]]:
    nav = html.split('<nav class="mainnav"')[1].split("</nav>")[0]
    return [
        (label, bool(current))
        for current, label in re.findall(r'<a href="[^"]+"( aria-current="page")?>([^<]+)</a>', nav)
    ]


@pytest.mark.parametrize("role", sorted(EXPECTED))
def test_each_role_sees_the_pages_it_may_open(request: pytest.FixtureRequest, role: str) -> None:
    client: Client = request.getfixturevalue(role)
    links = _links(client.get(reverse("dashboard")).content.decode())
    assert [label for label, _ in links] == EXPECTED[role]
    assert [label for label, current in links if current] == ["Dashboard"]


def test_the_current_section_is_marked(accountant_client: Client) -> None:
    sections = {"loan_list": "Loans", "repayment_list": "Repayments",
                "borrower_list": "Borrowers", "calculator": "Calculator",
                "ledger_journal": "Ledger", "collection_sheet": "Collections"}  # fmt: skip
    for name, section in sections.items():
        links = _links(accountant_client.get(reverse(name)).content.decode())
        assert [label for label, current in links if current] == [section], name


def test_signed_out_pages_have_no_navigation(client: Client) -> None:
    assert '<nav class="mainnav"' not in client.get(reverse("login")).content.decode()


def test_the_daily_close_is_its_own_section(admin_client: Client) -> None:
    for url in (reverse("day_close"), reverse("collection_sheet")):
        links = _links(admin_client.get(url).content.decode())
        expected = "Daily close" if "daily-close" in url else "Collections"
        assert [label for label, current in links if current] == [expected], url
