"""An installment's label as staff read it on the institution's today (`label_on`): Paid,
Partially paid, Overdue, Due today, Upcoming; the same on every page that shows one."""

from __future__ import annotations

import re
from datetime import date, timedelta

import pytest
from django.test import Client
from django.urls import reverse

from lending.models import Installment, InstallmentLabel
from tests.reporting.helpers import pay, weekly_loan

DAY = date(2027, 2, 28)


def installment(due: date, status: str = Installment.Status.DUE) -> Installment:
    return Installment(number=1, due_date=due, principal=100, interest=0, status=status)


@pytest.mark.parametrize(
    ("due", "status", "label"),
    [
        (DAY + timedelta(days=365), "due", "Upcoming"),  # a year away is not "Due"
        (DAY + timedelta(days=1), "due", "Upcoming"),
        (DAY, "due", "Due today"),
        (DAY - timedelta(days=1), "due", "Overdue"),
        (DAY - timedelta(days=1), "partial", "Overdue"),  # the rest is late
        (DAY, "partial", "Partially paid"),
        (DAY + timedelta(days=30), "partial", "Partially paid"),
        (DAY - timedelta(days=90), "paid", "Paid"),
        (DAY + timedelta(days=30), "paid", "Paid"),  # paid ahead
    ],
)
def test_label_is_relative_to_the_day(due: date, status: str, label: str) -> None:
    assert installment(due, status).label_on(DAY).label == label


def test_every_label_has_its_badge_class() -> None:
    assert installment(DAY, "due").label_on(DAY) == InstallmentLabel.DUE_TODAY
    assert InstallmentLabel.DUE_TODAY.value == "due_today"


def schedule_badges(html: str) -> list[str]:
    table = html[html.index('<table class="schedule">') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    return re.findall(r'<span class="badge [a-z_]+">([^<]+)</span>', body)


@pytest.mark.django_db
def test_loan_page_labels_installments_against_today(officer_client: Client) -> None:
    # 12 weekly installments of 100 disbursed 21 days ago: #1 due 14 days ago, #2 7 days ago,
    # #3 today, #4-#12 in the coming weeks. 150 pays #1 and half of #2.
    loan = weekly_loan(disbursed_days_ago=21)
    pay(loan, "150.00")
    html = officer_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert schedule_badges(html) == ["Paid", "Overdue", "Due today"] + ["Upcoming"] * 9
    assert '<span class="badge due_today">Due today</span>' in html


@pytest.mark.django_db
def test_loan_page_shows_a_part_paid_future_installment(officer_client: Client) -> None:
    loan = weekly_loan(disbursed_days_ago=14)  # #2 due today
    pay(loan, "250.00")
    html = officer_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert schedule_badges(html) == ["Paid", "Paid", "Partially paid"] + ["Upcoming"] * 9


@pytest.mark.django_db
def test_payment_page_uses_the_same_labels(accountant_client: Client) -> None:
    loan = weekly_loan(disbursed_days_ago=14)
    html = accountant_client.get(reverse("repayment_create", args=[loan.pk])).content.decode()
    assert '<span class="badge overdue">Overdue</span>' in html
    assert '<span class="badge due_today">Due today</span>' in html
    assert '<span class="badge upcoming">Upcoming</span>' in html
    assert ">Due</span>" not in html


@pytest.mark.django_db
def test_dashboard_due_today_uses_the_same_labels(officer_client: Client) -> None:
    weekly_loan(disbursed_days_ago=7)  # #1 falls due on the institution's today
    html = officer_client.get(reverse("dashboard")).content.decode()
    assert '<span class="badge due_today">Due today</span>' in html
