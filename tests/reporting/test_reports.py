"""Reports against hand-worked fixtures; their CSV parses back to the same numbers; exports
are audited; bad filters never fail; query counts stay fixed."""

from __future__ import annotations

import csv
import io
import re
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from lending.models import AuditLog, Loan, Repayment
from lending.services.loans import loan_reject, loan_write_off
from reporting.selectors import aging_report, collections_report, officers_report
from tests.factories import AdminFactory, LoanFactory, OfficerFactory
from tests.reporting.helpers import D, days_ago, pay, reload, today, weekly_loan
from tests.reporting.helpers import reverse as reverse_payment

pytestmark = pytest.mark.django_db

# Includes the office and officer filter's two choice lists, read on every report page; a
# filter, and PAR by office on the aging report, add no query (tests/reporting/test_filters.py).
REPORT_MAX_QUERIES = 14


def parse_csv(response: Any) -> list[list[str]]:
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"].startswith('attachment; filename="')
    raw = response.content
    assert raw.startswith("\ufeff".encode()), "UTF-8 with a BOM, so Excel reads it as UTF-8"
    assert b"\r\n" in raw
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def exports() -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=AuditLog.Action.REPORT_EXPORTED))


# --- portfolio aging -----------------------------------------------------------------------


def aging_portfolio() -> dict[str, Loan]:
    """Nothing paid unless said; weekly, 10 installments; #1 due 7 days after disbursement.

    current: 1000, disbursed 5 days ago (nothing due yet);
    1-30:    2000, disbursed 17 days ago, #1 (200) paid: #2 due 3 days ago -> 3 days, 1800 left;
    31-60:   3000, disbursed 52 days ago -> 45 days;
    61-90:   4000, disbursed 82 days ago -> 75 days;
    90+:     5000 at 12 %, disbursed 107 days ago -> 100 days (outstanding includes interest).
    Principal outstanding 14800: shares 6.76, 12.16, 20.27, 27.03, 33.78 %.
    """
    loans = {
        "current": weekly_loan(principal="1000.00", n=10, disbursed_days_ago=5),
        "1-30": weekly_loan(principal="2000.00", n=10, disbursed_days_ago=17),
        "31-60": weekly_loan(principal="3000.00", n=10, disbursed_days_ago=52),
        "61-90": weekly_loan(principal="4000.00", n=10, disbursed_days_ago=82),
        "90+": weekly_loan(
            principal="5000.00", n=10, disbursed_days_ago=107, annual_interest_rate=D("12")
        ),
    }
    pay(loans["1-30"], "200.00")
    # Not active: never aged.
    LoanFactory(principal=D("900.00"))
    closed = weekly_loan(principal="300.00", n=3, disbursed_days_ago=40)
    pay(closed, "300.00")
    return {k: reload(v) for k, v in loans.items()}


def test_aging_buckets_loans_principal_and_share() -> None:
    loans = aging_portfolio()
    report = aging_report()
    rows = {r.key: r for r in report.rows}
    assert [r.key for r in report.rows] == ["current", "1-30", "31-60", "61-90", "90+"]
    assert {k: r.loans for k, r in rows.items()} == {k: 1 for k in rows}
    assert {k: r.principal_outstanding for k, r in rows.items()} == {
        "current": D("1000.00"),
        "1-30": D("1800.00"),
        "31-60": D("3000.00"),
        "61-90": D("4000.00"),
        "90+": D("5000.00"),
    }
    assert {k: r.share for k, r in rows.items()} == {
        "current": D("6.76"),
        "1-30": D("12.16"),
        "31-60": D("20.27"),
        "61-90": D("27.03"),
        "90+": D("33.78"),
    }
    # Every installment of the 90+ loan is due, so all its interest is outstanding.
    assert rows["90+"].outstanding.total == loans["90+"].outstanding > D("5000.00")
    assert rows["90+"].outstanding.interest == loans["90+"].outstanding - D("5000.00")
    assert report.total.loans == 5
    assert report.total.principal_outstanding == D("14800.00")
    assert report.total.outstanding.total == sum(
        (loan.outstanding for loan in loans.values()), D(0)
    )
    assert report.at_risk.loans == 4
    assert report.at_risk.principal_outstanding == D("13800.00")


@pytest.mark.parametrize(
    ("days_late", "bucket"),
    [
        (0, "current"),
        (1, "1-30"),
        (30, "1-30"),
        (31, "31-60"),
        (60, "31-60"),
        (61, "61-90"),
        (90, "61-90"),
        (91, "90+"),
    ],
)
def test_aging_bucket_boundaries(days_late: int, bucket: str) -> None:
    loan = weekly_loan(n=30, disbursed_days_ago=0)  # #1 due in 7 days
    as_of = today() + timedelta(days=7 + days_late)
    report = aging_report(today=as_of)
    assert [r.key for r in report.rows if r.loans] == [bucket]
    assert report.total.principal_outstanding == loan.principal


def test_aging_filter_by_disbursement_date() -> None:
    aging_portfolio()
    report = aging_report(disbursed_from=days_ago(60), disbursed_to=days_ago(10))
    assert [r.key for r in report.rows if r.loans] == ["1-30", "31-60"]


def test_aging_page_and_csv_agree(accountant_client: Client, accountant: Any) -> None:
    aging_portfolio()
    url = reverse("report_aging")
    page = accountant_client.get(url)
    assert page.status_code == 200
    assert "USD 14,800.00" in page.content.decode()
    rows = parse_csv(accountant_client.get(url, {"format": "csv"}))
    assert rows[0] == [
        "Days past due",
        "Loans",
        "Principal outstanding",
        "Interest due",
        "Fees due",
        "Penalties due",
        "Total outstanding",
        "Interest and fees not yet due",
        "Share of principal %",
        "PAR (principal more than N days past due) %",
    ]
    body = {r[0]: r for r in rows[1:]}
    report = aging_report()
    for row in [*report.rows, report.at_risk, report.total]:
        o = row.outstanding
        assert int(body[row.label][1]) == row.loans
        assert [Decimal(v) for v in body[row.label][2:8]] == [
            o.principal,
            o.interest,
            o.fees,
            o.penalties,
            o.total,
            o.not_yet_due,
        ]
        assert Decimal(body[row.label][8]) == row.share
        assert body[row.label][9] == ("" if row.par is None else str(row.par))
    assert body["31\N{EN DASH}60 days"][9] == str(report.par30_percent)  # PAR30
    assert body["90+ days"][2] == "5000.00"  # plain decimal: no currency, no separators
    entry = exports()[0]
    assert entry.user == accountant
    assert entry.details["report"] == "aging"
    assert entry.details["rows"] == 7


# --- collections ---------------------------------------------------------------------------


def collections_fixture() -> Loan:
    loan = weekly_loan(principal="2400.00", n=12, disbursed_days_ago=30)
    pay(loan, "70.00", on=days_ago(10))  # before the range
    pay(loan, "100.00", on=days_ago(3), method=Repayment.Method.CASH)
    pay(loan, "50.00", on=days_ago(3), method=Repayment.Method.MOBILE_MONEY)
    pay(loan, "200.00", on=days_ago(1), method=Repayment.Method.BANK_TRANSFER)
    pay(loan, "25.50", on=days_ago(1), method=Repayment.Method.CASH)
    mistake = pay(loan, "30.00", on=days_ago(2), method=Repayment.Method.CHEQUE)
    reverse_payment(mistake)
    return loan


def test_collections_by_day_and_method_with_totals() -> None:
    collections_fixture()
    report = collections_report(date_from=days_ago(4), date_to=today())
    assert [d.day for d in report.days] == [days_ago(n) for n in range(4, -1, -1)]
    assert [d.total for d in report.days] == [
        D("0.00"),
        D("150.00"),
        D("0.00"),  # the cheque was reversed
        D("225.50"),
        D("0.00"),
    ]
    assert [d.count for d in report.days] == [0, 2, 0, 2, 0]
    assert report.days[1].by_method == {
        "cash": D("100.00"),
        "bank_transfer": D("0.00"),
        "mobile_money": D("50.00"),
        "cheque": D("0.00"),
    }
    assert {m.method: (m.count, m.amount) for m in report.by_method} == {
        "cash": (2, D("125.50")),
        "bank_transfer": (1, D("200.00")),
        "mobile_money": (1, D("50.00")),
        "cheque": (0, D("0.00")),
    }
    assert (report.count, report.total) == (4, D("375.50"))
    assert report.components == {
        "principal": D("375.50"),
        "interest": D("0.00"),
        "fees": D("0.00"),
        "penalties": D("0.00"),
    }


def test_collections_csv_parses_back_to_the_same_numbers(admin_client: Client) -> None:
    collections_fixture()
    params = {"date_from": days_ago(4).isoformat(), "date_to": today().isoformat()}
    page = admin_client.get(reverse("report_collections"), params)
    assert page.status_code == 200
    assert "USD 375.50" in page.content.decode()
    response = admin_client.get(reverse("report_collections"), {**params, "format": "csv"})
    assert f"collections-{days_ago(4)}-to-{today()}.csv" in response["Content-Disposition"]
    rows = parse_csv(response)
    assert rows[0] == [
        "Date",
        "Repayments",
        "Cash",
        "Bank transfer",
        "Mobile money",
        "Cheque",
        "Total",
    ]
    days, total = rows[1:-1], rows[-1]
    assert [r[0] for r in days] == [days_ago(n).isoformat() for n in range(4, -1, -1)]
    assert days[1] == [days_ago(3).isoformat(), "2", "100.00", "0.00", "50.00", "0.00", "150.00"]
    assert total == ["Total", "4", "125.50", "200.00", "50.00", "0.00", "375.50"]
    # Columns and rows add up, as a spreadsheet would check.
    assert sum(Decimal(r[6]) for r in days) == Decimal(total[6])
    for col in range(2, 6):
        assert sum(Decimal(r[col]) for r in days) == Decimal(total[col])
    entry = exports()[0]
    assert entry.details == {
        "report": "collections",
        "format": "csv",
        "params": {"date_from": params["date_from"], "date_to": params["date_to"]},
        "rows": 6,
    }


def test_collections_default_range_is_this_month(accountant_client: Client) -> None:
    response = accountant_client.get(reverse("report_collections"))
    assert response.status_code == 200
    report = response.context["report"]
    assert (report.date_from, report.date_to) == (today().replace(day=1), today())


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"date_from": "yesterday", "date_to": "2026-01-01"}, "Enter the date as dd/mm/yyyy"),
        ({"date_from": "2026-02-10", "date_to": "2026-02-01"}, "The end date is before the start"),
        ({"date_from": "2024-01-01", "date_to": "2025-12-31"}, "at most 366 days"),
        ({"date_from": "2026-01-01"}, "Enter an end date."),
    ],
)
def test_bad_filter_shows_the_error_and_exports_nothing(
    accountant_client: Client, params: dict[str, str], message: str
) -> None:
    for fmt in ({}, {"format": "csv"}):
        response = accountant_client.get(reverse("report_collections"), {**params, **fmt})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/html")
        assert message in response.content.decode()
        assert response.context["report"] is None
    assert exports() == []


# --- disbursements -------------------------------------------------------------------------


def disbursement_fixture() -> dict[str, Loan]:
    approver = AdminFactory()
    loans = {
        "recent": weekly_loan(
            principal="1000.00", n=10, disbursed_days_ago=2, approved_by=approver
        ),
        "old": weekly_loan(principal="2000.00", n=10, disbursed_days_ago=40, approved_by=approver),
        "written_off": weekly_loan(
            principal="1500.00",
            n=10,
            disbursed_days_ago=5,
            approved_by=approver,
            borrower__full_name="=HYPERLINK(1)",
        ),
        "closed": weekly_loan(principal="500.00", n=5, disbursed_days_ago=10, approved_by=approver),
    }
    loan_write_off(loan=loans["written_off"], user=approver, reason="Gone")
    pay(loans["closed"], "500.00")
    LoanFactory(principal=D("800.00"))  # pending: never disbursed
    return loans


def test_disbursements_page_and_csv(officer_client: Client) -> None:
    loans = disbursement_fixture()
    params = {"date_from": days_ago(30).isoformat(), "date_to": today().isoformat()}
    page = officer_client.get(reverse("report_disbursements"), params)
    assert page.status_code == 200
    totals = page.context["totals"]
    assert (totals.count, totals.principal, totals.total_repayable) == (
        3,
        D("3000.00"),
        D("3000.00"),
    )
    html = page.content.decode()
    assert loans["recent"].number in html and loans["old"].number not in html
    rows = parse_csv(
        officer_client.get(reverse("report_disbursements"), {**params, "format": "csv"})
    )
    header, body = rows[0], rows[1:]
    assert header[:2] == ["Loan", "Disbursed on"]
    by_number = {r[0]: dict(zip(header, r, strict=True)) for r in body}
    assert set(by_number) == {loans[k].number for k in ("recent", "written_off", "closed")}
    assert sum(Decimal(r["Principal"]) for r in by_number.values()) == totals.principal
    wo = by_number[loans["written_off"].number]
    assert wo["Status"] == "Written off"
    assert wo["Borrower"] == "'=HYPERLINK(1)"  # a formula is neutralised, not run
    assert wo["Disbursed on"] == days_ago(5).isoformat()
    # Rates with two decimals like the page ("18.00", not the stored "18.0000"); amounts too.
    assert wo["Annual rate %"] == format(loans["written_off"].annual_interest_rate, ".2f")
    assert all(re.fullmatch(r"\d+\.\d\d", r["Annual rate %"]) for r in by_number.values())
    assert all(re.fullmatch(r"\d+\.\d\d", r["Outstanding"]) for r in by_number.values())
    assert wo["Frequency"] in {"Monthly", "Bi-weekly", "Weekly"}


def test_disbursements_default_range_with_nothing_disbursed_says_so(officer_client: Client) -> None:
    weekly_loan(disbursed_days_ago=400)  # long before any default range
    page = officer_client.get(reverse("report_disbursements"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Nothing was disbursed in this range" in html
    assert page.context["totals"].count == 0
    assert f"{settings.KARO_CURRENCY} 0.00" in html  # the totals, zero
    assert "Download CSV" in html
    rows = parse_csv(officer_client.get(reverse("report_disbursements"), {"format": "csv"}))
    assert rows[0][:2] == ["Loan", "Disbursed on"] and rows[1:] == []


def test_disbursements_name_custom_terms_like_every_other_page(officer_client: Client) -> None:
    loan = weekly_loan(disbursed_days_ago=0, product=None)
    assert loan.product is None
    html = officer_client.get(
        reverse("report_disbursements"),
        {"date_from": today().isoformat(), "date_to": today().isoformat()},
    ).content.decode()
    row = html[html.index(loan.number) :].split("</tr>")[0]
    assert "<td>Custom terms</td>" in row and "—" not in row


def test_disbursements_page_query_count_is_fixed(
    admin_client: Client, django_assert_max_num_queries: Any
) -> None:
    url = reverse("report_disbursements")
    # The range is asked for: the default (1st of this month to today) holds only the loans
    # disbursed today on the 1st, and none of these 0-19 days ago from the 1st to the 19th.
    params = {"date_from": days_ago(30).isoformat(), "date_to": today().isoformat()}
    admin_client.get(url, params)
    disbursement_fixture()
    admin_client.get(url, params)  # the filter's officer choices, kept until a loan changes
    with CaptureQueriesContext(connection) as few:
        admin_client.get(url, params)
    for days in range(0, 20):
        weekly_loan(disbursed_days_ago=days)
    with django_assert_max_num_queries(REPORT_MAX_QUERIES):
        response = admin_client.get(url, params)
    assert len(response.context["page_obj"].object_list) >= 20
    with CaptureQueriesContext(connection) as many:
        admin_client.get(url, params)
    assert len(few) == len(many)


# --- loans by officer ----------------------------------------------------------------------


def test_loans_by_officer() -> None:
    ann = OfficerFactory(username="ann", first_name="Ann", last_name="Banda")
    bob = OfficerFactory(username="bob", first_name="Bob", last_name="Chola")
    admin = AdminFactory()
    LoanFactory(principal=D("700.00"), submitted_by=ann)  # pending
    loan_reject(loan=LoanFactory(principal=D("800.00"), submitted_by=ann), user=admin, reason="No")
    late = weekly_loan(principal="1200.00", disbursed_days_ago=60, submitted_by=ann)  # 53 days
    fresh = weekly_loan(principal="600.00", n=6, disbursed_days_ago=3, submitted_by=bob)
    old = weekly_loan(principal="999.00", n=3, disbursed_days_ago=3, submitted_by=bob)
    Loan.objects.filter(pk=old.pk).update(submitted_at=old.submitted_at - timedelta(days=400))

    report = officers_report(date_from=today().replace(day=1), date_to=today())
    rows = {r.username: r for r in report.rows}
    assert [r.username for r in report.rows] == ["ann", "bob"]
    a, b = rows["ann"], rows["bob"]
    assert (a.name, a.applications, a.approved, a.rejected, a.pending) == ("Ann Banda", 3, 1, 1, 1)
    assert (a.principal_disbursed, a.active_loans, a.outstanding) == (
        D("1200.00"),
        1,
        late.outstanding,
    )
    assert (a.overdue_loans, a.par30, a.par30_percent) == (1, D("1200.00"), D("100.00"))
    assert (b.applications, b.principal_disbursed, b.outstanding) == (
        1,
        D("600.00"),
        fresh.outstanding,
    )
    assert (b.overdue_loans, b.par30) == (0, D("0.00"))
    assert report.total.applications == 4
    assert report.total.principal_disbursed == D("1800.00")


def test_loans_by_officer_csv(admin_client: Client) -> None:
    ann = OfficerFactory(username="ann", first_name="Ann", last_name="Banda")
    weekly_loan(principal="1200.00", disbursed_days_ago=60, submitted_by=ann)
    rows = parse_csv(admin_client.get(reverse("report_officers"), {"format": "csv"}))
    assert rows[0][:3] == ["Officer", "Username", "Applications"]
    assert rows[1][:3] == ["Ann Banda", "ann", "1"]
    assert rows[0][8:17] == [
        "Principal outstanding",
        "Interest due",
        "Fees due",
        "Penalties due",
        "Total outstanding",
        "Interest and fees not yet due",
        "Overdue loans",
        "PAR30 (principal)",
        "PAR30 %",
    ]
    assert rows[1][6] == "1200.00"  # principal disbursed
    assert rows[1][8] == rows[1][12] == "1200.00"  # interest-free: all of it principal
    assert rows[1][15] == "1200.00" and rows[1][16] == "100.00"
    assert rows[-1][0] == "All officers"
    assert exports()[0].details["report"] == "officers"


# --- every report page renders with data and stays within its query budget ----------------


@pytest.mark.parametrize(
    "name",
    ["reports", "report_aging", "report_collections", "report_disbursements", "report_officers"],
)
def test_report_pages_render_within_budget(
    admin_client: Client, name: str, django_assert_max_num_queries: Any
) -> None:
    aging_portfolio()
    collections_fixture()
    admin_client.get(reverse(name))
    with django_assert_max_num_queries(REPORT_MAX_QUERIES):
        response = admin_client.get(reverse(name))
    assert response.status_code == 200


def test_a_date_far_in_the_future_is_a_form_error_not_a_500(admin_client: Any) -> None:
    response = admin_client.get("/reports/officers/?date_from=2026-01-01&date_to=9999-12-31")
    assert response.status_code == 200
    assert b"Choose a date before" in response.content
