"""Loan pages: list with filters, the application with its preview, the loan page and the
transitions, each checked for every role, for bad input and for a fixed number of queries."""

from __future__ import annotations

import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from lending.models import AuditLog, Installment, Loan, Receipt, Repayment
from lending.services.loans import loan_approve, loan_write_off
from lending.services.repayments import repayment_record, repayment_reverse
from tests.caches import clear_own_caches
from tests.factories import (
    ActiveLoanFactory,
    BorrowerFactory,
    LoanFactory,
    LoanProductFactory,
    OfficerFactory,
)
from tests.reporting.helpers import days_ago, weekly_loan

pytestmark = pytest.mark.django_db
D = Decimal
HTMX = {"HTTP_HX_REQUEST": "true"}


def loan_audit(loan: Loan) -> list[AuditLog]:
    return list(AuditLog.objects.filter(object_type="loan", object_id=str(loan.pk)).order_by("id"))


def apply_data(who: Any, **overrides: Any) -> dict[str, Any]:
    data = {
        "borrower_q": "",
        "borrower": str(who.pk) if who else "",
        "product": "",
        "purpose": "Shop stock",
        "principal": "5000",
        "annual_interest_rate": "12",
        "installments": "12",
        "frequency": "monthly",
        "interest_method": "declining",
        "amortization": "equal_installments",
        "grace_periods": "0",
        "first_due_date": "",
        "installment_multiple": "0.01",
        "installment_rounding": "nearest",
        "interest_period": "per_period",
        "days_in_year": "365",
    }
    return data | overrides


@pytest.fixture
def pending(officer: User) -> Loan:
    return LoanFactory(submitted_by=officer)


@pytest.fixture
def active(officer: User, officer2: User) -> Loan:
    return ActiveLoanFactory(submitted_by=officer, approved_by=officer2, disbursed_days_ago=70)


# --- role matrix ------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["loan_list", "loan_detail"])
def test_every_role_reads_loans(role_client: Any, pending: Loan, name: str) -> None:
    _, client = role_client
    args = [pending.pk] if name == "loan_detail" else []
    assert client.get(reverse(name, args=args)).status_code == 200


@pytest.mark.parametrize(
    ("role", "status"), [("admin", 200), ("officer", 200), ("accountant", 403)]
)
def test_who_may_apply(request: pytest.FixtureRequest, role: str, status: int) -> None:
    client = request.getfixturevalue(f"{role}_client")
    assert client.get(reverse("loan_apply")).status_code == status


def test_accountant_cannot_submit_an_application(accountant_client: Client) -> None:
    response = accountant_client.post(reverse("loan_apply"), apply_data(BorrowerFactory()))
    assert response.status_code == 403
    assert not Loan.objects.exists()


@pytest.mark.parametrize(
    "name",
    ["loan_list", "loan_apply", "loan_detail", "loan_approve", "loan_reject", "loan_withdraw",
     "loan_write_off"],
)  # fmt: skip
def test_anonymous_users_go_to_the_login_page(client: Client, pending: Loan, name: str) -> None:
    args = [] if name in {"loan_list", "loan_apply"} else [pending.pk]
    method = client.post if name not in {"loan_list", "loan_apply", "loan_detail"} else client.get
    response = method(reverse(name, args=args))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
    pending.refresh_from_db()
    assert pending.status == Loan.Status.PENDING


@pytest.mark.parametrize(
    ("name", "data"),
    [
        ("loan_approve", {"disbursement_date": ""}),
        ("loan_reject", {"reject-reason": "no"}),
        ("loan_write_off", {"write_off-reason": "no"}),
    ],
)
def test_accountant_cannot_decide_loans(
    accountant_client: Client, pending: Loan, active: Loan, name: str, data: dict[str, str]
) -> None:
    loan = active if name == "loan_write_off" else pending
    before = AuditLog.objects.count()
    response = accountant_client.post(reverse(name, args=[loan.pk]), data)
    assert response.status_code == 403
    assert AuditLog.objects.count() == before


def test_transitions_are_post_only(officer2_client: Client, pending: Loan) -> None:
    response = officer2_client.get(reverse("loan_approve", args=[pending.pk]))
    assert response.status_code == 405
    pending.refresh_from_db()
    assert pending.status == Loan.Status.PENDING


def test_unknown_loan_is_404(officer_client: Client) -> None:
    assert officer_client.get(reverse("loan_detail", args=[999999])).status_code == 404
    assert officer_client.post(reverse("loan_approve", args=[999999])).status_code == 404


# --- list ---------------------------------------------------------------------------------------


def test_loan_list_filters(officer_client: Client, officer: User, officer2: User) -> None:
    product = LoanProductFactory(name="Solar")
    kofi = BorrowerFactory(full_name="Kofi Mensah")
    mine = LoanFactory(submitted_by=officer, borrower=kofi, product=product)
    theirs = ActiveLoanFactory(submitted_by=officer2, approved_by=officer)
    old = LoanFactory(submitted_by=officer2)
    Loan.objects.filter(pk=old.pk).update(submitted_at=timezone.now() - timedelta(days=40))

    def numbers(**params: Any) -> set[str]:
        response = officer_client.get(reverse("loan_list"), params)
        assert response.status_code == 200
        return {loan.number for loan in response.context["page_obj"]}

    assert numbers() == {mine.number, theirs.number, old.number}
    assert numbers(status="active") == {theirs.number}
    assert numbers(officer=officer.pk) == {mine.number}
    assert numbers(product=product.pk) == {mine.number}
    assert numbers(borrower=kofi.pk) == {mine.number}
    assert numbers(q="kofi") == {mine.number}
    assert numbers(q=kofi.number) == {mine.number}
    assert numbers(q=theirs.number) == {theirs.number}
    since = (timezone.localdate() - timedelta(days=10)).isoformat()
    assert numbers(submitted_from=since) == {mine.number, theirs.number}
    assert numbers(submitted_to=since) == {old.number}
    # Bad filter values are reported and ignored, never a 500.
    assert numbers(submitted_from="last week", officer="abc", status="lost") == {
        mine.number,
        theirs.number,
        old.number,
    }


@pytest.mark.parametrize("typed", ["0712345678", "0712 345 678", "+254712345678", "712345678"])
def test_loan_list_finds_a_loan_by_its_borrowers_phone_typed_any_way(
    officer_client: Client, officer: User, typed: str
) -> None:
    wanted = LoanFactory(submitted_by=officer, borrower=BorrowerFactory(phone="+254712345678"))
    LoanFactory(submitted_by=officer, borrower=BorrowerFactory(phone="+254722000111"))
    response = officer_client.get(reverse("loan_list"), {"q": typed})
    assert [loan.number for loan in response.context["page_obj"]] == [wanted.number]


def test_loan_list_shows_the_columns(officer_client: Client, active: Loan) -> None:
    html = officer_client.get(reverse("loan_list")).content.decode()
    for text in [active.number, active.borrower.full_name, "5,000.00", 'class="badge active"']:
        assert text in html
    assert f"{active.outstanding:,}" in html


def test_loan_list_paginates_with_fixed_queries(
    officer_client: Client, django_assert_max_num_queries: Any
) -> None:
    officers = [OfficerFactory(username=f"o{i}") for i in range(3)]
    for i in range(27):
        LoanFactory(submitted_by=officers[i % 3])
    for i in range(3):
        ActiveLoanFactory(submitted_by=officers[i])
    with django_assert_max_num_queries(13):
        first = officer_client.get(reverse("loan_list"))
    assert len(first.context["page_obj"]) == 25
    with django_assert_max_num_queries(13):  # a phone search is the same one list query
        searched = officer_client.get(reverse("loan_list"), {"q": "0712 345 678"})
    assert searched.status_code == 200
    with django_assert_max_num_queries(15):
        second = officer_client.get(
            reverse("loan_list"), {"page": 2, "officer": officers[0].pk, "borrower": 1}
        )
    assert second.status_code == 200


def test_htmx_filtering_returns_the_results_fragment(officer_client: Client, pending: Loan) -> None:
    response = officer_client.get(reverse("loan_list"), {"status": "pending"}, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section id="loan-results"') and pending.number in html


HUGE = "9" * 30  # beyond any database id


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("loan_list", {"borrower": HUGE, "officer": HUGE, "product": HUGE, "page": HUGE}),
        ("loan_apply", {"borrower": HUGE, "product": HUGE}),
        ("borrower_search", {"borrower": HUGE, "q": "x"}),
    ],
)
def test_absurd_ids_in_links_never_fail(officer_client: Client, name: str, params: Any) -> None:
    assert officer_client.get(reverse(name), params).status_code == 200


def test_absurd_ids_in_the_application_are_field_errors(officer_client: Client) -> None:
    data = apply_data(None, borrower=HUGE, product=HUGE, preview="1")
    form = officer_client.post(reverse("loan_apply"), data).context["form"]
    assert "borrower" in form.errors and "product" in form.errors
    data = apply_data(None, borrower=HUGE, product=HUGE, use_defaults="1")
    assert officer_client.post(reverse("loan_apply"), data).status_code == 200


# --- application ---------------------------------------------------------------------------------


def test_apply_preselects_the_borrower(officer_client: Client) -> None:
    borrower = BorrowerFactory()
    html = officer_client.get(reverse("loan_apply"), {"borrower": borrower.pk}).content.decode()
    assert f'<option value="{borrower.pk}" selected>' in html


def test_apply_with_a_product_fills_its_defaults(officer_client: Client) -> None:
    product = LoanProductFactory(
        default_interest_rate=D("21.5"), frequency="weekly", interest_method="flat"
    )
    response = officer_client.get(reverse("loan_apply"), {"product": product.pk})
    form = response.context["form"]
    assert form["annual_interest_rate"].value() == "21.5"
    assert form["frequency"].value() == "weekly" and form["interest_method"].value() == "flat"


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_use_product_defaults_keeps_borrower_and_principal(
    officer_client: Client, headers: dict[str, str]
) -> None:
    borrower = BorrowerFactory()
    product = LoanProductFactory(default_interest_rate=D("30"), installment_multiple=D("1.00"))
    data = apply_data(borrower, product=str(product.pk), principal="7000", use_defaults="1")
    response = officer_client.post(reverse("loan_apply"), data, **headers)
    assert response.status_code == 200
    form = response.context["form"]
    assert not form.is_bound  # refilled, not judged: no errors shown yet
    assert form["annual_interest_rate"].value() == "30"
    assert form["principal"].value() == "7000"
    assert str(form["installment_multiple"].value()) == "1.00"
    html = response.content.decode()
    assert f'<option value="{borrower.pk}" selected>' in html
    if headers:
        assert html.lstrip().startswith('<div id="application"')
    assert not Loan.objects.exists()


def test_find_button_refills_the_picker_without_javascript(officer_client: Client) -> None:
    borrower = BorrowerFactory(full_name="Unique Name")
    data = apply_data(None, borrower_q="unique", find_borrower="1")
    html = officer_client.post(reverse("loan_apply"), data).content.decode()
    assert f'<option value="{borrower.pk}" selected>' in html


@pytest.mark.parametrize("headers", [{}, HTMX], ids=["plain", "htmx"])
def test_preview_shows_the_schedule_and_writes_nothing(
    officer_client: Client, headers: dict[str, str]
) -> None:
    borrower = BorrowerFactory()
    before = AuditLog.objects.count()
    response = officer_client.post(
        reverse("loan_apply"), apply_data(borrower, preview="1"), **headers
    )
    assert response.status_code == 200
    schedule = response.context["schedule"]
    assert schedule is not None and len(schedule.installments) == 12
    html = response.content.decode()
    assert "Schedule preview" in html and f"{schedule.total:,}" in html
    assert not Loan.objects.exists() and AuditLog.objects.count() == before


def _kpi(html: str, label: str) -> str:
    start = html.index(f'<p class="label">{label}</p>')
    return " ".join(html[start : html.index("</div>", start)].split())


@pytest.mark.parametrize(
    ("rate", "grace_note"), [("0", "nothing due"), ("12", "interest only: USD 50.00")]
)
def test_preview_headline_is_the_regular_installment_after_grace_periods(
    officer_client: Client, rate: str, grace_note: str
) -> None:
    """QA: with 2 grace periods the headline showed the interest-only installment."""
    data = apply_data(BorrowerFactory(), preview="1", grace_periods="2", annual_interest_rate=rate)
    response = officer_client.post(reverse("loan_apply"), data)
    schedule = response.context["schedule"]
    regular = schedule.installments[2]
    assert schedule.installments[1].principal == 0 < regular.principal
    headline = _kpi(response.content.decode(), "Installment")
    assert f'<p class="value">USD {regular.total:,}</p>' in headline
    assert f"after 2 grace periods ({grace_note})" in headline


def test_pending_loan_headline_is_the_regular_installment_after_grace_periods(
    officer_client: Client, officer: User
) -> None:
    loan = LoanFactory(submitted_by=officer, grace_periods=2, installments=12)
    response = officer_client.get(reverse("loan_detail", args=[loan.pk]))
    projected = response.context["projected"]()  # computed when the page asks for it
    headline = _kpi(response.content.decode(), "Installment (if disbursed today)")
    assert f"USD {projected.installments[2].total:,}" in headline
    assert f"USD {projected.installments[0].total:,}" not in headline
    assert "after 2 grace periods (interest only)" in headline


def test_submit_creates_a_pending_loan_and_redirects(officer_client: Client, officer: User) -> None:
    borrower = BorrowerFactory()
    response = officer_client.post(reverse("loan_apply"), apply_data(borrower), follow=True)
    loan = Loan.objects.get()
    assert response.redirect_chain == [(reverse("loan_detail", args=[loan.pk]), 302)]
    assert loan.status == Loan.Status.PENDING and loan.submitted_by == officer
    assert loan.purpose == "Shop stock" and loan.principal == D("5000.00")
    assert f"Application {loan.number}" in response.content.decode()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"principal": "lots"}, "principal", "Enter the principal as a number"),
        ({"principal": "-5000"}, "principal", "The principal must be more than zero."),
        ({"principal": "0"}, "principal", "The principal must be more than zero."),
        ({"annual_interest_rate": "abc"}, "annual_interest_rate", "as a number"),
        ({"installments": "0"}, "installments", "from 1 to 480"),
        ({"installments": "481"}, "installments", "from 1 to 480"),
        ({"installments": "twelve"}, "installments", "whole number"),
        ({"first_due_date": "2001-01-01"}, "first_due_date", "after the disbursement"),
        ({"first_due_date": "soon"}, "first_due_date", "as dd/mm/yyyy"),
        ({"grace_periods": "12"}, "grace_periods", "fewer than the installments"),
        ({"borrower": ""}, "borrower", "Choose the borrower the loan is for."),
        ({"borrower": "987654"}, "borrower", "not registered"),
        ({"product": "987654"}, "product", "not offered"),
    ],
)
@pytest.mark.parametrize("action", ["submit", "preview"])
def test_bad_application_input_is_shown_next_to_the_field(
    officer_client: Client, overrides: dict[str, Any], field: str, message: str, action: str
) -> None:
    data = apply_data(BorrowerFactory(), **overrides)
    if action == "preview":
        data["preview"] = "1"
    response = officer_client.post(reverse("loan_apply"), data)
    assert response.status_code == 200
    errors = response.context["form"].errors[field]
    assert any(message in e for e in errors), errors
    html = response.content.decode()
    assert f'id="errors-{field}"' in html and "Nothing was submitted" in html
    assert not Loan.objects.exists()


def test_rate_above_the_product_maximum_is_refused(officer_client: Client) -> None:
    product = LoanProductFactory(name="Capped", max_interest_rate=D("20"))
    data = apply_data(BorrowerFactory(), product=str(product.pk), annual_interest_rate="25")
    response = officer_client.post(reverse("loan_apply"), data)
    [message] = response.context["form"].errors["annual_interest_rate"]
    assert message == "Capped allows an annual rate between 0 % and 20 %."
    assert not Loan.objects.exists()


def test_the_borrower_picker_and_product_use_htmx_with_fallbacks(officer_client: Client) -> None:
    html = officer_client.get(reverse("loan_apply")).content.decode()
    assert f'hx-get="{reverse("borrower_search")}"' in html
    assert 'name="find_borrower"' in html and 'name="use_defaults"' in html
    assert 'name="preview"' in html and 'hx-target="#application"' in html


# --- the loan page -------------------------------------------------------------------------------


def test_pending_loan_shows_the_proposed_schedule_and_the_right_actions(
    officer_client: Client, officer2_client: Client, accountant_client: Client, pending: Loan
) -> None:
    url = reverse("loan_detail", args=[pending.pk])
    approve = reverse("loan_approve", args=[pending.pk])
    withdraw = reverse("loan_withdraw", args=[pending.pk])
    own = officer_client.get(url).content.decode()
    assert approve not in own and withdraw in own and "four-eyes" in own
    assert "Proposed schedule" in own
    other = officer2_client.get(url)
    html = other.content.decode()
    assert approve in html and reverse("loan_reject", args=[pending.pk]) in html
    assert withdraw not in html
    assert f'value="{timezone.localdate():%d/%m/%Y}"' in html  # disbursement defaults to today
    assert approve not in accountant_client.get(url).content.decode()


def test_active_loan_page_shows_schedule_totals_repayments_and_history(
    accountant_client: Client, admin_client: Client, active: Loan, accountant: User
) -> None:
    first = Installment.objects.filter(loan=active).order_by("number").first()
    assert first is not None
    repayment = Repayment.objects.create(
        loan=active,
        amount=D("100.00"),
        paid_on=timezone.localdate(),
        method=Repayment.Method.MOBILE_MONEY,
        reference="MP-778",
        recorded_by=accountant,
        outstanding_after=active.outstanding - D("100.00"),
    )
    Receipt.objects.create(repayment=repayment, number="RCT-2026-000123")
    response = accountant_client.get(reverse("loan_detail", args=[active.pk]))
    html = response.content.decode()
    schedule = response.context["schedule"]
    assert len(schedule.rows) == 12
    assert schedule.totals.principal == active.principal
    assert schedule.totals.total == active.total_repayable
    assert "Interest waived" not in html
    assert html.count('<tr class="overdue">') == schedule.totals.overdue >= 2  # 70 days in
    assert "Mobile money" in html and "MP-778" in html and "RCT-2026-000123" in html
    try:
        receipt_url = reverse("receipt_detail", args=["RCT-2026-000123"])
    except NoReverseMatch:  # the receipts feature is not in this tree yet
        receipt_url = None
    if receipt_url:
        assert f'href="{receipt_url}"' in html
    for action in ("Loan submitted", "Loan approved"):
        assert action in html
    # Accountants record payments (when that page exists) but never write off.
    assert reverse("loan_write_off", args=[active.pk]) not in html
    assert (
        reverse("loan_write_off", args=[active.pk])
        in admin_client.get(reverse("loan_detail", args=[active.pk])).content.decode()
    )


def test_receipt_links_need_the_receipt_permission(
    officer_client: Client, active: Loan, accountant: User
) -> None:
    repayment = Repayment.objects.create(
        loan=active,
        amount=D("10.00"),
        paid_on=timezone.localdate(),
        method="cash",
        recorded_by=accountant,
    )
    Receipt.objects.create(repayment=repayment, number="RCT-2026-000999")
    html = officer_client.get(reverse("loan_detail", args=[active.pk])).content.decode()
    assert "RCT-2026-000999" in html and 'href="/receipts/' not in html


def test_payment_links_only_for_users_who_record_payments(
    officer_client: Client, accountant_client: Client, active: Loan
) -> None:
    try:
        create_url = reverse("repayment_create", args=[active.pk])
    except NoReverseMatch:
        pytest.skip("the repayments feature is not in this tree yet")
    url = reverse("loan_detail", args=[active.pk])
    assert create_url in accountant_client.get(url).content.decode()
    as_officer = officer_client.get(url).content.decode()
    assert create_url not in as_officer
    # Any role may read a payoff quote (the borrower asks the officer too).
    payoff_url = reverse("loan_payoff", args=[active.pk])
    assert f'<a class="btn" href="{payoff_url}">Payoff quote</a>' in as_officer
    assert officer_client.get(payoff_url).status_code == 200


def test_waived_interest_column_appears_when_there_is_some(
    officer_client: Client, active: Loan
) -> None:
    Installment.objects.filter(loan=active, number=12).update(interest_waived=D("3.21"))
    html = officer_client.get(reverse("loan_detail", args=[active.pk])).content.decode()
    assert "Interest waived" in html and "3.21" in html


def test_month_end_due_dates_are_shown(
    officer_client: Client, officer: User, officer2: User
) -> None:
    loan = LoanFactory(submitted_by=officer, installments=3)
    Loan.objects.filter(pk=loan.pk).update(first_due_date=date(2024, 1, 31))
    loan.refresh_from_db()
    loan_approve(loan=loan, user=officer2, disbursement_date=date(2023, 12, 31))
    html = officer_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    for day in ("Wed 31 Jan 2024", "Thu 29 Feb 2024", "Sun 31 Mar 2024"):
        assert day in html


@pytest.mark.parametrize("n", [12, 260])  # 260 weekly: the longest custom terms
def test_loan_page_runs_a_fixed_number_of_queries(
    accountant_client: Client, officer: User, accountant: User, n: int,
    django_assert_max_num_queries: Any,
) -> None:  # fmt: skip
    loan = ActiveLoanFactory(submitted_by=officer, installments=n, frequency="weekly",
                             disbursed_days_ago=30)  # fmt: skip
    payments = 5 if n == 12 else 40  # the history and the table show the latest 30 and 20
    for i in range(payments):
        repayment = Repayment.objects.create(
            loan=loan, amount=D("1.00"), paid_on=timezone.localdate(), method="cash",
            recorded_by=accountant,
            **({"reversed_at": timezone.now(), "reversed_by": accountant,
                "reversal_reason": "Posted twice"} if i % 4 == 3 else {}),
        )  # fmt: skip
        Receipt.objects.create(repayment=repayment, number=f"RCT-2026-{n:03d}{i:03d}")
    # 18 (the history reads its latest audit entries, payments and reversals: three queries),
    # 1 to count the repayments when there are more than the table shows, 2 for the
    # guarantors and collateral (origination), read when their cached section is missing, and
    # 1 for the waived, written-off and recovered totals (with the cached records).
    with django_assert_max_num_queries(22):
        response = accountant_client.get(reverse("loan_detail", args=[loan.pk]))
    assert len(response.context["schedule"].rows) == n
    history = response.context["history"]
    kinds = [event.kind for event in history.events]
    if n == 12:
        assert not history.more
        assert kinds.count("payment") == payments and kinds.count("reversal") == payments // 4
    else:  # the latest 30 of 40 payments, 10 reversals and the audit entries
        assert history.more and len(kinds) == 30


def _schedule_rows(html: str) -> list[str]:
    """The installment numbers in the schedule table, in order."""
    table = html[html.index('<table class="schedule">') :]
    body = table[table.index("<tbody>") : table.index("</tbody>")]
    return re.findall(r"<tr[^>]*>\s*<td>(\d+)</td>", body)


def test_a_long_schedule_shows_the_rows_around_today_and_all_on_request(
    accountant_client: Client, accountant: User
) -> None:
    # Weekly, disbursed 30 days ago: 4 installments due by today, none paid yet.
    loan = ActiveLoanFactory(
        installments=480,
        frequency="weekly",
        # In order: the ten installments paid below are paid whole, interest and principal.
        product=LoanProductFactory(prepayment_order="in_order"),
        disbursed_days_ago=30,
    )
    url = reverse("loan_detail", args=[loan.pk])
    html = accountant_client.get(url).content.decode()
    assert _schedule_rows(html) == [str(n) for n in range(1, 17)]  # 4 due + the next 12
    assert "Installments 1\u201316 of 480, around today; 464 later." in html
    assert 'href="?schedule=all#schedule">Show all 480 installments</a>' in html
    full = accountant_client.get(url, {"schedule": "all"}).content.decode()
    assert _schedule_rows(full) == [str(n) for n in range(1, 481)]
    assert "Show only those around today" in full
    totals = [page[page.index("<tfoot>") : page.index("</tfoot>")] for page in (html, full)]
    assert totals[0].replace("Totals, all 480", "Totals") == totals[1]  # the whole schedule's

    # Ten installments paid: the last three paid stay in view, then the unpaid ones.
    first_ten = loan.schedule.order_by("number")[:10]
    repayment_record(
        loan=loan, user=accountant, amount=sum(i.total for i in first_ten),
        paid_on=timezone.localdate(), method="cash",
    )  # fmt: skip
    html = accountant_client.get(url).content.decode()
    assert _schedule_rows(html) == [str(n) for n in range(8, 23)]  # 8-10 paid, 11-22 to come
    assert "Installments 8\u201322 of 480, around today; 7 paid before; 458 later." in html


def test_a_schedule_of_sixty_rows_is_shown_whole(accountant_client: Client) -> None:
    loan = ActiveLoanFactory(installments=60, frequency="weekly", disbursed_days_ago=30)
    html = accountant_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert _schedule_rows(html) == [str(n) for n in range(1, 61)]
    assert "Show all" not in html


def test_pending_loan_page_runs_a_fixed_number_of_queries(
    officer2_client: Client, officer: User, django_assert_max_num_queries: Any
) -> None:
    loan = LoanFactory(
        submitted_by=officer, installments=480, frequency="weekly", product=LoanProductFactory()
    )
    # 15 (the history's latest audit entries, payments and reversals are three), and at most
    # 7 for the application file the approver decides on (origination: read fresh, never
    # cached; tests/origination guards its own count); + 1: the product's fees.
    with django_assert_max_num_queries(23):
        response = officer2_client.get(reverse("loan_detail", args=[loan.pk]))
    assert len(response.context["projected"]().installments) == 480  # built on a miss


# --- transitions ----------------------------------------------------------------------------------


def test_second_officer_approves(officer2_client: Client, pending: Loan, officer2: User) -> None:
    day = timezone.localdate() - timedelta(days=1)
    response = officer2_client.post(
        reverse("loan_approve", args=[pending.pk]), {"disbursement_date": day.isoformat()}
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("loan_detail", args=[pending.pk])
    pending.refresh_from_db()
    assert pending.status == Loan.Status.ACTIVE and pending.disbursement_date == day
    assert pending.decided_by == officer2
    entries = loan_audit(pending)
    assert [e.action for e in entries] == ["loan_submitted", "loan_approved"]
    assert entries[-1].details["before"] == {"status": "pending"}
    assert entries[-1].details["after"]["status"] == "active"
    page = officer2_client.get(response["Location"]).content.decode()
    assert "is approved and disbursed" in page and "Repayment schedule" in page


def test_officer_cannot_approve_own_application(officer_client: Client, pending: Loan) -> None:
    before = AuditLog.objects.count()
    response = officer_client.post(
        reverse("loan_approve", args=[pending.pk]),
        {"disbursement_date": timezone.localdate().isoformat()},
    )
    assert response.status_code == 403
    assert "someone else must approve" in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Loan.Status.PENDING
    assert AuditLog.objects.count() == before
    assert not Installment.objects.filter(loan=pending).exists()


def test_approving_twice_gives_a_clear_message(officer2_client: Client, active: Loan) -> None:
    before = (AuditLog.objects.count(), Installment.objects.count())
    response = officer2_client.post(
        reverse("loan_approve", args=[active.pk]),
        {"disbursement_date": timezone.localdate().isoformat()},
        follow=True,
    )
    html = response.content.decode()
    assert f"Loan {active.number} is active; only pending loans can be approved." in html
    assert 'class="message error"' in html
    assert (AuditLog.objects.count(), Installment.objects.count()) == before


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("tomorrow", "Enter the disbursement date as dd/mm/yyyy"),
        ("", "Enter the disbursement date."),
        ((timezone.localdate() + timedelta(days=3)).isoformat(), "cannot be in the future"),
    ],
)
def test_bad_disbursement_date_is_reported_and_nothing_changes(
    officer2_client: Client, pending: Loan, value: str, message: str
) -> None:
    response = officer2_client.post(
        reverse("loan_approve", args=[pending.pk]), {"disbursement_date": value}, follow=True
    )
    assert message in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Loan.Status.PENDING
    assert len(loan_audit(pending)) == 1


def _field_errors(html: str, name: str) -> str:
    start = html.index(f'id="errors-{name}"')
    return html[start : html.index("</div>", start)]


def test_a_future_disbursement_date_is_shown_next_to_the_field_as_typed(
    officer2_client: Client, pending: Loan
) -> None:
    future = (timezone.localdate() + timedelta(days=3)).isoformat()
    response = officer2_client.post(
        reverse("loan_approve", args=[pending.pk]), {"disbursement_date": future}
    )
    assert response.status_code == 200  # the page again, not a redirect
    html = response.content.decode()
    assert "cannot be in the future" in _field_errors(html, "disbursement_date")
    assert f'value="{future}"' in html  # what was typed, not today
    assert 'class="message error"' not in html


@pytest.mark.parametrize(
    ("client_fixture", "url_name", "field", "message"),
    [
        ("officer2_client", "loan_reject", "reject-reason", "Give a reason for the rejection."),
        ("admin_client", "loan_write_off", "write_off-reason", "Give a reason for the write-off."),
    ],
)
def test_a_missing_reason_is_shown_next_to_the_field(
    client_fixture: str, url_name: str, field: str, message: str,
    request: pytest.FixtureRequest, officer: User,
) -> None:  # fmt: skip
    client = request.getfixturevalue(client_fixture)
    loan = LoanFactory(submitted_by=officer) if url_name == "loan_reject" else ActiveLoanFactory()
    status, audit = loan.status, len(loan_audit(loan))
    response = client.post(reverse(url_name, args=[loan.pk]), {field: "  "})
    assert response.status_code == 200
    html = response.content.decode()
    assert message in _field_errors(html, field)
    if url_name == "loan_write_off":
        assert "<h1>Write off loan " + loan.number in html  # still on its page to correct
    loan.refresh_from_db()
    assert (loan.status, len(loan_audit(loan))) == (status, audit)


def test_reject_needs_a_reason(officer2_client: Client, pending: Loan) -> None:
    url = reverse("loan_reject", args=[pending.pk])
    response = officer2_client.post(url, {"reject-reason": " "}, follow=True)
    assert "Give a reason for the rejection." in response.content.decode()
    pending.refresh_from_db()
    assert pending.status == Loan.Status.PENDING
    officer2_client.post(url, {"reject-reason": "Income too low"})
    pending.refresh_from_db()
    assert pending.status == Loan.Status.REJECTED and pending.status_reason == "Income too low"
    entry = loan_audit(pending)[-1]
    assert entry.action == "loan_rejected" and entry.details["after"] == {"status": "rejected"}
    assert len(loan_audit(pending)) == 2


def test_submitter_cannot_reject_own_application(officer_client: Client, pending: Loan) -> None:
    response = officer_client.post(reverse("loan_reject", args=[pending.pk]), {"reason": "x"})
    assert response.status_code == 403
    pending.refresh_from_db()
    assert pending.status == Loan.Status.PENDING


def test_only_the_submitter_withdraws(
    officer_client: Client, officer2_client: Client, pending: Loan
) -> None:
    url = reverse("loan_withdraw", args=[pending.pk])
    assert officer2_client.post(url).status_code == 403
    response = officer_client.post(url, {"withdraw-reason": "Borrower changed plans"})
    assert response.status_code == 302
    pending.refresh_from_db()
    assert pending.status == Loan.Status.WITHDRAWN
    entry = loan_audit(pending)[-1]
    assert entry.action == "loan_withdrawn" and entry.details["before"] == {"status": "pending"}
    page = officer_client.get(reverse("loan_detail", args=[pending.pk])).content.decode()
    when = timezone.localtime(entry.created_at)
    who = entry.user.get_full_name() or entry.username  # type: ignore[union-attr]
    assert f"<dt>Withdrawn</dt><dd>{when:%d %b %Y %H:%M} by {who}</dd>" in page


def test_only_admins_write_off(officer2_client: Client, admin_client: Client, active: Loan) -> None:
    url = reverse("loan_write_off", args=[active.pk])
    assert officer2_client.get(url).status_code == 403
    assert officer2_client.post(url, {"write_off-reason": "gone"}).status_code == 403
    page = admin_client.get(url).content.decode()  # a confirmation page: amount and reason
    assert f"Write off {settings.KARO_CURRENCY} {active.outstanding:,}</button>" in page
    assert 'name="write_off-reason"' in page
    response = admin_client.post(url, {"write_off-reason": ""}, follow=True)
    assert "Give a reason for the write-off." in response.content.decode()
    admin_client.post(url, {"write_off-reason": "Borrower emigrated"})
    active.refresh_from_db()
    assert active.status == Loan.Status.WRITTEN_OFF
    entry = loan_audit(active)[-1]
    assert entry.action == "loan_written_off"
    assert entry.details["before"] == {"status": "active"}
    assert entry.details["after"] == {"status": "written_off"}
    audit = len(loan_audit(active))
    page = admin_client.get(reverse("loan_detail", args=[active.pk])).content.decode()
    when = timezone.localtime(entry.created_at)
    who = entry.user.get_full_name() or entry.username  # type: ignore[union-attr]
    assert f"<dt>Written off</dt><dd>{when:%d %b %Y %H:%M} by {who}</dd>" in page
    assert f"<strong>Loan written off</strong> by {who}" in page  # the history names alike
    response = admin_client.post(url, {"write_off-reason": "again"}, follow=True)
    assert "only active loans can be written off" in response.content.decode()
    response = admin_client.post(url, {"write_off-reason": ""}, follow=True)  # blank, too
    assert "only active loans can be written off" in response.content.decode()
    response = admin_client.get(url, follow=True)  # the page of a loan already written off
    assert response.redirect_chain[-1][0] == reverse("loan_detail", args=[active.pk])
    assert "only active loans can be written off" in response.content.decode()
    assert len(loan_audit(active)) == audit  # neither refusal wrote anything


def test_approving_runs_the_same_queries_whatever_the_length(
    admin_client: Client, officer: User
) -> None:
    counts = {}
    admin_client.get(reverse("loan_list"))  # the session's idle stamp is written once, here
    for n in (12, 480):
        loan = LoanFactory(
            submitted_by=officer, installments=n, frequency="weekly", product=LoanProductFactory()
        )
        clear_own_caches()  # the same cold caches for both
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client.post(
                reverse("loan_approve", args=[loan.pk]),
                {"disbursement_date": timezone.localdate().isoformat()},
            )
        assert response.status_code == 302
        assert Installment.objects.filter(loan=loan).count() == n
        inserts = sum(
            q["sql"].startswith('INSERT INTO "lending_installment"') for q in ctx.captured_queries
        )
        counts[n] = (len(ctx.captured_queries) - inserts, inserts)
    # Raised by 1 from 22 when the working-day calendar (2 queries: its weekdays off and
    # holidays, read to move due dates) and the product's fees (1, frozen on the loan) met.
    assert counts[12][0] == counts[480][0] <= 23
    # One bulk_create: one INSERT on PostgreSQL; SQLite's 999-parameter limit splits it.
    assert counts[12][1] == 1
    assert counts[480][1] == (1 if connection.features.max_query_params is None else 8)


def test_a_written_off_loan_s_schedule_shows_written_off_not_overdue(
    admin_client: Client, admin_user: User
) -> None:
    loan = ActiveLoanFactory(installments=6, frequency="weekly", disbursed_days_ago=30)
    url = reverse("loan_detail", args=[loan.pk])
    html = admin_client.get(url).content.decode()
    assert '<span class="badge overdue">Overdue</span>' in html  # collected: late rows marked
    loan_write_off(loan=loan, user=admin_user, reason="Borrower emigrated")
    html = admin_client.get(url).content.decode()
    schedule = html[html.index('<table class="schedule">') : html.index("</table>")]
    assert "Overdue" not in schedule
    assert schedule.count('<span class="badge written_off">Written off</span>') == 6
    assert "overdue</span>" not in html  # no "N overdue" badge on the schedule


def test_the_decision_is_offered_at_the_top_of_a_pending_loan(
    officer_client: Client, officer2_client: Client, accountant_client: Client, pending: Loan
) -> None:
    url = reverse("loan_detail", args=[pending.pk])
    assert '<a class="btn primary" href="#decision">Approve or reject</a>' in (
        officer2_client.get(url).content.decode()
    )
    own = officer_client.get(url).content.decode()  # the submitter may only withdraw
    assert '<a class="btn" href="#decision">Withdraw</a>' in own
    assert "Approve or reject</a>" not in own
    assert 'href="#decision"' not in accountant_client.get(url).content.decode()


def test_the_history_reads_as_words(admin_client: Client, admin_user: User) -> None:
    loan = ActiveLoanFactory(principal=Decimal("8000.00"), disbursed_days_ago=3)
    loan_write_off(loan=loan, user=admin_user, reason="No contact for six months.")
    html = admin_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    history = html.split("<h2>History</h2>")[1]
    assert "status: Active → Written off" in history
    disbursed = loan.disbursement_date
    assert f"disbursement date: {disbursed:%d %b %Y}" in history
    assert f"written off: USD {loan.outstanding:,}" in history
    assert "No contact for six months. · " in history
    assert "written_off" not in history
    # In words (the order of the terms is the database's: jsonb sorts keys on PostgreSQL).
    assert "{" not in history and "frozen terms: " in history
    assert "penalty type none" in history and "arrears tolerance 0.00" in history


def test_a_form_address_opened_in_the_browser_gets_a_page_back(
    officer2_client: Client, pending: Loan
) -> None:
    response = officer2_client.get(reverse("loan_reject", args=[pending.pk]))
    assert response.status_code == 405
    assert response["Allow"] == "POST"
    html = response.content.decode()
    assert "This address only takes a form" in html
    assert f'href="{reverse("loan_detail", args=[pending.pk])}"' in html
    assert '<nav class="mainnav"' in html  # the site's layout


def test_the_officer_filter_is_named_like_the_column(officer_client: Client, pending: Loan) -> None:
    html = officer_client.get(reverse("loan_list")).content.decode()
    assert '<label for="id_officer">Loan officer</label>' in html
    assert '<th scope="col">Officer</th>' in html
    assert '<option value="" selected>Anyone</option>' in html


# --- live preview, rounding options, custom bounds (issue 18) ----------------------------------


def test_the_live_preview_answers_only_the_preview_and_the_terms_error_slots(
    officer_client: Client,
) -> None:
    data = apply_data(None, preview="1", live="1")  # no borrower chosen yet
    response = officer_client.post(reverse("loan_apply"), data, **HTMX)
    html = response.content.decode()
    assert html.lstrip().startswith('<section class="card" id="preview"')
    assert len(response.context["schedule"].installments) == 12
    assert 'id="errors-principal" class="field-errors" hx-swap-oob="true"' in html
    assert "errors-borrower" not in html and "<form" not in html
    bad = officer_client.post(
        reverse("loan_apply"), apply_data(None, preview="1", live="1", principal="-5"), **HTMX
    ).content.decode()
    assert "No schedule yet: correct the terms marked on the left." in bad
    assert "The principal must be more than zero." in bad


def test_the_terms_post_the_live_preview_as_they_change(officer_client: Client) -> None:
    html = officer_client.get(reverse("loan_apply")).content.decode()
    terms = html[html.index('<section class="card" id="terms"') :]
    terms = terms[: terms.index(">")]
    assert 'hx-trigger="input delay:500ms, change delay:200ms"' in terms
    assert 'hx-target="#preview"' in terms and '"live": "1"' in terms


@pytest.mark.parametrize(
    ("overrides", "is_open"),
    [
        ({}, False),
        ({"installment_multiple": ""}, False),
        ({"installment_multiple": "1"}, True),
        ({"installment_rounding": "up"}, True),
        ({"days_in_year": "360"}, True),
    ],
)
def test_rounding_options_stay_open_when_set(
    officer_client: Client, overrides: dict[str, str], is_open: bool
) -> None:
    data = apply_data(BorrowerFactory(), preview="1", **overrides)
    html = officer_client.post(reverse("loan_apply"), data).content.decode()
    assert ('<details class="rounding" open>' in html) is is_open


def test_an_installment_multiple_leaving_zero_installments_is_refused(
    officer_client: Client,
) -> None:
    data = apply_data(BorrowerFactory(), installment_multiple="1000")
    response = officer_client.post(reverse("loan_apply"), data)
    errors = response.context["form"].errors["installment_multiple"]
    assert errors == [
        "A multiple of 1,000 is larger than the installment it rounds (444.24): "
        "choose a smaller multiple."
    ]
    data |= {"installment_multiple": "100", "installment_rounding": "up"}
    errors = officer_client.post(reverse("loan_apply"), data).context["form"].errors
    assert errors["installment_multiple"] == [
        "Rounding to a multiple of 100 repays the loan early and leaves 1 installment at 0.00: "
        "choose a smaller multiple or fewer installments."
    ]
    assert not Loan.objects.exists()


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"principal": "99.99"}, "principal", "Without a product, lend between 100.00 and"),
        ({"principal": "10000000.01"}, "principal", "10,000,000.00."),
        ({"annual_interest_rate": "100.5"}, "annual_interest_rate", "from 0 to 100 %"),
        (
            {"installments": "480", "frequency": "weekly"},
            "installments",
            "Without a product, at most 260 weekly installments (5 years).",
        ),
        (
            {"installments": "261", "frequency": "biweekly"},
            "installments",
            "at most 260 bi-weekly installments (10 years).",
        ),
        (
            {"installments": "361"},
            "installments",
            "at most 360 monthly installments (30 years).",
        ),
    ],
)
def test_custom_terms_have_bounds(
    officer_client: Client, overrides: dict[str, str], field: str, message: str
) -> None:
    data = apply_data(BorrowerFactory(), **overrides)
    errors = officer_client.post(reverse("loan_apply"), data).context["form"].errors
    assert message in errors[field][0]
    assert not Loan.objects.exists()


def test_the_custom_bounds_themselves_are_taken(officer_client: Client) -> None:
    for overrides in (
        {"principal": "100", "annual_interest_rate": "0"},
        {"installments": "360", "annual_interest_rate": "100"},
        {"installments": "260", "frequency": "weekly"},
    ):
        data = apply_data(BorrowerFactory(), **overrides)
        assert officer_client.post(reverse("loan_apply"), data).status_code == 302, overrides


def _history_lines(html: str) -> list[str]:
    history = html.split("<h2>History</h2>")[1].split("</ol>")[0]
    return [re.sub(r"\s+", " ", re.sub(r"<[^>]+>", "", li)).strip()
            for li in re.findall(r"<li[^>]*>(.*?)</li>", history, re.S)]  # fmt: skip


def test_the_history_lists_payments_and_reversals_in_date_order(
    accountant_client: Client, officer_client: Client, accountant: User
) -> None:
    loan = weekly_loan(disbursed_days_ago=21)  # 12 x 100.00
    first = repayment_record(
        loan=loan, user=accountant, amount=D("100.00"), paid_on=days_ago(14), method="cash"
    )
    second = repayment_record(
        loan=loan, user=accountant, amount=D("250.00"), paid_on=days_ago(1),
        method="mobile_money", reference="MP123",
    )  # fmt: skip
    repayment_reverse(repayment=second, user=accountant, reason="Keyed on the wrong loan")
    loan.refresh_from_db()
    last = repayment_record(
        loan=loan, user=accountant, amount=loan.outstanding, paid_on=days_ago(0), method="cash"
    )
    url = reverse("loan_detail", args=[loan.pk])
    html = accountant_client.get(url).content.decode()
    lines = _history_lines(html)
    whats = [line.split(" by ")[0].split(" ", 4)[-1] for line in lines]
    assert whats == [
        "Loan submitted", "Loan approved", "Payment received", "Payment received",
        "Payment reversed", "Payment received", "Loan closed",
    ]  # fmt: skip
    assert f"amount: USD 100.00 · paid on: {days_ago(14):%d %b %Y} · method: Cash" in lines[2]
    assert "reference: MP123" in lines[3] and f"receipt {second.receipt.number}" in lines[3]
    assert "amount: USD 250.00" in lines[4] and "reason: Keyed on the wrong loan" in lines[4]
    assert f"receipt {last.receipt.number}" in lines[5]
    receipt_link = reverse("receipt_detail", args=[first.receipt.number])
    assert f'<a href="{receipt_link}">{first.receipt.number}</a>' in html
    # An officer may not read receipts: the number is shown, not linked.
    officer_html = officer_client.get(url).content.decode()
    assert f"receipt {first.receipt.number}" in " ".join(_history_lines(officer_html))
    assert f'href="{receipt_link}"' not in officer_html
