"""What the pages keep in the cache, and that a change shows on the very next view.

The dashboard, the loan and borrower lists and a loan page's summary are cached under the
portfolio generation (renewed by any loan, borrower, product or staff change); a loan's
schedule, repayments and history under the loan's last change; list totals per filter. No
cached fragment holds a CSRF token."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lending.services.borrowers import borrower_update
from lending.services.loans import loan_write_off
from lending.services.repayments import repayment_record, repayment_reverse
from origination.models import Guarantor
from reporting.selectors import dashboard_figures
from tests.caches import cache_reads
from tests.conftest import login
from tests.factories import (
    ActiveLoanFactory,
    BorrowerFactory,
    LoanFactory,
    LoanProductFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _sql(ctx: CaptureQueriesContext, text: str) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries if text in q["sql"]]


def _view(client: Client, url: str, **params: Any) -> tuple[Any, CaptureQueriesContext]:
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params)
    assert response.status_code == 200
    return response, ctx


def test_the_loan_list_counts_once_until_something_changes(officer_client: Client) -> None:
    for _ in range(3):
        LoanFactory()
    first, ctx = _view(officer_client, reverse("loan_list"))
    assert first.context["page_obj"].paginator.count == 3
    assert _sql(ctx, "COUNT(")
    again, ctx = _view(officer_client, reverse("loan_list"))
    assert again.context["page_obj"].paginator.count == 3
    assert not _sql(ctx, "COUNT(")

    LoanFactory()  # submitted through the service: the portfolio changed
    after, ctx = _view(officer_client, reverse("loan_list"))
    assert after.context["page_obj"].paginator.count == 4
    assert _sql(ctx, "COUNT(")


def test_each_filter_has_its_own_total(officer_client: Client) -> None:
    ActiveLoanFactory()
    LoanFactory()
    LoanFactory()
    totals = {
        status: _view(officer_client, reverse("loan_list"), status=status)[0]
        .context["page_obj"]
        .paginator.count
        for status in ("", "pending", "active", "closed")
    }
    assert totals == {"": 3, "pending": 2, "active": 1, "closed": 0}


def test_a_renamed_borrower_is_found_by_the_new_name_at_once(
    officer_client: Client, officer: User
) -> None:
    borrower = BorrowerFactory(full_name="Amina Okafor")
    LoanFactory(borrower=borrower)
    found, _ = _view(officer_client, reverse("loan_list"), q="Zainab")
    assert found.context["page_obj"].paginator.count == 0
    borrower_update(borrower=borrower, user=officer, full_name="Zainab Okafor")
    found, _ = _view(officer_client, reverse("loan_list"), q="Zainab")
    assert found.context["page_obj"].paginator.count == 1


def test_the_borrower_list_total_follows_new_borrowers(officer_client: Client) -> None:
    BorrowerFactory()
    first, _ = _view(officer_client, reverse("borrower_list"))
    assert first.context["page_obj"].paginator.count == 1
    BorrowerFactory()
    again, _ = _view(officer_client, reverse("borrower_list"))
    assert again.context["page_obj"].paginator.count == 2


def test_the_schedule_table_is_read_once_until_the_loan_changes(
    accountant_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(
        installments=480, frequency="weekly", product=LoanProductFactory(), disbursed_days_ago=30
    )
    url = reverse("loan_detail", args=[loan.pk])
    first, ctx = _view(accountant_client, url)
    assert _sql(ctx, 'FROM "lending_installment"')
    assert "0.00</td>" in first.content.decode()
    cached, ctx = _view(accountant_client, url)
    assert not _sql(ctx, 'FROM "lending_installment"')
    assert cached.content.decode().count("<tr") == first.content.decode().count("<tr")

    repayment_record(
        loan=loan, user=accountant, amount=Decimal("1234.56"),
        paid_on=timezone.localdate(), method="cash",
    )  # fmt: skip
    paid, ctx = _view(accountant_client, url)
    assert _sql(ctx, 'FROM "lending_installment"')
    html = paid.content.decode()
    schedule = html[html.index('<table class="schedule">') :]
    assert "1,234.56" in schedule[schedule.index("<tfoot>") :]  # the Paid total


def test_the_schedule_is_read_again_on_a_new_day(
    accountant_client: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    loan = ActiveLoanFactory(installments=12, frequency="weekly", disbursed_days_ago=0)
    url = reverse("loan_detail", args=[loan.pk])
    first, _ = _view(accountant_client, url)
    assert 'class="overdue"' not in first.content.decode()
    later = timezone.localdate() + timedelta(days=9)  # the first installment is now late
    monkeypatch.setattr(timezone, "localdate", lambda *args, **kwargs: later)
    next_week, ctx = _view(accountant_client, url)
    assert _sql(ctx, 'FROM "lending_installment"')
    assert '<tr class="overdue">' in next_week.content.decode()


def test_the_repayments_table_follows_postings_reversals_and_roles(
    accountant_client: Client, officer_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(installments=12, frequency="weekly", disbursed_days_ago=14)
    url = reverse("loan_detail", args=[loan.pk])
    empty, _ = _view(accountant_client, url)
    assert "No repayments yet." in empty.content.decode()
    _, ctx = _view(accountant_client, url)
    assert not _sql(ctx, 'FROM "lending_repayment"')  # cached

    repayment = repayment_record(
        loan=loan, user=accountant, amount=Decimal("50.00"),
        paid_on=timezone.localdate(), method="cash",
    )  # fmt: skip
    number = repayment.receipt.number
    paid, _ = _view(accountant_client, url)
    assert f'<a href="{reverse("receipt_detail", args=[number])}">{number}</a>' in (
        paid.content.decode()
    )
    as_officer, _ = _view(officer_client, url)  # no receipt permission: the number, no link
    html = as_officer.content.decode()
    assert number in html
    assert reverse("receipt_detail", args=[number]) not in html

    repayment_reverse(repayment=repayment, user=accountant, reason="Entered twice")
    reversed_, _ = _view(accountant_client, url)
    assert '<span class="badge void">Reversed</span>' in reversed_.content.decode()


def _lending_sql(ctx: CaptureQueriesContext) -> list[str]:
    return _sql(ctx, '"lending_')


def test_a_second_view_of_a_loan_page_reads_no_lending_table(admin_client: Client) -> None:
    # A pending loan's page is left out: its application file (origination: income, other
    # loans, exposure) is read fresh for the approver on every view.
    for loan in (ActiveLoanFactory(disbursed_days_ago=40),):
        url = reverse("loan_detail", args=[loan.pk])
        first, ctx = _view(admin_client, url)
        assert _sql(ctx, 'FROM "lending_loan"')
        again, ctx = _view(admin_client, url)
        assert _lending_sql(ctx) == []  # the loan's row is cached with its sections
        assert again.content.decode().count("<tr") == first.content.decode().count("<tr")


@override_settings(KARO_CACHE_ACCESS=False)
def test_without_a_shared_cache_the_loan_row_is_read_each_time(admin_client: Client) -> None:
    # Each worker's own memory would not see another worker's renewal of the generation.
    url = reverse("loan_detail", args=[ActiveLoanFactory(disbursed_days_ago=40).pk])
    for _ in range(2):
        _, ctx = _view(admin_client, url)
        assert _sql(ctx, 'FROM "lending_loan"')


@pytest.mark.parametrize("name", ["dashboard", "loan_list", "borrower_list"])
def test_a_second_view_reads_no_lending_table(officer_client: Client, name: str) -> None:
    ActiveLoanFactory(disbursed_days_ago=40)
    first, ctx = _view(officer_client, reverse(name))
    assert _lending_sql(ctx)
    again, ctx = _view(officer_client, reverse(name))
    assert _lending_sql(ctx) == []
    main = again.content.decode().split('<main id="main"')[1]
    assert main == first.content.decode().split('<main id="main"')[1]


def test_a_payment_shows_on_the_dashboard_and_the_lists_at_once(
    accountant_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(principal=Decimal("1200.00"), disbursed_days_ago=40)
    for name in ("dashboard", "loan_list"):
        _view(accountant_client, reverse(name))  # cached now
    outstanding = loan.outstanding
    owed_today = dashboard_figures().outstanding  # the dashboard's: interest due to date only
    repayment_record(
        loan=loan, user=accountant, amount=Decimal("100.00"),
        paid_on=timezone.localdate(), method="cash",
    )  # fmt: skip
    after = f"{outstanding - Decimal('100.00'):,.2f}"
    dashboard, _ = _view(accountant_client, reverse("dashboard"))
    owed_after = f"{owed_today - Decimal('100.00'):,.2f}"
    assert owed_after in dashboard.content.decode()  # the outstanding figure
    listed, _ = _view(accountant_client, reverse("loan_list"))
    assert after in listed.content.decode()


def test_renamed_products_officers_and_borrowers_show_at_once(
    officer_client: Client, officer: User
) -> None:
    product = LoanProductFactory(name="Market Trader")
    loan = LoanFactory(product=product, submitted_by=officer)
    pages = [reverse("loan_list"), reverse("loan_detail", args=[loan.pk])]

    def shown(text: str) -> bool:
        """On both pages, below the header (which names the signed-in officer)."""
        htmls = [_view(officer_client, url)[0].content.decode() for url in pages]
        return all(text in html.split('<main id="main"')[1] for html in htmls)

    assert shown("Market Trader")  # both pages cached now
    product.name = "Harvest Plus"
    product.save()
    assert shown("Harvest Plus")
    officer.first_name, officer.last_name = "Wanjiru", "Kamau"
    officer.save()
    assert shown("Wanjiru Kamau")
    borrower_update(borrower=loan.borrower, user=officer, full_name="Zainab Okafor")
    assert shown("Zainab Okafor")
    assert "Zainab Okafor" in _view(officer_client, reverse("borrower_list"))[0].content.decode()


def test_signing_in_keeps_the_cached_pages(officer_client: Client, officer: User) -> None:
    ActiveLoanFactory()
    _view(officer_client, reverse("loan_list"))
    login(officer)  # stamps last_login only
    _, ctx = _view(officer_client, reverse("loan_list"))
    assert _lending_sql(ctx) == []


def test_the_loan_page_history_and_status_follow_a_write_off(
    admin_client: Client, admin_user: User
) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    url = reverse("loan_detail", args=[loan.pk])
    before = _view(admin_client, url)[0].content.decode()
    assert "Write off this loan" in before
    loan_write_off(loan=loan, user=admin_user, reason="Borrower emigrated")
    html = _view(admin_client, url)[0].content.decode()
    assert "Write off this loan" not in html
    assert '<span class="badge written_off">' in html
    assert "Borrower emigrated" in html.split("<h2>History</h2>")[1]


def _cached_text() -> str:
    """Everything in the default cache and the rendered sections' cache, as text."""
    values: list[Any] = []
    for alias in ("default", "template_fragments"):
        own = caches[alias]
        if hasattr(own, "keys"):  # django-redis (the PostgreSQL + Redis run)
            values += [own.get(key) for key in own.keys("*")]
        else:  # the per-process cache of the default test settings: pickled, text as UTF-8
            raw = own._cache.values()  # type: ignore[attr-defined]
            values += [value.decode(errors="ignore") for value in raw]
    return "\n".join(str(value) for value in values)


def test_no_cached_fragment_holds_a_csrf_token(
    admin_client: Client, officer2_client: Client
) -> None:
    active = ActiveLoanFactory(disbursed_days_ago=40)
    pending = LoanFactory()
    for client in (admin_client, officer2_client):  # write-off and decision forms
        for url in (
            reverse("dashboard"), reverse("loan_list"), reverse("borrower_list"),
            reverse("loan_detail", args=[active.pk]), reverse("loan_detail", args=[pending.pk]),
        ):  # fmt: skip
            html = _view(client, url)[0].content.decode()
    assert 'name="csrfmiddlewaretoken"' in html  # the pages have forms...
    cached = _cached_text()
    assert "Loan " + pending.number in cached  # ...and their sections are cached
    assert "csrfmiddlewaretoken" not in cached


def test_a_renamed_cashier_shows_in_a_loan_s_repayments_at_once(
    accountant_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(installments=12, frequency="weekly", disbursed_days_ago=14)
    repayment_record(
        loan=loan, user=accountant, amount=Decimal("50.00"),
        paid_on=timezone.localdate(), method="cash",
    )  # fmt: skip
    url = reverse("loan_detail", args=[loan.pk])
    _view(accountant_client, url)  # cached now
    accountant.first_name, accountant.last_name = "Grace", "Achieng"
    accountant.save()
    html = _view(accountant_client, url)[0].content.decode()
    assert "Grace Achieng" in html.split("<h2>Repayments</h2>")[1]


@pytest.mark.parametrize("page", ["dashboard", "loan_list", "borrower_list", "loan_detail"])
@pytest.mark.parametrize("role", ["accountant", "superuser"])
def test_a_cached_page_is_three_cache_reads(
    accountant_client: Client, page: str, role: str
) -> None:
    # The session; the signed-in user's access, with the generations and the loan's row read
    # ahead in the same round trip; the page's cached sections, all in one (a get when the
    # page has one section). A superuser passes the permission check without the access: the
    # page's first read takes the keys along, and the access is read for the header (four).
    superuser = UserFactory(is_superuser=True, is_staff=True) if role == "superuser" else None
    client = login(superuser) if superuser else accountant_client
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    url = reverse(page, args=[loan.pk]) if page == "loan_detail" else reverse(page)
    first = client.get(url)
    with cache_reads() as reads:
        again = client.get(url)
    assert len(reads) == (4 if superuser else 3), reads
    assert [method for method, _ in reads[:2]] == ["get", "get_many"], reads
    assert "portfolio_generation" in reads[1][1]
    main = again.content.decode().split('<main id="main"')[1]
    assert main == first.content.decode().split('<main id="main"')[1]


def test_a_decided_loan_s_guarantors_are_kept_with_its_summary(
    admin_client: Client, admin_user: User
) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    # Added before the decision (the services refuse it after): written here directly.
    Guarantor.objects.create(
        loan=loan,
        full_name="Ama Guarantor",
        national_id="AG1",
        phone="+254700000001",
        amount=Decimal("500.00"),
        added_by=admin_user,
    )
    url = reverse("loan_detail", args=[loan.pk])
    assert "Ama Guarantor" in admin_client.get(url).content.decode()
    with CaptureQueriesContext(connection) as ctx:
        again = admin_client.get(url).content.decode()
    assert "Ama Guarantor" in again and _sql(ctx, "origination_") == []
