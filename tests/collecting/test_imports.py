"""Payment file imports: reading awkward files, matching rows to loans, the dry run's verdicts,
posting once (a second import of the same file and a rerun post nothing twice), the report
and the pages."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from openpyxl import Workbook

from collecting.imports import (
    MAX_BYTES,
    payment_import_check,
    payment_import_commit,
    payment_import_upload,
    post_rows,
)
from collecting.models import ImportSource, PaymentImport, PaymentImportRow
from collecting.payment_file import CellProblem, parse_amount, parse_date, read_table
from ledger.models import BooksClosing
from lending.errors import StateConflict
from lending.models import AuditLog, Loan, Repayment
from lending.services.loans import loan_write_off
from tests.factories import ActiveLoanFactory, BorrowerFactory

pytestmark = pytest.mark.django_db
V = PaymentImportRow.Verdict
MAPPING = {"paid_on": "Date", "amount": "Amount", "reference": "Ref", "loan_number": "Loan"}


def paid() -> date:
    return timezone.localdate() - timedelta(days=1)


@pytest.fixture
def loans(db: Any) -> list[Loan]:
    return [ActiveLoanFactory(disbursed_days_ago=75) for _ in range(3)]


def _csv(rows: list[list[str]], header: list[str] | None = None, **kwargs: Any) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, **kwargs)
    writer.writerow(header or ["Date", "Amount", "Ref", "Loan"])
    writer.writerows(rows)
    return out.getvalue().encode()


def _import(user: User, content: bytes, name: str = "bank.csv", **kw: Any) -> PaymentImport:
    return payment_import_upload(
        user=user,
        source_name=kw.pop("source", "Equity statement"),
        file_name=name,
        content=content,
        method="bank_transfer",
    )


def _verdicts(imp: PaymentImport) -> list[tuple[str, str]]:
    return list(imp.rows.order_by("number").values_list("verdict", "message"))


# --- cells -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("1,234.56", "1234.56"),
        ("1.234,56", "1234.56"),
        ("1234,5", "1234.50"),
        ("12,50", "12.50"),
        ("1,234", "1234.00"),
        ("1 234,56", "1234.56"),
        ("KES 2,500.00", "2500.00"),
        ("USD 10", "10.00"),
    ],
)
def test_amounts_with_separators_and_decimal_commas(text: str, value: str) -> None:
    assert parse_amount(text) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("-5.00", "negative"),
        ("(5.00)", "negative"),
        ("1,23,4", "misplaced"),
        ("12.3456", "more than two decimals"),
        ("=B2*2", "formula"),
        ("abc", "not an amount"),
        ("0.00", "zero"),
        ("", "empty"),
    ],
)
def test_amounts_refused_say_why(text: str, why: str) -> None:
    with pytest.raises(CellProblem, match=why):
        parse_amount(text)


@pytest.mark.parametrize(
    "text", ["2026-03-01", "01/03/2026", "1.3.26", "1 Mar 2026", "01-Mar-2026", "March 1, 2026"]
)
def test_dates_in_three_formats_and_more(text: str) -> None:
    assert parse_date(text) == date(2026, 3, 1)


@pytest.mark.parametrize("text", ["31/02/2026", "03/13/2026", "yesterday", "=TODAY()"])
def test_dates_refused(text: str) -> None:
    with pytest.raises(CellProblem):
        parse_date(text)


def test_a_bom_and_windows_1252_are_read() -> None:
    with_bom = "\ufeffDate,Amount,Ref,Loan\n2026-03-01,10,Café,L-2026-000001\n".encode()
    table = read_table("x.csv", with_bom)
    assert table.header[0] == "Date" and table.rows[0][2] == "Café" and not table.notes
    latin = "Date;Amount;Ref;Loan\n2026-03-01;10,50;Café;L-2026-000001\n".encode("cp1252")
    table = read_table("x.csv", latin)
    assert table.rows[0] == ["2026-03-01", "10,50", "Café", "L-2026-000001"]
    assert "Windows-1252" in table.notes[0]


def test_a_binary_file_is_refused_whole(accountant: User) -> None:
    with pytest.raises(ValidationError, match="not text"):
        _import(accountant, b"\x00\x01\x02" * 100, name="x.csv")
    assert not PaymentImport.objects.exists()


def test_a_50_mb_file_is_refused_with_its_size(accountant: User) -> None:
    content = b"Date,Amount,Ref,Loan\n" + b"2026-03-01,10.00,x,L-2026-000001\n" * (
        50 * 1024 * 1024 // 33
    )
    with pytest.raises(ValidationError) as error:
        _import(accountant, content)
    assert "50.0 MB" in str(error.value) and f"{MAX_BYTES // 2**20} MB" in str(error.value)
    assert not PaymentImport.objects.exists()


# --- the dry run ---------------------------------------------------------------------------------


def test_dry_run_gives_each_row_a_verdict(
    accountant: User, admin_user: User, loans: list[Loan]
) -> None:
    a, b, c = loans
    loan_write_off(loan=c, user=admin_user, reason="gone")
    day = paid()
    content = _csv(
        [
            [day.isoformat(), "100.00", "R1", a.number],
            [day.strftime("%d/%m/%Y"), "1.234,50", "R2", b.number],
            [day.strftime("%d %b %Y"), "50", "R3", a.number],
            [day.isoformat(), "100.00", "R1", a.number],  # the first row again
            [day.isoformat(), "20.00", "R4", c.number],  # written off
            [day.isoformat(), "abc", "R5", a.number],
            ["31/02/2026", "10.00", "R6", a.number],
            [day.isoformat(), "10.00", "R7", "L-1999-000001"],
            [day.isoformat(), "=A2*2", "R8", a.number],
            [day.isoformat(), f"{b.outstanding:.2f}", "R9", b.number],  # beyond what is left
        ]
    )
    imp = _import(accountant, content)
    counts = payment_import_check(payment_import=imp, user=accountant, mapping=MAPPING)
    verdicts = _verdicts(imp)
    assert [v for v, _ in verdicts] == [
        V.READY, V.READY, V.READY, V.DUPLICATE, V.REFUSED, V.INVALID, V.INVALID, V.UNMATCHED,
        V.INVALID, V.REFUSED,
    ]  # fmt: skip
    assert "row 2" in verdicts[3][1]
    assert "written off" in verdicts[4][1]
    assert "Amount is not an amount (abc)" in verdicts[5][1]
    assert "not a date in the calendar" in verdicts[6][1]
    assert "No loan L-1999-000001" in verdicts[7][1]
    assert "formula" in verdicts[8][1]
    assert "Above what loan" in verdicts[9][1]
    assert counts[V.READY] == 3
    second = imp.rows.get(number=3)
    assert second.amount == Decimal("1234.50") and second.paid_on == day
    assert not Repayment.objects.exists()  # a dry run posts nothing
    assert ImportSource.objects.get(name="Equity statement").mapping == MAPPING


def test_a_loan_number_in_the_reference_or_a_phone_finds_the_loan(accountant: User) -> None:
    by_ref = ActiveLoanFactory(disbursed_days_ago=75)
    borrower = BorrowerFactory(phone="0712 345 678")  # stored in local format
    by_phone = ActiveLoanFactory(borrower=borrower, disbursed_days_ago=75)
    two = BorrowerFactory(phone="+254 733 000 111")
    ActiveLoanFactory(borrower=two, disbursed_days_ago=75)
    ActiveLoanFactory(borrower=two, disbursed_days_ago=75)
    day = paid().isoformat()
    content = _csv(
        [
            [day, "10", f"payment for {by_ref.number} thanks", ""],
            [day, "10", "MPESA QX1", "+254712345678"],
            [day, "10", "MPESA QX2", "0733000111"],
            [day, "10", "MPESA QX3", "0700000000"],
            [day, "10", "MPESA QX4", "12"],
        ],
        header=["Date", "Amount", "Ref", "Phone"],
    )
    imp = _import(accountant, content)
    with override_region("KE"):
        payment_import_check(
            payment_import=imp,
            user=accountant,
            mapping={"paid_on": "Date", "amount": "Amount", "reference": "Ref", "phone": "Phone"},
        )
    rows = list(imp.rows.order_by("number"))
    assert (rows[0].loan, rows[0].matched_by) == (by_ref, "reference")
    assert (rows[1].loan, rows[1].matched_by) == (by_phone, "phone")
    assert rows[2].verdict == V.UNMATCHED and "2 active loans" in rows[2].message
    assert rows[3].verdict == V.UNMATCHED and "No active loan for +254700000000" in rows[3].message
    assert rows[4].verdict == V.UNMATCHED and "not a valid number" in rows[4].message


def override_region(region: str) -> Any:
    from django.test import override_settings

    return override_settings(KARO_PHONE_REGION=region)


def test_a_mapping_without_amount_or_match_column_is_refused(
    accountant: User, loans: list[Loan]
) -> None:
    imp = _import(accountant, _csv([[paid().isoformat(), "10", "R", loans[0].number]]))
    with pytest.raises(ValidationError, match="amount"):
        payment_import_check(payment_import=imp, user=accountant, mapping={"paid_on": "Date"})
    with pytest.raises(ValidationError, match="match loans"):
        payment_import_check(
            payment_import=imp, user=accountant, mapping={"paid_on": "Date", "amount": "Amount"}
        )
    with pytest.raises(ValidationError, match="no column"):
        payment_import_check(
            payment_import=imp, user=accountant, mapping={**MAPPING, "phone": "Mobile"}
        )


def test_an_xlsx_with_formulas_gets_a_verdict_per_row(accountant: User, loans: list[Loan]) -> None:
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.append(["Date", "Amount", "Ref", "Loan"])
    sheet.append([paid(), 125.5, "X1", loans[0].number])
    sheet.append([paid(), "=B2*2", "X2", loans[1].number])
    sheet.append([paid().strftime("%d/%m/%Y"), 12.345, "X3", loans[2].number])
    out = io.BytesIO()
    book.save(out)
    imp = _import(accountant, out.getvalue(), name="statement.xlsx")
    payment_import_check(payment_import=imp, user=accountant, mapping=MAPPING)
    verdicts = _verdicts(imp)
    assert verdicts[0][0] == V.READY and imp.rows.get(number=2).amount == Decimal("125.50")
    assert verdicts[1] == (V.INVALID, "Amount is a formula (=B2*2), not a value.")
    assert verdicts[2][0] == V.INVALID and "more than two decimals" in verdicts[2][1]


# --- posting ---------------------------------------------------------------------------------


def _checked(user: User, loans: list[Loan]) -> PaymentImport:
    day = paid().isoformat()
    content = _csv([[day, "100.00", f"R{i}", loan.number] for i, loan in enumerate(loans)])
    imp = _import(user, content)
    payment_import_check(payment_import=imp, user=user, mapping=MAPPING)
    return imp


def test_commit_posts_each_ready_row_and_is_audited(accountant: User, loans: list[Loan]) -> None:
    imp = payment_import_commit(payment_import=_checked(accountant, loans), user=accountant)
    assert imp.status == PaymentImport.Status.DONE and imp.rows_done == 3
    assert [v for v, _ in _verdicts(imp)] == [V.POSTED] * 3
    payments = Repayment.objects.filter(loan__in=loans)
    assert payments.count() == 3
    assert {(p.amount, p.method, p.paid_on) for p in payments} == {
        (Decimal("100.00"), "bank_transfer", paid())
    }
    entry = AuditLog.objects.get(action=AuditLog.Action.PAYMENTS_IMPORTED)
    assert entry.details["posted"] == 3 and entry.details["posted_total"] == "300.00"
    with pytest.raises(StateConflict):
        payment_import_commit(payment_import=imp, user=accountant)


def test_the_same_file_imported_again_posts_nothing_new(
    accountant: User, admin_user: User, loans: list[Loan]
) -> None:
    payment_import_commit(payment_import=_checked(accountant, loans), user=accountant)
    again = payment_import_commit(payment_import=_checked(admin_user, loans), user=admin_user)
    assert [v for v, _ in _verdicts(again)] == [V.ALREADY] * 3
    assert Repayment.objects.filter(loan__in=loans).count() == 3


def test_the_dry_run_of_a_file_imported_again_names_the_import_that_posted_each_row(
    accountant_client: Client, accountant: User, admin_user: User, loans: list[Loan]
) -> None:
    first = _checked(accountant, loans)
    payment_import_commit(payment_import=first, user=accountant)
    again = _checked(admin_user, loans)
    verdicts = _verdicts(again)
    assert [v for v, _ in verdicts] == [V.ALREADY] * 3
    assert verdicts[0][1] == f"Already posted by import #{first.pk}, row 2."
    assert verdicts[2][1] == f"Already posted by import #{first.pk}, row 4."
    page = accountant_client.get(reverse("payment_import_detail", args=[again.pk]))
    assert b"No row is ready to post" in page.content
    assert b"Post 3 payments" not in page.content
    payment_import_commit(payment_import=again, user=admin_user)
    assert Repayment.objects.filter(loan__in=loans).count() == 3
    third = _checked(accountant, loans)  # still named after the import that posted them
    assert _verdicts(third)[1] == (V.ALREADY, f"Already posted by import #{first.pk}, row 3.")


def test_the_same_file_posted_with_another_method_is_refused_in_the_dry_run(
    accountant: User, loans: list[Loan]
) -> None:
    first = _checked(accountant, loans)
    payment_import_commit(payment_import=first, user=accountant)
    content = _csv([[paid().isoformat(), "100.00", f"R{i}", n.number] for i, n in enumerate(loans)])
    cash = payment_import_upload(
        user=accountant, source_name="Till", file_name="b.csv", content=content, method="cash"
    )
    payment_import_check(payment_import=cash, user=accountant, mapping=MAPPING)
    verdicts = _verdicts(cash)
    assert [v for v, _ in verdicts] == [V.REFUSED] * 3
    assert f"Import #{first.pk}, row 2 posted another payment" in verdicts[0][1]


def test_a_row_dated_in_closed_books_is_refused_in_the_dry_run(
    accountant_client: Client, accountant: User, admin_user: User, loans: list[Loan]
) -> None:
    closed = paid() - timedelta(days=20)
    BooksClosing.objects.create(through=closed, closed_by=admin_user)
    early = closed - timedelta(days=5)
    content = _csv(
        [
            [early.isoformat(), "100.00", "R0", loans[0].number],
            [paid().isoformat(), "100.00", "R1", loans[1].number],
            [paid().isoformat(), "100.00", "R2", loans[2].number],
        ]
    )
    imp = _import(accountant, content)
    payment_import_check(payment_import=imp, user=accountant, mapping=MAPPING)
    verdicts = _verdicts(imp)
    assert [v for v, _ in verdicts] == [V.REFUSED, V.READY, V.READY]
    assert verdicts[0][1].startswith(f"The books are closed through {closed:%d %b %Y}")
    page = accountant_client.get(reverse("payment_import_detail", args=[imp.pk]))
    assert b"Post 2 payments" in page.content
    payment_import_commit(payment_import=imp, user=accountant)
    assert [v for v, _ in _verdicts(imp)] == [V.REFUSED, V.POSTED, V.POSTED]
    assert not Repayment.objects.filter(loan=loans[0]).exists()


def test_a_row_dated_before_the_disbursement_is_refused_in_the_dry_run(
    accountant: User, loans: list[Loan]
) -> None:
    disbursed = loans[0].disbursement_date
    assert disbursed is not None
    content = _csv([[(disbursed - timedelta(days=1)).isoformat(), "10.00", "R", loans[0].number]])
    imp = _import(accountant, content)
    payment_import_check(payment_import=imp, user=accountant, mapping=MAPPING)
    [(verdict, message)] = _verdicts(imp)
    assert verdict == V.REFUSED and "before loan" in message and "was disbursed" in message


def test_imports_show_who_uploaded_them_by_full_name(
    accountant_client: Client, accountant: User, loans: list[Loan]
) -> None:
    imp = _checked(accountant, loans)
    name = accountant.get_full_name()
    assert name and name != accountant.username
    listing = accountant_client.get(reverse("payment_import_list")).content.decode()
    assert f"<td>{name}</td>" in listing
    detail = accountant_client.get(reverse("payment_import_detail", args=[imp.pk]))
    assert f"by {name} ·" in detail.content.decode()


def test_a_rerun_after_a_crash_posts_each_row_once(accountant: User, loans: list[Loan]) -> None:
    """A worker died after posting the first row, before recording its verdict: the commit
    sent again finds that row's repayment by its key."""
    imp = _checked(accountant, loans)
    PaymentImport.objects.filter(pk=imp.pk).update(
        status=PaymentImport.Status.COMMITTING, committed_by=accountant
    )
    from collecting import imports

    first = imp.rows.get(number=2)
    imports._post_batch(imp, [first], accountant)
    PaymentImportRow.objects.filter(pk=first.pk).update(verdict=V.READY, repayment=None)
    assert post_rows(import_id=imp.pk) == 3
    assert Repayment.objects.filter(loan__in=loans).count() == 3
    assert [v for v, _ in _verdicts(imp)] == [V.POSTED] * 3


def test_a_row_refused_at_posting_time_is_reported(
    accountant: User, admin_user: User, loans: list[Loan]
) -> None:
    imp = _checked(accountant, loans)
    loan_write_off(loan=loans[1], user=admin_user, reason="gone")
    payment_import_commit(payment_import=imp, user=accountant)
    verdicts = _verdicts(imp)
    assert [v for v, _ in verdicts] == [V.POSTED, V.REFUSED, V.POSTED]
    assert "written off" in verdicts[1][1]


# --- the pages --------------------------------------------------------------------------------


def test_upload_map_check_commit_and_download_the_report(
    accountant_client: Client, loans: list[Loan]
) -> None:
    day = paid().isoformat()
    content = _csv([[day, "75.00", "T1", loans[0].number], [day, "oops", "T2", loans[1].number]])
    response = accountant_client.post(
        reverse("payment_import_list"),
        {
            "source": "Bank A",
            "method": "bank_transfer",
            "file": SimpleUploadedFile("a.csv", content, content_type="text/csv"),
        },
    )
    imp = PaymentImport.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/imports/{imp.pk}/")
    page = accountant_client.get(reverse("payment_import_detail", args=[imp.pk]))
    assert page.status_code == 200 and b'id="mapping-form"' in page.content
    check = accountant_client.post(
        reverse("payment_import_detail", args=[imp.pk]),
        {"paid_on": "Date", "amount": "Amount", "reference": "Ref", "loan_number": "Loan"},
    )
    assert check.status_code == 302
    page = accountant_client.get(reverse("payment_import_detail", args=[imp.pk]))
    assert b"Post 1 payment" in page.content and b"Amount is not an amount (oops)" in page.content
    accountant_client.post(reverse("payment_import_commit", args=[imp.pk]))
    page = accountant_client.get(reverse("payment_import_detail", args=[imp.pk]))
    assert b"<progress" in page.content and b"2 of 2 rows decided" in page.content
    report = accountant_client.get(reverse("payment_import_report", args=[imp.pk]))
    lines = list(csv.reader(io.StringIO(report.content.decode())))
    assert lines[0][0] == "row" and lines[1][6] == "posted" and lines[1][8].startswith("RCT-")
    assert lines[2][6] == "invalid"
    assert AuditLog.objects.filter(
        action=AuditLog.Action.REPORT_EXPORTED, details__report="payment_import"
    ).exists()


def test_the_progress_bar_is_polled_while_posting(
    accountant_client: Client, accountant: User, loans: list[Loan]
) -> None:
    imp = _checked(accountant, loans)
    PaymentImport.objects.filter(pk=imp.pk).update(status=PaymentImport.Status.COMMITTING)
    response = accountant_client.get(
        reverse("payment_import_progress", args=[imp.pk]), HTTP_HX_REQUEST="true"
    )
    assert b'hx-trigger="every 1s"' in response.content
    assert b"<progress" in response.content and b"<html" not in response.content


def test_an_upload_without_a_file_or_too_big_says_so(accountant_client: Client) -> None:
    response = accountant_client.post(
        reverse("payment_import_list"), {"source": "Bank", "method": "cash"}
    )
    assert b"This field is required" in response.content
    big = SimpleUploadedFile("big.csv", b"x" * (MAX_BYTES + 1), content_type="text/csv")
    response = accountant_client.post(
        reverse("payment_import_list"), {"source": "Bank", "method": "cash", "file": big}
    )
    assert b"an import takes at most 10 MB" in response.content
    assert not PaymentImport.objects.exists()


def test_officer_cannot_import(officer_client: Client) -> None:
    response = officer_client.post(
        reverse("payment_import_list"),
        {"source": "B", "method": "cash", "file": SimpleUploadedFile("a.csv", b"a,b\n1,2\n")},
    )
    assert response.status_code == 403
    assert not PaymentImport.objects.exists()
