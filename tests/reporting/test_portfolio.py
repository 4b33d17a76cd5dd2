"""PAR and aging on principal outstanding, the outstanding split by component, PAR by product,
and the status rule (never on track while more than 30 days past due), with the domain
review's cases worked out by hand (DESIGN.md "Dashboard and reports", "Charges, penalties and
delinquency", "Loan status against plan")."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from lending.models import Installment
from lending.selectors.status import BEHIND, ON_TRACK, classify, loan_status
from lending.services.close_day import day_close
from reporting.portfolio import portfolio_balances
from reporting.selectors import aging_report, dashboard_figures
from tests.factories import LoanProductFactory
from tests.reporting.fixtures import review_loan
from tests.reporting.helpers import D, pay, reload, today, weekly_loan

pytestmark = pytest.mark.django_db


def test_par30_counts_principal_outstanding_not_interest_not_yet_earned() -> None:
    loan = review_loan()
    rows = list(Installment.objects.filter(loan=loan).order_by("number"))
    assert (rows[0].interest, rows[0].principal) == (D("300.00"), D("290.47"))
    # Before the fix PAR30 was the loan's `outstanding`: 14,171.42 - 590.47 = 13,580.95,
    # of which 3,871.42 is interest of installments not yet due (not earned).
    assert loan.outstanding == D("13580.95")
    # On principal: 10,000.00 - 290.47 repaid with #1 = 9,709.53.
    current = weekly_loan(principal="1200.00", n=12)  # nothing due yet: not at risk
    figures = dashboard_figures()
    assert figures.par30 == D("9709.53")
    assert figures.balance.principal == D("10909.53")  # 9,709.53 + 1,200.00
    # 9,709.53 / 10,909.53 = 89.0003 %
    assert figures.par30_percent == D("89.00")
    assert current.outstanding == D("1200.00")


def test_par30_agrees_with_the_aging_report() -> None:
    review_loan()
    weekly_loan(principal="1200.00", n=12)
    report = aging_report()
    rows = {r.key: r for r in report.rows}
    assert rows["31-60"].loans == 1
    assert rows["31-60"].principal_outstanding == D("9709.53")
    in_par30 = sum((rows[k].principal_outstanding for k in ("31-60", "61-90", "90+")), D(0))
    figures = dashboard_figures()
    assert figures.par30 == in_par30 == report.par30 == D("9709.53")
    assert rows["31-60"].par == figures.par30_percent == report.par30_percent
    assert rows["31-60"].par_days == 30


def test_outstanding_split_counts_interest_due_to_date_only() -> None:
    loan = review_loan()
    rows = list(Installment.objects.filter(loan=loan).order_by("number"))
    # #2: 9,709.53 x 3 % = 291.29 interest; #3: (9,709.53 - 299.18) x 3 % = 282.31.
    assert [r.interest for r in rows[1:3]] == [D("291.29"), D("282.31")]
    interest_due = D("291.29") + D("282.31")
    later = sum((r.interest for r in rows[3:]), D(0))  # #4..#24: not yet due
    status = loan_status(loan)
    assert status.principal_outstanding == D("9709.53")
    assert status.interest_due == interest_due == D("573.60")
    assert (status.fees_due, status.penalties_due) == (D("0.00"), D("0.00"))
    assert status.total_due == D("10283.13")
    assert status.not_yet_due == later
    # The loan's outstanding (everything still to repay) = owed today + not yet due.
    assert status.total_due + status.not_yet_due == loan.outstanding

    balance = dashboard_figures().balance
    assert (balance.principal, balance.interest, balance.total) == (
        D("9709.53"),
        D("573.60"),
        D("10283.13"),
    )
    aging = aging_report().total.outstanding
    assert aging == balance


def test_penalties_charged_are_outstanding_and_never_in_par() -> None:
    # 1200 / 12 weekly, #1..#4 due 28..7 days ago (#5 due today is not late yet): a 10.00
    # flat penalty on each of the four.
    product = LoanProductFactory(penalty_type="flat", penalty_amount=D("10.00"))
    loan = weekly_loan(disbursed_days_ago=35, product=product)
    day_close(on=today())
    balances = portfolio_balances()
    assert balances.total.outstanding.penalties == D("40.00")
    assert balances.total.outstanding.principal == D("1200.00")
    assert balances.total.outstanding.total == D("1240.00") == reload(loan).outstanding
    assert balances.par30 == D("0.00")  # 28 days past due: not yet in PAR30
    assert balances.par(0) == D("1200.00")  # PAR1: principal only, never the penalties
    assert loan_status(loan).penalties_due == D("40.00")


def test_par_by_product() -> None:
    weekly_product = LoanProductFactory(name="Market weekly")
    other = LoanProductFactory(name="Unused product")
    late = weekly_loan(principal="1200.00", disbursed_days_ago=40, product=weekly_product)
    pay(late, "100.00")  # #1 paid; #2 due 26 days ago... still late, but not past 30 days
    very_late = weekly_loan(principal="600.00", n=6, disbursed_days_ago=45, product=weekly_product)
    weekly_loan(principal="500.00", n=5, disbursed_days_ago=0)  # custom terms, current
    balances = portfolio_balances(by_product=True)
    rows = {p.name: p for p in balances.by_product}
    assert set(rows) == {"Market weekly", "Custom terms (no product)"}  # unused: no row
    assert other.pk not in {p.product_id for p in balances.by_product}
    market = rows["Market weekly"]
    assert (market.loans, market.loans_par30) == (2, 1)
    assert market.outstanding.principal == D("1700.00")  # 1100 + 600
    assert market.par30 == very_late.principal == D("600.00")
    assert market.par30_percent == D("35.29")  # 600 / 1700
    custom = rows["Custom terms (no product)"]
    assert (custom.product_id, custom.loans, custom.par30) == (None, 1, D("0.00"))
    assert sum((p.par30 for p in balances.by_product), D(0)) == balances.par30


# --- the status rule ----------------------------------------------------------------------


def test_status_rule_on_its_own() -> None:
    assert classify(expected=D("100"), paid=D("95"), days_past_due=30) == ON_TRACK
    assert classify(expected=D("100"), paid=D("95"), days_past_due=31) == BEHIND
    assert classify(expected=D("100"), paid=D("200"), days_past_due=31) == BEHIND


def test_a_loan_69_days_late_is_never_on_track(officer_client: Client) -> None:
    """104 weekly installments of 100. Disbursed 643 days ago: #82 was due 643 - 574 = 69
    days ago and #91 (637 days) is the last due, so 9,100.00 has fallen due. 8,199.99 paid
    settles #1..#81 and 99.99 of #82: #82 is 69 days past due, while the ratio says 8,199.99 /
    9,100.00 = 90.1 % of expected, on track by the ratio alone."""
    loan = weekly_loan(principal="10400.00", n=104, disbursed_days_ago=643)
    pay(loan, "8199.99")
    status = loan_status(loan)
    assert (status.expected_paid, status.paid) == (D("9100.00"), D("8199.99"))
    assert classify(expected=status.expected_paid, paid=status.paid) == ON_TRACK
    assert status.days_past_due == 69
    assert status.status == BEHIND and status.label == "Behind"

    page = officer_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert '<span class="badge behind">Behind</span>' in page
    assert "On track" not in page
    listed = officer_client.get(reverse("loan_list")).content.decode()
    assert "badge behind" in listed and "badge on_track" not in listed


# --- pages, CSV and API -------------------------------------------------------------------


def test_loan_page_shows_the_split(officer_client: Client) -> None:
    loan = review_loan()
    html = officer_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert "Owed today, by component" in html
    for figure in ("9,709.53", "573.60", "10,283.13"):
        assert figure in html


def test_dashboard_shows_split_and_par_by_product(accountant_client: Client) -> None:
    product = LoanProductFactory(name="Harvest loan")
    weekly_loan(principal="600.00", n=6, disbursed_days_ago=45, product=product)
    html = accountant_client.get(reverse("dashboard")).content.decode()
    assert 'id="outstanding-table"' in html and 'id="par-by-product"' in html
    assert "Harvest loan" in html and "100.00 %" in html


def test_aging_page_shows_components_and_par_by_product(admin_client: Client) -> None:
    review_loan()
    html = admin_client.get(reverse("report_aging")).content.decode()
    assert "Interest due" in html and "573.60" in html
    assert 'id="par-by-product"' in html and "PAR30 100.00 %" in html


# --- a fixed number of queries ------------------------------------------------------------


def test_balances_run_one_query_whatever_the_portfolio(
    django_assert_num_queries: Any,
) -> None:
    with django_assert_num_queries(2):
        portfolio_balances(by_product=True)
    for i in range(4):
        product = LoanProductFactory(name=f"Product {i}")
        for days in (0, 20, 40, 70, 100):
            weekly_loan(disbursed_days_ago=days, product=product)
    with django_assert_num_queries(2):  # the product names, then every figure at once
        balances = portfolio_balances(by_product=True)
    assert len(balances.by_product) == 4
    with django_assert_num_queries(1):
        portfolio_balances()
    with django_assert_num_queries(3):  # the bucket limits, the product names, the figures
        aging_report()


def test_dashboard_figures_run_a_fixed_number_of_queries(django_assert_num_queries: Any) -> None:
    with django_assert_num_queries(7):
        dashboard_figures()
    for days in (0, 35, 95):
        weekly_loan(disbursed_days_ago=days, product=LoanProductFactory())
    with django_assert_num_queries(7):
        dashboard_figures()


def test_amounts_are_decimals() -> None:
    review_loan()
    balance = dashboard_figures().balance
    assert all(isinstance(v, Decimal) for v in vars(balance).values())
