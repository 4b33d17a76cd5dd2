"""The status-against-plan badge (lending.selectors.status) on the loan page and the loan list."""

from __future__ import annotations

import re

import pytest
from django.test import Client
from django.urls import reverse

from lending.services.loans import loan_write_off
from tests.factories import AdminFactory
from tests.reporting.helpers import pay, weekly_loan

pytestmark = pytest.mark.django_db


def badges(html: str) -> list[tuple[str, str]]:
    found = re.findall(r'<span class="badge (ahead|on_track|behind)"[^>]*>([^<]+)</span>', html)
    return [(css, label.strip()) for css, label in found]


def test_loan_page_shows_the_badge_with_its_figures(officer_client: Client) -> None:
    loan = weekly_loan(disbursed_days_ago=21)  # 300 due so far
    pay(loan, "150.00")
    html = officer_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert badges(html) == [("behind", "Behind")]
    assert "150.00" in html and "300.00" in html  # paid, expected so far


def test_loan_list_shows_a_badge_per_active_loan(accountant_client: Client) -> None:
    ahead = weekly_loan(disbursed_days_ago=0)
    pay(ahead, "50.00")
    on_track = weekly_loan(disbursed_days_ago=7)
    pay(on_track, "100.00")
    behind = weekly_loan(disbursed_days_ago=14)
    gone = weekly_loan(disbursed_days_ago=14)
    loan_write_off(loan=gone, user=AdminFactory(), reason="Fraud")
    html = accountant_client.get(reverse("loan_list")).content.decode()
    assert sorted(badges(html)) == [
        ("ahead", "Ahead"),
        ("behind", "Behind"),
        ("on_track", "On track"),
    ]
    assert behind.number in html and gone.number in html  # the written-off loan: no badge
