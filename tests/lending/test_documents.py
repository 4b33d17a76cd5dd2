"""Documents printed for a borrower: the loan statement (every transaction, the running balance,
what is due next) and the payoff quote letter, each a page and its A4 PDF from one template.
Looking is not audited; the Print button and every PDF are. Fixed query counts."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from lending.models import AuditLog, Installment, Loan
from lending.selectors.documents import loan_statement
from lending.services.repayments import payoff_quote, repayment_record, repayment_reverse
from tests.factories import ActiveLoanFactory, BorrowerFactory, LoanFactory

D = Decimal
pytestmark = pytest.mark.django_db
MM = 72 / 25.4


def today() -> Any:
    return timezone.localdate()


def pdf_text(content: bytes) -> tuple[PdfReader, list[str]]:
    reader = PdfReader(io.BytesIO(content))
    return reader, [page.extract_text() for page in reader.pages]


def printed() -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=AuditLog.Action.DOCUMENT_PRINTED).order_by("id"))


@pytest.fixture
def loan(accountant: User) -> Loan:
    """Three payments, the last one reversed."""
    loan = ActiveLoanFactory(
        borrower=BorrowerFactory(full_name="Zoë Wanjiru", address="12 Market Street\nKisumu"),
        disbursed_days_ago=100,
    )
    for days, amount in ((70, "300.00"), (40, "250.00"), (10, "99.00")):
        last = repayment_record(
            loan=loan,
            user=accountant,
            amount=D(amount),
            paid_on=today() - timedelta(days=days),
            method="cash",
        )
    repayment_reverse(repayment=last, user=accountant, reason="Typed on the wrong loan")
    loan.refresh_from_db()
    return loan


def test_statement_lists_every_transaction_with_a_running_balance(loan: Loan) -> None:
    statement = loan_statement(loan.pk, today())
    lines = statement.lines
    assert [line.description for line in lines] == [
        "Loan disbursed",
        "Payment",
        "Payment",
        "Payment",
    ]
    assert lines[0].charged == loan.total_repayable and lines[0].balance == loan.total_repayable
    assert [line.paid for line in lines[1:]] == [D("300.00"), D("250.00"), None]
    # The balance column adds up, and ends at what the loan owes.
    running = D(0)
    for line in lines:
        if line.balance is None:
            continue
        running += (line.charged or 0) - (line.paid or 0)
        assert running == line.balance
    assert statement.balance == loan.outstanding == running
    assert statement.total_paid == D("550.00")
    reversed_line = lines[-1]
    assert (
        reversed_line.balance is None and "Typed on the wrong loan" in reversed_line.reversed_note
    )
    assert all(line.reference.startswith("RCT-") for line in lines[1:])


def test_statement_page_and_pdf(officer_client: Client, loan: Loan) -> None:
    url = reverse("loan_statement", args=[loan.pk])
    html = officer_client.get(url).content.decode()
    for text in ["Loan statement", loan.number, "Zoë Wanjiru", "Ka-Ro Microfinance", "Printed"]:
        assert text in html, text
    assert f"USD {loan.outstanding:,}" in html
    assert "Reversed: 99.00 reversed on" in html
    unpaid = Installment.objects.filter(loan=loan).exclude(status="paid").order_by("due_date")
    first = unpaid[0]
    if first.due_date <= today():
        assert f"Due now (overdue since {first.due_date:%d %b %Y})" in html
    else:
        assert f"Next payment due {first.due_date:%d %b %Y}" in html
    assert "style=" not in html and "<script>" not in html  # strict CSP
    assert not printed()  # looking is not printing

    response = officer_client.get(reverse("loan_statement_pdf", args=[loan.pk]))
    assert response["Content-Type"] == "application/pdf"
    name = f"statement-{loan.number}-{today().isoformat()}.pdf"
    assert response["Content-Disposition"] == f'inline; filename="{name}"'
    reader, pages = pdf_text(response.content)
    box = reader.pages[0].mediabox
    assert round(float(box.width) / MM) == 210 and round(float(box.height) / MM) == 297
    text = "\n".join(pages)
    assert loan.number in text and "Zoë Wanjiru" in text and f"{loan.outstanding:,}" in text
    assert "Open PDF" not in text  # no screen toolbar
    # Every page's margin: the institution's name and the print date.
    assert all("Ka-Ro Microfinance" in p and "Printed" in p for p in pages)
    entry = printed()[-1]
    assert entry.details == {"document": "loan_statement", "format": "pdf", "loan": loan.number}
    saved = officer_client.get(reverse("loan_statement_pdf", args=[loan.pk]), {"download": "1"})
    assert saved["Content-Disposition"].startswith("attachment;")


def test_statement_print_button_is_audited(accountant_client: Client, loan: Loan) -> None:
    response = accountant_client.post(reverse("loan_statement", args=[loan.pk]))
    assert response.status_code == 200 and b"data-autoprint" in response.content
    assert [(e.details["document"], e.details["format"]) for e in printed()] == [
        ("loan_statement", "html")
    ]


def test_statement_of_an_application_has_no_transactions(officer_client: Client) -> None:
    pending = LoanFactory()
    html = officer_client.get(reverse("loan_statement", args=[pending.pk])).content.decode()
    assert "No transactions: the loan has not been disbursed." in html
    assert officer_client.get(reverse("loan_statement", args=[999999])).status_code == 404


@pytest.mark.parametrize("name", ["loan_statement", "loan_statement_pdf"])
def test_statement_runs_a_fixed_number_of_queries(
    name: str, admin_client: Client, accountant: User, django_assert_num_queries: Any
) -> None:
    small = ActiveLoanFactory(disbursed_days_ago=40)
    big = ActiveLoanFactory(installments=48, principal=D("20000.00"), disbursed_days_ago=400)
    for days in range(390, 10, -30):
        repayment_record(
            loan=big,
            user=accountant,
            amount=D("50.00"),
            paid_on=today() - timedelta(days=days),
            method="cash",
        )
    admin_client.get(reverse(name, args=[small.pk]))  # warm the session and permission caches
    with CaptureQueriesContext(connection) as first:
        admin_client.get(reverse(name, args=[small.pk]))
    with django_assert_num_queries(len(first)):
        admin_client.get(reverse(name, args=[big.pk]))
    assert len(first) <= 12


# --- the payoff letter -------------------------------------------------------------------------


def test_payoff_letter_states_the_quote_and_its_validity(
    officer_client: Client, loan: Loan
) -> None:
    on = today() + timedelta(days=9)
    quote = payoff_quote(loan=loan, on=on)
    url = reverse("loan_payoff_letter", args=[loan.pk])
    html = officer_client.get(url, {"on": on.isoformat()}).content.decode()
    assert f"USD {quote.total:,}" in html
    assert f"Valid for payment on {on:%d %b %Y} only." in html
    assert "Dear Zoë Wanjiru" in html and "12 Market Street" in html
    assert f"{quote.past_due:,}" in html and f"{quote.principal_not_due:,}" in html
    assert not printed()

    response = officer_client.get(
        reverse("loan_payoff_letter_pdf", args=[loan.pk]), {"on": on.isoformat()}
    )
    assert response["Content-Disposition"].startswith("inline;")
    _, pages = pdf_text(response.content)
    text = "\n".join(pages)
    assert f"{quote.total:,}" in text and f"Valid for payment on {on:%d %b %Y} only." in text
    entry = printed()[-1]
    assert entry.details["document"] == "payoff_letter" and entry.details["format"] == "pdf"
    assert entry.details["on"] == on.isoformat() and entry.details["amount"] == str(quote.total)


def test_payoff_letter_defaults_to_today_and_prints_with_its_date(
    accountant_client: Client, loan: Loan
) -> None:
    html = accountant_client.get(reverse("loan_payoff_letter", args=[loan.pk])).content.decode()
    assert f"Valid for payment on {today():%d %b %Y} only." in html
    assert f'name="on" value="{today().isoformat()}"' in html
    response = accountant_client.post(
        reverse("loan_payoff_letter", args=[loan.pk]), {"on": today().isoformat()}
    )
    assert b"data-autoprint" in response.content
    assert printed()[-1].details["format"] == "html"


@pytest.mark.parametrize("value", ["31/02/2026", "1999-12-31", "yesterday"])
def test_payoff_letter_with_a_bad_date_gives_the_reason_not_a_letter(
    officer_client: Client, loan: Loan, value: str
) -> None:
    html = officer_client.get(
        reverse("loan_payoff_letter", args=[loan.pk]), {"on": value}
    ).content.decode()
    assert 'role="alert"' in html and "Valid for payment" not in html
    response = officer_client.get(reverse("loan_payoff_letter_pdf", args=[loan.pk]), {"on": value})
    assert response.status_code == 400 and response.content.startswith(b"No payoff letter: ")
    assert not printed()


def test_payoff_letter_before_disbursement_or_for_a_closed_loan(
    officer_client: Client, loan: Loan
) -> None:
    early = loan.disbursement_date - timedelta(days=1)
    html = officer_client.get(
        reverse("loan_payoff_letter", args=[loan.pk]), {"on": early.isoformat()}
    ).content.decode()
    assert "on or after the disbursement" in html and "Valid for payment" not in html
    pending = LoanFactory()
    html = officer_client.get(reverse("loan_payoff_letter", args=[pending.pk])).content.decode()
    assert "only be recorded on active loans" in html or "pending" in html.lower()
    assert "Valid for payment" not in html
    response = officer_client.get(reverse("loan_payoff_letter_pdf", args=[pending.pk]))
    assert response.status_code == 400
    assert not printed()


@pytest.mark.parametrize("name", ["loan_payoff_letter", "loan_payoff_letter_pdf"])
def test_payoff_letter_runs_a_fixed_number_of_queries(
    name: str, admin_client: Client, django_assert_num_queries: Any
) -> None:
    small = ActiveLoanFactory(disbursed_days_ago=40)
    big = ActiveLoanFactory(installments=240, principal=D("90000.00"), disbursed_days_ago=40)
    admin_client.get(reverse(name, args=[small.pk]))
    with CaptureQueriesContext(connection) as first:
        admin_client.get(reverse(name, args=[small.pk]))
    with django_assert_num_queries(len(first)):
        admin_client.get(reverse(name, args=[big.pk]))
    assert len(first) <= 12


def test_the_loan_page_links_its_documents(officer_client: Client, loan: Loan) -> None:
    html = officer_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    assert reverse("loan_statement", args=[loan.pk]) in html
    assert reverse("loan_payoff_letter", args=[loan.pk]) in html
    payoff = officer_client.get(reverse("loan_payoff", args=[loan.pk])).content.decode()
    assert f"{reverse('loan_payoff_letter', args=[loan.pk])}?on={today().isoformat()}" in payoff
