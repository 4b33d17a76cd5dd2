"""Receipts: printable HTML, the PDF from the same template, VOID after a reversal, access
rules and a fixed number of queries."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from pypdf import PdfReader

from lending.models import AuditLog, Loan, Repayment
from lending.services.repayments import loan_settle, repayment_record, repayment_reverse
from lending.views.receipts import static_path
from tests.factories import ActiveLoanFactory, BorrowerFactory

D = Decimal
pytestmark = pytest.mark.django_db
MM = 72 / 25.4  # PDF points per millimetre


@pytest.fixture
def repayment(accountant: User) -> Repayment:
    accountant.first_name, accountant.last_name = "Grace", "Otieno"
    accountant.save()
    borrower = BorrowerFactory(full_name="Amina Wekesa")
    loan = ActiveLoanFactory(borrower=borrower, disbursed_days_ago=75)
    return repayment_record(
        loan=loan,
        user=accountant,
        amount=D("1234.56"),
        paid_on=timezone.localdate() - timedelta(days=1),
        method="bank_transfer",
        reference="TT-2026-778",
    )


def receipt_url(repayment: Repayment, name: str = "receipt_detail") -> str:
    return reverse(name, args=[repayment.receipt.number])


def test_receipt_page_shows_every_field_design_lists(
    accountant_client: Client, repayment: Repayment
) -> None:
    response = accountant_client.get(receipt_url(repayment))
    html = response.content.decode()
    loan = repayment.loan
    allocations = list(repayment.allocations.all())
    principal = sum((a.principal for a in allocations), D(0))
    interest = sum((a.interest for a in allocations), D(0))
    for text in [
        "Ka-Ro Microfinance",
        repayment.receipt.number,
        repayment.paid_on.strftime("%d %b %Y"),
        "Amina Wekesa",
        loan.borrower.number,
        loan.number,
        "USD 1,234.56",
        f"{principal:,}",
        f"{interest:,}",
        "Fees",
        "Penalties",
        f"{repayment.outstanding_after:,}",
        "Bank transfer",
        "TT-2026-778",
        "Grace Otieno",
        'id="print-button"',
    ]:
        assert text in html, text
    assert "VOID" not in html
    assert 'href="/static/css/receipt.css"' in html
    assert "style=" not in html and "<script>" not in html  # strict CSP


def test_thermal_switch(accountant_client: Client, repayment: Repayment) -> None:
    html = accountant_client.get(receipt_url(repayment), {"paper": "thermal"}).content.decode()
    assert 'class="paper-thermal' in html
    html = accountant_client.get(receipt_url(repayment), {"paper": "<script>"}).content.decode()
    assert 'class="paper-a4' in html


def test_reversed_payment_receipt_shows_void(
    accountant_client: Client, repayment: Repayment, accountant: User
) -> None:
    assert "Keep this receipt as proof of payment" in (
        accountant_client.get(receipt_url(repayment)).content.decode()
    )
    repayment_reverse(repayment=repayment, user=accountant, reason="Cheque bounced")
    html = accountant_client.get(receipt_url(repayment)).content.decode()
    assert "VOID" in html and "Cheque bounced" in html and "is-void" in html
    assert "This receipt is not proof of payment." in html
    assert "Keep this receipt as proof of payment" not in html
    assert "Cheque bounced. This receipt" in html  # one full stop, whether or not typed


@pytest.mark.parametrize(
    ("role", "status"), [("admin", 200), ("accountant", 200), ("officer", 403)]
)
@pytest.mark.parametrize("name", ["receipt_detail", "receipt_pdf"])
def test_receipt_role_matrix(
    request: pytest.FixtureRequest, role: str, status: int, name: str, repayment: Repayment
) -> None:
    client: Client = request.getfixturevalue(f"{role}_client")
    response = client.get(receipt_url(repayment, name))
    assert response.status_code == status
    if status == 403:
        assert b"Traceback" not in response.content


def test_anonymous_is_sent_to_login(client: Client, repayment: Repayment) -> None:
    for name in ["receipt_detail", "receipt_pdf"]:
        response = client.get(receipt_url(repayment, name))
        assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_unknown_receipt_is_404(accountant_client: Client) -> None:
    assert accountant_client.get("/receipts/RCT-2000-999999/").status_code == 404
    assert accountant_client.get("/receipts/RCT-2000-999999.pdf").status_code == 404


def pdf_text(content: bytes) -> tuple[PdfReader, str]:
    reader = PdfReader(io.BytesIO(content))
    return reader, "\n".join(page.extract_text() for page in reader.pages)


def test_pdf_is_a_real_pdf_holding_the_receipt(
    accountant_client: Client, repayment: Repayment
) -> None:
    response = accountant_client.get(receipt_url(repayment, "receipt_pdf"))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/pdf"
    # It opens in the tab; ?download=1 saves it.
    disposition = f'filename="{repayment.receipt.number}.pdf"'
    assert response["Content-Disposition"] == f"inline; {disposition}"
    saved = accountant_client.get(receipt_url(repayment, "receipt_pdf"), {"download": "1"})
    assert saved["Content-Disposition"] == f"attachment; {disposition}"
    assert response.content.startswith(b"%PDF-")
    reader, text = pdf_text(response.content)
    for expected in [repayment.receipt.number, "Amina Wekesa", repayment.loan.number, "1,234.56"]:
        assert expected in text, expected
    assert "Print" not in text and "Download PDF" not in text  # no screen toolbar
    # The stylesheet loaded: its @page rule makes the page A4.
    box = reader.pages[0].mediabox
    assert round(float(box.width) / MM) == 210 and round(float(box.height) / MM) == 297


def test_thermal_pdf_is_80_mm_wide_and_as_long_as_its_content(
    accountant_client: Client, repayment: Repayment
) -> None:
    response = accountant_client.get(receipt_url(repayment, "receipt_pdf"), {"paper": "thermal"})
    reader, text = pdf_text(response.content)
    assert len(reader.pages) == 1
    box = reader.pages[0].mediabox
    assert round(float(box.width) / MM) == 80
    # Cut to its content: far shorter than a 297 mm page, and nothing is cut off.
    assert 100 < float(box.height) / MM < 250
    assert repayment.receipt.number in text and "Keep this receipt" in text
    lowest: list[float] = []
    reader.pages[0].extract_text(
        visitor_text=lambda t, cm, tm, *_: (
            lowest.append(tm[5] * cm[3] + cm[5]) if t.strip() else None
        )
    )
    # The last line sits just above the bottom margin (3 mm), not 10 cm above it.
    assert 3 * MM < min(lowest) < 12 * MM


def test_receipt_states_the_amount_in_words_and_the_next_payment(
    accountant_client: Client, repayment: Repayment
) -> None:
    html = accountant_client.get(receipt_url(repayment)).content.decode()
    assert "One thousand two hundred and thirty-four and 56/100 USD" in html
    loan = repayment.loan
    unpaid = loan.schedule.exclude(status="paid").order_by("due_date")
    today = timezone.localdate()
    owed_now = sum((i.remaining for i in unpaid if i.due_date <= today), D(0))
    if owed_now:
        assert f"Due now (overdue since {unpaid[0].due_date:%d %b %Y})" in html
        assert f"USD {owed_now:,}" in html
    else:
        assert f"Next payment due {unpaid[0].due_date:%d %b %Y}" in html
        assert f"USD {unpaid[0].remaining:,}" in html
    _, text = pdf_text(accountant_client.get(receipt_url(repayment, "receipt_pdf")).content)
    assert "One thousand two hundred and thirty-four and 56/100 USD" in text


def test_next_payment_is_the_next_installment_when_nothing_is_late(
    accountant_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=3)
    first = loan.schedule.order_by("number").first()
    assert first is not None and first.due_date > timezone.localdate()
    paid = repayment_record(
        loan=loan, user=accountant, amount=D("10.00"), paid_on=timezone.localdate(), method="cash"
    )
    html = accountant_client.get(receipt_url(paid)).content.decode()
    first.refresh_from_db()
    assert f"Next payment due {first.due_date:%d %b %Y}" in html
    assert f"USD {first.remaining:,}" in html and "Due now" not in html


def test_void_pdf_says_void(
    accountant_client: Client, repayment: Repayment, accountant: User
) -> None:
    repayment_reverse(repayment=repayment, user=accountant, reason="Wrong loan")
    _, text = pdf_text(accountant_client.get(receipt_url(repayment, "receipt_pdf")).content)
    assert "VOID" in text


def test_every_print_and_download_is_audited_but_viewing_is_not(
    accountant_client: Client, repayment: Repayment
) -> None:
    accountant_client.get(receipt_url(repayment))
    accountant_client.get(receipt_url(repayment) + "?paper=thermal")
    entries = AuditLog.objects.filter(action=AuditLog.Action.RECEIPT_PRINTED).order_by("id")
    assert not entries.exists()
    accountant_client.get(receipt_url(repayment, "receipt_pdf"))
    accountant_client.get(receipt_url(repayment, "receipt_pdf"))
    printed = accountant_client.post(receipt_url(repayment), {"paper": "thermal"})
    assert printed.status_code == 200
    assert b"data-autoprint" in printed.content and b"paper-thermal" in printed.content
    assert [(e.details["format"], e.details["paper"]) for e in entries] == [
        ("pdf", "a4"),
        ("pdf", "a4"),
        ("html", "thermal"),
    ]
    assert {e.object_repr for e in entries} == {repayment.receipt.number}
    assert {e.username for e in entries} == {repayment.recorded_by.username}


def test_the_print_button_posts_to_the_receipt_and_viewing_has_no_autoprint(
    accountant_client: Client, repayment: Repayment
) -> None:
    html = accountant_client.get(receipt_url(repayment) + "?paper=thermal").content.decode()
    assert f'<form method="post" action="{receipt_url(repayment)}"' in html
    assert 'name="paper" value="thermal"' in html and 'id="print-button"' in html
    assert "data-autoprint" not in html


def test_printing_needs_the_receipt_permission_and_csrf(
    officer_client: Client, accountant: User, repayment: Repayment
) -> None:
    assert officer_client.post(receipt_url(repayment)).status_code == 403
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(accountant)
    assert strict.post(receipt_url(repayment)).status_code == 403
    assert not AuditLog.objects.filter(action=AuditLog.Action.RECEIPT_PRINTED).exists()


def test_settlement_receipt_over_a_long_schedule_summarises_installments(
    accountant_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(installments=120, principal=D("20000.00"), disbursed_days_ago=10)
    settlement = loan_settle(loan=loan, user=accountant, on=timezone.localdate(), method="cash")
    html = accountant_client.get(receipt_url(settlement)).content.decode()
    assert "Settlement receipt" in html and "Installments 1 to 120 (120 installments)" in html
    _, text = pdf_text(accountant_client.get(receipt_url(settlement, "receipt_pdf")).content)
    assert settlement.receipt.number in text


@pytest.mark.parametrize("name", ["receipt_detail", "receipt_pdf"])
def test_receipt_runs_a_fixed_number_of_queries(
    name: str, accountant_client: Client, accountant: User, django_assert_num_queries: Any
) -> None:
    small = ActiveLoanFactory(disbursed_days_ago=40)
    one = repayment_record(
        loan=small, user=accountant, amount=D("5.00"), paid_on=timezone.localdate(), method="cash"
    )
    big = ActiveLoanFactory(installments=48, principal=D("20000.00"), disbursed_days_ago=40)
    many = repayment_record(
        loan=big, user=accountant, amount=D("15000.00"), paid_on=timezone.localdate(), method="cash"
    )
    assert one.allocations.count() == 1 and many.allocations.count() > 12
    accountant_client.get(receipt_url(one, name))  # warm the session and permission caches
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as first:
        accountant_client.get(receipt_url(one, name))
    with django_assert_num_queries(len(first)):
        accountant_client.get(receipt_url(many, name))
    assert len(first) <= 15


def test_static_fetcher_only_serves_static_files() -> None:
    assert static_path("http://testserver/static/css/receipt.css").endswith("receipt.css")
    for url in [
        "http://169.254.169.254/latest/meta-data",
        "http://testserver/static/../karo/settings.py",
        "http://testserver/static/css/nope.css",
        "file:///etc/passwd",
    ]:
        with pytest.raises(ValueError):
            static_path(url)


def test_closed_loan_receipt_shows_zero_balance(
    accountant_client: Client, accountant: User
) -> None:
    loan = ActiveLoanFactory(disbursed_days_ago=40)
    last = repayment_record(
        loan=loan,
        user=accountant,
        amount=loan.outstanding,
        paid_on=timezone.localdate(),
        method="cash",
    )
    assert Loan.objects.get(pk=loan.pk).status == Loan.Status.CLOSED
    html = accountant_client.get(receipt_url(last)).content.decode()
    assert "USD 0.00" in html
    assert "Nothing more to pay: the loan is repaid." in html and "Next payment" not in html
