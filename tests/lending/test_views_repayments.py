"""Repayment pages: role matrix, payment form, double submit, reversal, payoff and settlement,
the repayments list with filters, totals and CSV export, and their query counts."""

from __future__ import annotations

import csv
import io
import re
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from lending.models import Allocation, AuditLog, Loan, LoanProduct, LoanTransaction, Repayment
from lending.services.repayments import (
    loan_settle,
    payoff_quote,
    repayment_record,
    repayment_reverse,
)
from tests.factories import AccountantFactory, ActiveLoanFactory, BorrowerFactory, LoanFactory

D = Decimal
CURRENCY = "USD"
pytestmark = pytest.mark.django_db


def today() -> date:
    return timezone.localdate()


@pytest.fixture
def loan(db: Any) -> Loan:
    return ActiveLoanFactory(disbursed_days_ago=75)


def pay(loan: Loan, user: User, amount: str, **kwargs: Any) -> Repayment:
    kwargs.setdefault("paid_on", today())
    kwargs.setdefault("method", "cash")
    return repayment_record(loan=loan, user=user, amount=D(amount), **kwargs)


def form_key(html: str) -> str:
    match = re.search(r'name="idempotency_key" value="([0-9a-f]{32})"', html)
    assert match, "the form carries a one-time key"
    return match.group(1)


def payment_data(key: str, amount: str = "100.00", **extra: str) -> dict[str, str]:
    return {
        "amount": amount,
        "paid_on": today().isoformat(),
        "method": "mobile_money",
        "reference": "MP-7781",
        "idempotency_key": key,
        **extra,
    }


# --- role matrix --------------------------------------------------------------------------

PAGES = {
    "list": (
        lambda loan, r: reverse("repayment_list"),
        {"admin": 200, "accountant": 200, "officer": 403},
    ),
    "export": (
        lambda loan, r: reverse("repayment_export"),
        {"admin": 200, "accountant": 200, "officer": 403},
    ),
    "create": (
        lambda loan, r: reverse("repayment_create", args=[loan.pk]),
        {"admin": 200, "accountant": 200, "officer": 403},
    ),
    "detail": (
        lambda loan, r: reverse("repayment_detail", args=[r.pk]),
        {"admin": 200, "accountant": 200, "officer": 403},
    ),
    "reverse": (
        lambda loan, r: reverse("repayment_reverse", args=[r.pk]),
        {"admin": 200, "accountant": 200, "officer": 403},
    ),
    "payoff": (
        lambda loan, r: reverse("loan_payoff", args=[loan.pk]),
        {"admin": 200, "accountant": 200, "officer": 200},
    ),
}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_role_matrix(
    page: str, role_client: tuple[str, Client], loan: Loan, accountant: User
) -> None:
    role, client = role_client
    repayment = pay(loan, accountant, "10.00")
    url_for, expected = PAGES[page]
    response = client.get(url_for(loan, repayment))
    assert response.status_code == expected[role]
    if response.status_code == 403:
        assert b"Traceback" not in response.content


@pytest.mark.parametrize("page", sorted(PAGES))
def test_anonymous_users_are_sent_to_login(
    page: str, client: Client, loan: Loan, accountant: User
) -> None:
    repayment = pay(loan, accountant, "10.00")
    response = client.get(PAGES[page][0](loan, repayment))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_loan_officer_cannot_post_a_payment_or_settle(officer_client: Client, loan: Loan) -> None:
    response = officer_client.post(
        reverse("repayment_create", args=[loan.pk]), payment_data("k" * 32)
    )
    assert response.status_code == 403
    response = officer_client.post(
        reverse("loan_settle", args=[loan.pk]), {"on": today().isoformat()}
    )
    assert response.status_code == 403
    assert not Repayment.objects.exists()


def test_loan_officer_cannot_reverse(officer_client: Client, loan: Loan, accountant: User) -> None:
    repayment = pay(loan, accountant, "10.00")
    response = officer_client.post(
        reverse("repayment_reverse", args=[repayment.pk]), {"reason": "x"}
    )
    assert response.status_code == 403
    assert Repayment.objects.get().reversed_at is None


def test_unknown_loan_is_404(accountant_client: Client) -> None:
    assert accountant_client.get(reverse("repayment_create", args=[999999])).status_code == 404


# --- payment form ---------------------------------------------------------------------------


def test_payment_page_shows_what_is_due_and_defaults_the_amount_to_it(
    accountant_client: Client, loan: Loan
) -> None:
    response = accountant_client.get(reverse("repayment_create", args=[loan.pk]))
    html = response.content.decode()
    overdue = [i for i in loan.schedule.all() if i.due_date <= today()]
    expected = sum((i.total for i in overdue), D(0))
    assert len(overdue) == 2
    assert f'name="amount" value="{expected}"' in html
    assert f'name="paid_on" value="{today():%d/%m/%Y}"' in html
    assert "Overdue" in html and loan.number in html
    form_key(html)


def test_each_render_gets_a_new_key(accountant_client: Client, loan: Loan) -> None:
    url = reverse("repayment_create", args=[loan.pk])
    assert form_key(accountant_client.get(url).content.decode()) != form_key(
        accountant_client.get(url).content.decode()
    )


def test_amount_defaults_to_the_next_installment_when_nothing_is_due(
    accountant_client: Client,
) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=3)
    first = loan.schedule.order_by("number").first()
    assert first is not None
    html = accountant_client.get(reverse("repayment_create", args=[loan.pk])).content.decode()
    assert f'name="amount" value="{first.total}"' in html


def test_posting_records_and_redirects_to_a_page_with_the_receipt_button(
    accountant_client: Client, loan: Loan
) -> None:
    url = reverse("repayment_create", args=[loan.pk])
    key = form_key(accountant_client.get(url).content.decode())
    response = accountant_client.post(url, payment_data(key))
    repayment = Repayment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("repayment_detail", args=[repayment.pk])
    assert repayment.amount == D("100.00") and repayment.method == "mobile_money"
    assert repayment.reference == "MP-7781"
    # Stored under the user's namespace: a form key never meets another user's or the API's.
    assert repayment.idempotency_key == f"form:{repayment.recorded_by_id}:{key}"

    page = accountant_client.get(response["Location"]).content.decode()
    number = repayment.receipt.number
    assert (
        f'href="{reverse("receipt_detail", args=[number])}" target="_blank" rel="noopener"' in page
    )
    assert reverse("receipt_pdf", args=[number]) in page
    assert "recorded on" in page  # the success message


def test_submitting_the_same_form_twice_records_one_repayment(
    accountant_client: Client, loan: Loan
) -> None:
    url = reverse("repayment_create", args=[loan.pk])
    key = form_key(accountant_client.get(url).content.decode())
    first = accountant_client.post(url, payment_data(key))
    second = accountant_client.post(url, payment_data(key))
    assert Repayment.objects.count() == 1
    assert first["Location"] == second["Location"]
    assert Loan.objects.get(pk=loan.pk).total_paid == D("100.00")


def test_submitting_a_closing_payment_twice_shows_that_payment(
    accountant_client: Client, loan: Loan
) -> None:
    url = reverse("repayment_create", args=[loan.pk])
    key = form_key(accountant_client.get(url).content.decode())
    data = payment_data(key, amount=str(Loan.objects.get(pk=loan.pk).outstanding))
    first = accountant_client.post(url, data)
    assert Loan.objects.get(pk=loan.pk).status == Loan.Status.CLOSED
    second = accountant_client.post(url, data)  # the second click, after the loan closed
    assert second.status_code == 302 and second["Location"] == first["Location"]
    assert Repayment.objects.count() == 1
    other = accountant_client.post(url, payment_data("b" * 32))
    assert other.status_code == 200  # a new payment on the closed loan is refused
    assert "payments can only be recorded on active loans" in other.content.decode()


def test_reused_key_with_changed_details_shows_an_error_and_a_fresh_key(
    accountant_client: Client, loan: Loan
) -> None:
    url = reverse("repayment_create", args=[loan.pk])
    accountant_client.post(url, payment_data("a" * 32))
    response = accountant_client.post(url, payment_data("a" * 32, amount="150.00"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "already submitted with different details" in html
    assert form_key(html) != "a" * 32
    assert Repayment.objects.count() == 1


def test_amount_above_outstanding_is_shown_beside_the_field(
    accountant_client: Client, loan: Loan
) -> None:
    url = reverse("repayment_create", args=[loan.pk])
    response = accountant_client.post(url, payment_data("b" * 32, amount="999999.00"))
    html = response.content.decode()
    assert response.status_code == 200
    assert "The amount is above the loan&#x27;s outstanding balance of USD" in html
    assert re.search(r'has-error">\s*<label for="id_amount"', html)
    assert not Repayment.objects.exists()
    assert not AuditLog.objects.filter(action=AuditLog.Action.REPAYMENT_RECORDED).exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("amount", "abc", "Enter a number."),
        ("amount", "0", "The amount must be more than zero."),
        ("amount", "-10", "The amount must be more than zero."),
        ("amount", "1e400", ""),
        ("amount", "1e20", "Enter a number."),
        ("amount", "100000000000000", "The amount is too large."),
        ("amount", "10.005", "The amount must be in whole cents."),
        ("paid_on", "2999-01-01", "Enter a date on or before"),
        ("paid_on", "1999-01-01", "Enter a date on or after 01 Jan 2000."),
        ("paid_on", "2000-01-01", "before the loan was disbursed"),
        ("paid_on", "not-a-date", "Enter the date as dd/mm/yyyy, for example 31/01/2027."),
        ("method", "gold", "Select a valid choice."),
        ("reference", "x" * 101, "at most 100 characters"),
    ],
)
def test_bad_input_is_refused_beside_its_field_and_writes_nothing(
    accountant_client: Client, loan: Loan, field: str, value: str, message: str
) -> None:
    url = reverse("repayment_create", args=[loan.pk])
    response = accountant_client.post(url, payment_data("c" * 32, **{field: value}))
    assert response.status_code == 200
    html = response.content.decode()
    assert re.search(rf'has-error">\s*<label for="id_{field}"', html)
    assert message in html
    assert not Repayment.objects.exists()


def test_missing_key_is_refused(accountant_client: Client, loan: Loan) -> None:
    data = payment_data("")
    response = accountant_client.post(reverse("repayment_create", args=[loan.pk]), data)
    assert response.status_code == 200
    assert not Repayment.objects.exists()


def test_closed_loan_page_offers_no_form_and_refuses_posts(
    accountant_client: Client, loan: Loan, accountant: User
) -> None:
    pay(loan, accountant, str(loan.outstanding))
    url = reverse("repayment_create", args=[loan.pk])
    html = accountant_client.get(url).content.decode()
    assert "no payment can be recorded" in html and 'name="amount"' not in html
    assert "What is due" not in html and "Next installment" not in html  # nothing is
    response = accountant_client.post(url, payment_data("d" * 32, amount="1.00"))
    assert response.status_code == 200
    assert Repayment.objects.count() == 1


def test_pending_loan_refuses_payments(accountant_client: Client) -> None:
    pending = LoanFactory()
    response = accountant_client.post(
        reverse("repayment_create", args=[pending.pk]), payment_data("e" * 32, amount="1.00")
    )
    assert response.status_code == 200 and b"pending" in response.content
    assert not Repayment.objects.exists()


@pytest.mark.parametrize("n", [12, 360])  # 360 monthly: the longest custom terms
def test_payment_page_runs_a_fixed_number_of_queries(
    n: int, accountant_client: Client, accountant: User, django_assert_max_num_queries: Any
) -> None:
    loan = ActiveLoanFactory(installments=n, principal=D("50000.00"), disbursed_days_ago=100)
    for _ in range(3):
        pay(loan, accountant, "10.00")
    with django_assert_max_num_queries(12):
        assert accountant_client.get(reverse("repayment_create", args=[loan.pk])).status_code == 200


def test_taking_a_payment_never_rewrites_the_session(accountant_client: Client, loan: Loan) -> None:
    """The success message travels in a cookie: neither the post nor the page that shows the
    message writes the session row (the idle stamp is renewed at most once a minute)."""
    url = reverse("repayment_create", args=[loan.pk])
    key = form_key(accountant_client.get(url).content.decode())
    with CaptureQueriesContext(connection) as ctx:
        posted = accountant_client.post(url, payment_data(key, amount="25.00"))
        shown = accountant_client.get(posted["Location"])
    assert posted.status_code == 302
    assert "Payment of" in shown.content.decode()  # the message arrived
    assert not [q for q in ctx.captured_queries if "django_session" in q["sql"]]


# --- detail and reversal ------------------------------------------------------------------


def test_reverse_page_asks_for_a_reason_then_reverses(
    accountant_client: Client, loan: Loan, accountant: User
) -> None:
    repayment = pay(loan, accountant, "100.00")
    url = reverse("repayment_reverse", args=[repayment.pk])
    assert b"Reason for the reversal" in accountant_client.get(url).content
    response = accountant_client.post(url, {"reason": ""})
    assert response.status_code == 200 and b"This field is required" in response.content
    assert Repayment.objects.get().reversed_at is None

    response = accountant_client.post(url, {"reason": "Posted to the wrong loan"})
    assert response.status_code == 302
    repayment.refresh_from_db()
    assert repayment.reversal_reason == "Posted to the wrong loan"
    assert repayment.receipt.voided_at is not None
    detail = accountant_client.get(response["Location"]).content.decode()
    assert "Reversed" in detail and "void" in detail


def test_reversing_twice_from_the_page_changes_nothing(
    accountant_client: Client, loan: Loan, accountant: User
) -> None:
    repayment = pay(loan, accountant, "100.00")
    url = reverse("repayment_reverse", args=[repayment.pk])
    accountant_client.post(url, {"reason": "Typo"})
    response = accountant_client.post(url, {"reason": "Again"})
    assert response.status_code == 302
    assert AuditLog.objects.filter(action=AuditLog.Action.REPAYMENT_REVERSED).count() == 1


# --- payoff and settlement ------------------------------------------------------------------


def test_payoff_page_shows_the_quote_for_the_chosen_date(
    officer_client: Client, loan: Loan
) -> None:
    on = today() - timedelta(days=5)
    response = officer_client.get(reverse("loan_payoff", args=[loan.pk]), {"on": on.isoformat()})
    quote = payoff_quote(loan=loan, on=on)
    html = response.content.decode()
    assert f"{quote.total:,}" in html and f"{quote.accrued_interest:,}" in html
    assert "Settle and close the loan" not in html  # officers cannot record payments


@pytest.mark.parametrize("value", ["garbage", "1990-01-01", ""])
def test_payoff_page_survives_bad_dates(accountant_client: Client, loan: Loan, value: str) -> None:
    response = accountant_client.get(reverse("loan_payoff", args=[loan.pk]), {"on": value})
    assert response.status_code == 200
    assert b"alert error" in response.content


def test_payoff_htmx_request_gets_the_fragment(accountant_client: Client, loan: Loan) -> None:
    response = accountant_client.get(
        reverse("loan_payoff", args=[loan.pk]),
        {"on": today().isoformat()},
        headers={"HX-Request": "true", "HX-Target": "payoff-quote"},
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="payoff-quote"') and "<html" not in html


def test_settling_from_the_payoff_page_closes_the_loan(
    accountant_client: Client, loan: Loan
) -> None:
    page = accountant_client.get(reverse("loan_payoff", args=[loan.pk])).content.decode()
    quote = payoff_quote(loan=loan, on=today())
    response = accountant_client.post(
        reverse("loan_settle", args=[loan.pk]),
        {
            "on": today().isoformat(),
            "expected_amount": str(quote.total),
            "method": "cash",
            "reference": "",
            "idempotency_key": form_key(page),
        },
    )
    assert response.status_code == 302
    loan.refresh_from_db()
    assert loan.status == Loan.Status.CLOSED and loan.total_waived == quote.interest_waived
    assert Repayment.objects.get().is_settlement


def test_settling_refuses_when_the_payoff_changed_since_the_quote(
    accountant_client: Client, loan: Loan, accountant: User
) -> None:
    quote = payoff_quote(loan=loan, on=today())
    pay(loan, accountant, "50.00")  # another cashier, meanwhile
    response = accountant_client.post(
        reverse("loan_settle", args=[loan.pk]),
        {
            "on": today().isoformat(),
            "expected_amount": str(quote.total),
            "method": "cash",
            "idempotency_key": "f" * 32,
        },
    )
    assert response.status_code == 200
    assert b"The payoff changed since the quote" in response.content
    assert Repayment.objects.count() == 1


def test_settling_a_closed_loan_from_a_stale_page_is_refused(
    accountant_client: Client, loan: Loan, accountant: User
) -> None:
    loan_settle(loan=loan, user=accountant, on=today(), method="cash")
    response = accountant_client.post(
        reverse("loan_settle", args=[loan.pk]),
        {
            "on": today().isoformat(),
            "expected_amount": "1.00",
            "method": "cash",
            "idempotency_key": "g" * 32,
        },
    )
    assert response.status_code == 200
    assert b"closed" in response.content
    assert Repayment.objects.count() == 1


# --- list, search, export -------------------------------------------------------------------


def test_loan_search_by_name_number_and_phone(accountant_client: Client) -> None:
    borrower = BorrowerFactory(full_name="Wanjiru Kamau", phone="+254712345678")
    loan = ActiveLoanFactory(borrower=borrower)
    other = ActiveLoanFactory()
    url = reverse("repayment_list")
    for query in [
        "wanjiru",
        loan.number,
        "0712 345 678",
        "712345",
        "+254 712 345 678",
        "0712345678",
    ]:
        html = accountant_client.get(url, {"q": query}).content.decode()
        assert loan.number in html, query
        assert other.number not in html, query
    assert reverse("repayment_create", args=[loan.pk]) in html
    assert f'<a href="{reverse("loan_detail", args=[loan.pk])}">{loan.number}</a>' in html


def test_loan_search_htmx_returns_only_the_results(accountant_client: Client, loan: Loan) -> None:
    response = accountant_client.get(
        reverse("repayment_list"),
        {"q": loan.number},
        headers={"HX-Request": "true", "HX-Target": "loan-results"},
    )
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="loan-results"') and loan.number in html


def _three_payments(loan: Loan) -> tuple[User, User]:
    alice = AccountantFactory(username="alice", first_name="Alice", last_name="Cash")
    bob = AccountantFactory(username="bob", first_name="Bob", last_name="Bank")
    pay(loan, alice, "10.00", paid_on=today() - timedelta(days=10), method="cash")
    pay(loan, bob, "20.00", paid_on=today() - timedelta(days=5), method="bank_transfer")
    r = pay(loan, alice, "40.00", paid_on=today(), method="cash")
    repayment_reverse(repayment=r, user=alice, reason="Typo")
    return alice, bob


def test_list_filters_and_totals(accountant_client: Client, loan: Loan) -> None:
    _, bob = _three_payments(loan)
    url = reverse("repayment_list")
    response = accountant_client.get(url)
    totals = response.context["totals"]
    assert (totals.count, totals.amount, totals.reversed_count, totals.reversed_amount) == (
        2,
        D("30.00"),
        1,
        D("40.00"),
    )
    assert response.context["page_obj"].paginator.count == 3

    def listed(**params: Any) -> set[Decimal]:
        return {r.amount for r in accountant_client.get(url, params).context["page_obj"]}

    assert listed(method="cash") == {D("10.00"), D("40.00")}
    assert listed(recorded_by=bob.pk) == {D("20.00")}
    assert listed(date_from=(today() - timedelta(days=6)).isoformat()) == {D("20.00"), D("40.00")}
    assert listed(date_to=(today() - timedelta(days=6)).isoformat()) == {D("10.00")}
    filtered = accountant_client.get(url, {"method": "cash"}).context["totals"]
    assert (filtered.count, filtered.amount) == (1, D("10.00"))


def test_list_survives_bad_filters(accountant_client: Client, loan: Loan) -> None:
    response = accountant_client.get(
        reverse("repayment_list"),
        {"date_from": "nonsense", "method": "gold", "recorded_by": "abc", "page": "x"},
    )
    assert response.status_code == 200


def test_list_is_paginated(accountant_client: Client, loan: Loan, accountant: User) -> None:
    for _ in range(27):
        pay(loan, accountant, "1.00")
    response = accountant_client.get(reverse("repayment_list"), {"page": 2})
    assert len(response.context["page_obj"]) == 2
    assert b"Page 2 of 2" in response.content


def test_list_runs_a_fixed_number_of_queries(
    accountant_client: Client, accountant: User, django_assert_max_num_queries: Any
) -> None:
    for _ in range(3):
        loan = ActiveLoanFactory(disbursed_days_ago=60)
        for _ in range(10):
            pay(loan, accountant, "1.00")
    with django_assert_max_num_queries(12):
        accountant_client.get(reverse("repayment_list"), {"q": "L-"})


def test_export_reads_like_the_report_csvs_and_is_audited(
    accountant_client: Client, loan: Loan
) -> None:
    """BOM, headers in words, labels not codes; a reversed payment has its own status and its
    amount in "Amount reversed", so "Amount received" sums to what was collected."""
    _three_payments(loan)
    response = accountant_client.get(reverse("repayment_export"), {"method": "cash"})
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert "attachment" in response["Content-Disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    header, body = rows[0], rows[1:]
    assert header[:9] == [
        "Receipt no.",
        "Paid on",
        "Recorded at",
        "Loan",
        "Borrower number",
        "Borrower",
        "Status",
        "Amount received",
        "Amount reversed",
    ]
    col = {name: i for i, name in enumerate(header)}
    received = next(r for r in body if r[col["Status"]] == "Received")
    reversed_ = next(r for r in body if r[col["Status"]] == "Reversed")
    assert (received[col["Amount received"]], received[col["Amount reversed"]]) == ("10.00", "")
    assert (reversed_[col["Amount received"]], reversed_[col["Amount reversed"]]) == ("", "40.00")
    assert received[col["Interest"]] == "10.00" and received[col["Principal"]] == "0.00"
    assert reversed_[col["Interest"]] == reversed_[col["Principal"]] == ""
    assert received[col["Method"]] == "Cash" and received[col["Settlement"]] == "No"
    assert received[col["Recorded by"]] == "Alice Cash"
    assert reversed_[col["Reversed by"]] == "Alice Cash"
    assert reversed_[col["Reversal reason"]] == "Typo"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", reversed_[col["Reversed at"]])
    entry = AuditLog.objects.filter(action=AuditLog.Action.REPORT_EXPORTED).get()
    assert entry.details["report"] == "repayments"
    assert entry.details["params"] == {"method": "cash"} and entry.details["rows"] == 2


def test_export_writes_non_ascii_names_for_a_spreadsheet(
    accountant_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(borrower=BorrowerFactory(full_name="Zoë Ñúñez"), disbursed_days_ago=30)
    pay(loan, accountant, "5.00", method="mobile_money")
    raw = accountant_client.get(reverse("repayment_export")).content
    assert raw.startswith(b"\xef\xbb\xbf") and "Zoë Ñúñez".encode() in raw
    assert b",Mobile money," in raw and b"mobile_money" not in raw


def test_export_defuses_formulas_in_text(accountant_client: Client, accountant: User) -> None:
    loan = ActiveLoanFactory(
        borrower=BorrowerFactory(full_name="=HYPERLINK(evil)"), disbursed_days_ago=30
    )
    pay(loan, accountant, "5.00", reference="+SUM(A1)")
    text = accountant_client.get(reverse("repayment_export")).content.decode()
    assert "'=HYPERLINK(evil)" in text and "'+SUM(A1)" in text


@pytest.mark.parametrize("n", [12, 360])  # 360 monthly: the longest custom terms
def test_payoff_and_detail_pages_run_a_fixed_number_of_queries(
    n: int, accountant_client: Client, accountant: User, django_assert_max_num_queries: Any
) -> None:
    loan = ActiveLoanFactory(installments=n, principal=D("50000.00"), disbursed_days_ago=100)
    repayment = pay(loan, accountant, "5000.00")
    with django_assert_max_num_queries(10):
        assert accountant_client.get(reverse("loan_payoff", args=[loan.pk])).status_code == 200
    with django_assert_max_num_queries(10):
        response = accountant_client.get(reverse("repayment_detail", args=[repayment.pk]))
        assert response.status_code == 200


def test_a_payment_inside_closed_books_offers_no_reverse_and_says_why(
    accountant_client: Client, accountant: User, django_assert_max_num_queries: Any
) -> None:
    from ledger.models import BooksClosing

    loan = ActiveLoanFactory(disbursed_days_ago=100)
    repayment = pay(loan, accountant, "50.00", paid_on=timezone.localdate() - timedelta(days=5))
    url = reverse("repayment_detail", args=[repayment.pk])
    reverse_url = reverse("repayment_reverse", args=[repayment.pk])
    assert reverse_url in accountant_client.get(url).content.decode()
    through = timezone.localdate() - timedelta(days=5)  # the payment's own day is closed
    BooksClosing.objects.create(through=through, closed_by=accountant)
    with django_assert_max_num_queries(10):
        html = accountant_client.get(url).content.decode()
    assert reverse_url not in html
    assert (
        f"The books are closed through {through.day} {through:%b %Y}: this payment can no "
        "longer be reversed." in html
    )


def test_a_payment_after_the_closed_books_can_still_be_reversed(
    accountant_client: Client, accountant: User
) -> None:
    from ledger.models import BooksClosing

    loan = ActiveLoanFactory(disbursed_days_ago=100)
    repayment = pay(loan, accountant, "50.00", paid_on=timezone.localdate() - timedelta(days=5))
    BooksClosing.objects.create(
        through=timezone.localdate() - timedelta(days=6), closed_by=accountant
    )
    html = accountant_client.get(reverse("repayment_detail", args=[repayment.pk])).content
    assert reverse("repayment_reverse", args=[repayment.pk]) in html.decode()
    assert b"can no longer be reversed" not in html


def test_export_with_an_invalid_filter_exports_nothing(
    accountant_client: Client, loan: Loan, accountant: User
) -> None:
    pay(loan, accountant, "10.00")
    response = accountant_client.get(reverse("repayment_export"), {"date_from": "32/13/2026"})
    assert response.status_code == 400
    assert "nothing was exported" in response.content.decode()
    assert "Enter the date as dd/mm/yyyy, for example 31/01/2027." in response.content.decode()
    assert not AuditLog.objects.filter(action=AuditLog.Action.REPORT_EXPORTED).exists()
    page = accountant_client.get(reverse("repayment_list"), {"date_from": "32/13/2026"})
    html = page.content.decode()
    assert "Correct the filters to export." in html
    assert reverse("repayment_export") not in html


def test_payment_pages_sit_under_repayments_in_the_navigation(
    accountant_client: Client, loan: Loan
) -> None:
    for name in ("repayment_create", "loan_payoff"):
        html = accountant_client.get(reverse(name, args=[loan.pk])).content.decode()
        assert re.search(r'aria-current="page">Repayments<', html), name
        assert not re.search(r'aria-current="page">Loans<', html), name
    html = accountant_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert re.search(r'aria-current="page">Loans<', html)


def test_one_loan_s_repayments_from_its_page(
    accountant_client: Client, accountant: User, loan: Loan
) -> None:
    other = ActiveLoanFactory(disbursed_days_ago=75)
    for amount in ("10.00", "11.00"):
        pay(loan, accountant, amount)
    pay(other, accountant, "12.00")
    url = reverse("repayment_list")
    response = accountant_client.get(url, {"loan": loan.pk})
    assert {r.amount for r in response.context["page_obj"]} == {D("10.00"), D("11.00")}
    html = response.content.decode()
    assert f'Loan: <a href="{reverse("loan_detail", args=[loan.pk])}">{loan.number}</a>' in html
    assert 'type="hidden" name="loan"' in html  # kept by the other filters
    exported = accountant_client.get(reverse("repayment_export"), {"loan": loan.pk})
    assert b"10.00" in exported.content and b"12.00" not in exported.content
    bad = accountant_client.get(url, {"loan": "x"})
    assert bad.status_code == 200
    assert bad.context["page_obj"].paginator.count == 3  # an invalid loan filters nothing


# --- the loan ledger: previews before a replay, the current split after one -------------------


def qa_loan(disbursed_days_ago: int) -> Loan:
    """5,000.00 at 18 % a year, 12 monthly declining installments: installment 1 asks for 75.00
    interest and 383.40 principal."""
    from lending.services.loans import loan_approve
    from tests.factories import AdminFactory

    loan = LoanFactory(
        principal=D("5000.00"),
        annual_interest_rate=D("18"),
        installments=12,
        frequency="monthly",
        interest_method="declining",
        amortization="equal_installments",
        interest_period="per_period",
    )
    return loan_approve(
        loan=loan,
        user=AdminFactory(),
        disbursement_date=today() - timedelta(days=disbursed_days_ago),
    )


def days_ago(n: int) -> date:
    return today() - timedelta(days=n)


def repayment_txn(repayment: Repayment) -> LoanTransaction:
    return LoanTransaction.objects.get(repayment=repayment, kind=LoanTransaction.Kind.REPAYMENT)


def stored_counts() -> tuple[int, ...]:
    return (
        Repayment.objects.count(),
        Allocation.objects.count(),
        LoanTransaction.objects.count(),
        LoanTransaction.objects.exclude(split_changed_at=None).count(),
        AuditLog.objects.count(),
    )


def test_reverse_page_lists_a_later_payment_s_changed_split_and_stores_nothing(
    accountant_client: Client, accountant: User
) -> None:
    loan = qa_loan(20)  # installment 1 falls due in about ten days: nothing late
    first = pay(loan, accountant, "100.00", paid_on=days_ago(15))
    second = pay(loan, accountant, "358.40", paid_on=days_ago(10))
    before = stored_counts()

    response = accountant_client.get(reverse("repayment_reverse", args=[first.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "What this reversal will change" in html
    assert "Later transactions re-split (1)" in html
    (change,) = response.context["preview"].changes
    assert change.receipt == second.receipt.number and change.value_date == days_ago(10)
    assert (change.before.interest, change.before.principal) == (D("0.00"), D("358.40"))
    assert (change.after.interest, change.after.principal) == (D("75.00"), D("283.40"))
    assert reverse("repayment_detail", args=[second.pk]) in html
    assert "<strong>283.40</strong>" in html and "<strong>75.00</strong>" in html
    loan.refresh_from_db()
    after = loan.outstanding + D("100.00")
    assert f"{CURRENCY} {loan.outstanding:,} → <strong>{CURRENCY} {after:,}</strong>" in html
    assert "Nothing else changes" not in html
    assert 'name="reason"' in html
    assert stored_counts() == before


def test_reverse_page_says_plainly_when_nothing_else_changes(
    accountant_client: Client, loan: Loan, accountant: User
) -> None:
    repayment = pay(loan, accountant, "100.00")
    html = accountant_client.get(reverse("repayment_reverse", args=[repayment.pk])).content.decode()
    assert "Nothing else changes: no later payment is re-split" in html
    assert "Later transactions re-split" not in html


def test_reverse_page_shows_a_closed_loan_re_opening(
    accountant_client: Client, loan: Loan, accountant: User
) -> None:
    repayment = pay(loan, accountant, str(loan.outstanding))
    assert Loan.objects.get(pk=loan.pk).status == Loan.Status.CLOSED
    response = accountant_client.get(reverse("repayment_reverse", args=[repayment.pk]))
    preview = response.context["preview"]
    assert preview.reopens and preview.after.status == Loan.Status.ACTIVE
    assert "the loan re-opens" in response.content.decode()


def test_reverse_page_shows_a_penalty_added_and_days_past_due(
    accountant_client: Client, accountant: User
) -> None:
    from lending.services.close_day import day_close
    from tests.factories import LoanProductFactory
    from tests.reporting.helpers import weekly_loan

    product = LoanProductFactory(
        penalty_type=LoanProduct.PenaltyType.FLAT, penalty_amount=D("10.00"), penalty_grace_days=0
    )
    loan = weekly_loan(disbursed_days_ago=10, product=product)  # #1 due 3 days ago
    due = loan.schedule.order_by("number")[0].due_date
    repayment = pay(loan, accountant, "100.00", paid_on=due)
    day_close(on=due + timedelta(days=1))  # #1 paid in time: no penalty

    response = accountant_client.get(reverse("repayment_reverse", args=[repayment.pk]))

    preview = response.context["preview"]
    (added,) = preview.penalties_added
    assert (added.amount, added.installment) == (D("10.00"), 1)
    assert (preview.before.days_past_due, preview.after.days_past_due) == (0, 3)
    html = response.content.decode()
    assert "Late penalties added" in html and "on installment #1" in html
    assert "0 → <strong>3</strong>" in html


def test_reverse_page_of_a_loan_no_longer_reversible_says_why_without_a_form(
    accountant_client: Client, loan: Loan, accountant: User
) -> None:
    repayment = pay(loan, accountant, "100.00")
    Loan.objects.filter(pk=loan.pk).update(status=Loan.Status.WRITTEN_OFF)
    response = accountant_client.get(reverse("repayment_reverse", args=[repayment.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "can no longer be reversed" in html and 'name="reason"' not in html


def backdated_data(key: str, amount: str = "100.00", **extra: str) -> dict[str, str]:
    return payment_data(key, amount, paid_on=days_ago(15).isoformat(), **extra)


def test_backdated_payment_shows_a_confirmation_first_then_records_on_confirm(
    accountant_client: Client, accountant: User
) -> None:
    loan = qa_loan(20)
    later = pay(loan, accountant, "358.40", paid_on=days_ago(10))
    url = reverse("repayment_create", args=[loan.pk])
    key = form_key(accountant_client.get(url).content.decode())
    before = stored_counts()

    response = accountant_client.post(url, backdated_data(key))

    assert response.status_code == 200
    assert stored_counts() == before  # nothing recorded yet
    html = response.content.decode()
    assert "Confirm a backdated payment" in html
    (change,) = response.context["preview"].changes
    assert change.receipt == later.receipt.number
    assert (change.after.interest, change.after.principal) == (D("0.00"), D("358.40"))
    assert (change.before.interest, change.before.principal) == (D("75.00"), D("283.40"))
    assert form_key(html) == key  # the same one-time key rides along
    for name, value in backdated_data(key).items():
        assert f'type="hidden" name="{name}" value="{value}"' in html, name
    assert 'type="hidden" name="confirmed" value="True"' in html
    assert ">Record payment</button>" in html and 'name="change"' in html

    confirmed = accountant_client.post(url, backdated_data(key, confirmed="True"))

    repayment = Repayment.objects.get(idempotency_key__endswith=f":{key}")
    assert confirmed.status_code == 302
    assert confirmed["Location"] == reverse("repayment_detail", args=[repayment.pk])
    assert repayment.paid_on == days_ago(15) and repayment.amount == D("100.00")
    t = repayment_txn(later)
    assert (t.interest, t.principal) == (D("0.00"), D("358.40"))
    assert t.split_changed_at is not None


def test_confirming_a_backdated_payment_twice_records_one_payment(
    accountant_client: Client, accountant: User
) -> None:
    loan = qa_loan(20)
    pay(loan, accountant, "358.40", paid_on=days_ago(10))
    url = reverse("repayment_create", args=[loan.pk])
    data = backdated_data("f" * 32, confirmed="True")
    first = accountant_client.post(url, data)
    second = accountant_client.post(url, data)
    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert Repayment.objects.filter(loan=loan).count() == 2
    assert AuditLog.objects.filter(action=AuditLog.Action.REPAYMENT_RECORDED).count() == 2
    # The first form sent again after it was confirmed: answered with that payment, not asked
    # for confirmation again.
    again = accountant_client.post(url, backdated_data("f" * 32))
    assert again.status_code == 302 and again["Location"] == first["Location"]
    assert Repayment.objects.filter(loan=loan).count() == 2


def test_change_on_the_confirmation_goes_back_to_the_form_with_its_values(
    accountant_client: Client, accountant: User
) -> None:
    loan = qa_loan(20)
    pay(loan, accountant, "358.40", paid_on=days_ago(10))
    url = reverse("repayment_create", args=[loan.pk])
    response = accountant_client.post(url, backdated_data("a" * 32, confirmed="True", change="1"))
    html = response.content.decode()
    assert response.status_code == 200 and "Record a payment" in html
    assert 'name="amount" value="100.00"' in html
    assert f'name="paid_on" value="{days_ago(15).isoformat()}"' in html
    assert form_key(html) == "a" * 32 and 'name="confirmed"' not in html
    assert Repayment.objects.filter(loan=loan).count() == 1


def test_backdated_payment_refused_by_the_service_shows_the_error_on_the_form(
    accountant_client: Client, accountant: User
) -> None:
    loan = qa_loan(20)
    pay(loan, accountant, "358.40", paid_on=days_ago(10))
    url = reverse("repayment_create", args=[loan.pk])
    response = accountant_client.post(url, backdated_data("b" * 32, amount="999999.00"))
    html = response.content.decode()
    assert "Confirm a backdated payment" not in html
    assert "above the loan&#x27;s outstanding balance" in html
    assert Repayment.objects.filter(loan=loan).count() == 1


def test_in_order_payment_is_recorded_at_once_without_a_preview(
    accountant_client: Client, accountant: User, django_assert_max_num_queries: Any
) -> None:
    loan = qa_loan(20)
    pay(loan, accountant, "100.00", paid_on=days_ago(15))
    url = reverse("repayment_create", args=[loan.pk])
    data = payment_data("c" * 32, paid_on=days_ago(10).isoformat())  # after everything booked
    # As many queries as before backdated payments were confirmed (the in-order check reads
    # the loan row the page already has).
    with django_assert_max_num_queries(25) as ctx:
        response = accountant_client.post(url, data)
    assert response.status_code == 302
    assert Repayment.objects.filter(loan=loan).count() == 2
    # No replay, not even a dry run: the loan's current allocations are never read.
    assert not [q for q in ctx.captured_queries if '"superseded_at" IS NULL' in q["sql"]]


def test_officer_cannot_confirm_a_backdated_payment(
    officer_client: Client, client: Client, accountant: User
) -> None:
    loan = qa_loan(20)
    pay(loan, accountant, "358.40", paid_on=days_ago(10))
    url = reverse("repayment_create", args=[loan.pk])
    assert officer_client.post(url, backdated_data("d" * 32)).status_code == 403
    assert officer_client.post(url, backdated_data("d" * 32, confirmed="True")).status_code == 403
    anonymous = client.post(url, backdated_data("d" * 32, confirmed="True"))
    assert anonymous.status_code == 302 and "/accounts/login/" in anonymous["Location"]
    assert Repayment.objects.filter(loan=loan).count() == 1


def test_detail_page_shows_the_current_split_and_when_it_was_re_split(
    accountant_client: Client, accountant: User
) -> None:
    loan = qa_loan(20)
    first = pay(loan, accountant, "100.00", paid_on=days_ago(15))
    second = pay(loan, accountant, "358.40", paid_on=days_ago(10))
    url = reverse("repayment_detail", args=[second.pk])
    assert "Re-split on" not in accountant_client.get(url).content.decode()

    repayment_reverse(repayment=first, user=accountant, reason="Cheque bounced")

    response = accountant_client.get(url)
    html = response.content.decode()
    t = repayment_txn(second)
    assert f"Re-split on {timezone.localtime(t.split_changed_at):%d %b %Y}" in html
    assert t.split_change_reason and t.split_change_reason in html
    assert "shows the split as booked" in html and second.receipt.number in html
    assert response.context["totals"]["interest"] == D("75.00")
    assert response.context["totals"]["principal"] == D("283.40")
    assert {a.principal for a in response.context["allocations"]} == {D("283.40")}


def test_receipt_keeps_the_split_as_booked_after_a_re_split(
    accountant_client: Client, accountant: User
) -> None:
    loan = qa_loan(20)
    first = pay(loan, accountant, "100.00", paid_on=days_ago(15))
    second = pay(loan, accountant, "358.40", paid_on=days_ago(10))
    repayment_reverse(repayment=first, user=accountant, reason="Cheque bounced")
    receipt = accountant_client.get(reverse("receipt_detail", args=[second.receipt.number]))
    assert receipt.status_code == 200
    assert [(a.interest, a.principal) for a in receipt.context["allocations"]] == [
        (D("0.00"), D("358.40"))
    ]
