"""The URL matrix again, across offices (DESIGN.md "Offices"): every record lives in the South
branch; each role of the North branch gets a 404 on every page that names one of them (never a
403, never the page), and every list, search, report and sheet it may open shows none of them.
The head office's staff (no office of their own) reach both branches.

Pages are the matrix's (tests/accounts/test_url_matrix.py), so a new page is covered here as
soon as it is added there.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from collecting.imports import payment_import_upload
from lending.services.loans import loan_approve
from lending.services.repayments import repayment_record
from origination.services import collateral_add, document_upload, guarantor_add
from tests.accounts.test_url_matrix import MATRIX, url_for
from tests.conftest import login
from tests.factories import ActiveLoanFactory, BorrowerFactory, LoanFactory, LoanProductFactory
from tests.offices import Branch, branch
from tests.origination.helpers import upload, use_temporary_document_storage

pytestmark = pytest.mark.django_db

SOUTH_NAME = "Southwell Borrowerson"
# Pages that name a record in their address: another office's is a 404.
NO_RECORD = {
    "dashboard", "password_change", "password_change_done", "logout", "borrower_list",
    "borrower_search", "borrower_create", "loan_list", "loan_apply", "calculator",
    "repayment_list", "repayment_export", "reports", "report_aging", "report_collections",
    "report_disbursements", "report_officers", "ledger_trial_balance", "ledger_account",
    "ledger_journal", "ledger_close", "ledger_journal_new", "collection_sheet",
    "collection_sheet_pdf", "collection_sheet_submit", "payment_import_list",
    "reminder_outbox", "day_close", "day_close_run",
    # The institution's calendar (the rescheduling moves the loans of the Admin's offices).
    "working_days", "working_days_weekdays", "holiday_add", "holiday_remove", "loans_reschedule",
    "my_portfolio", "waiting_for_approval", "officers_reassign",
}  # fmt: skip
RECORD_PAGES = sorted(set(MATRIX) - NO_RECORD)
# Lists, searches and reports read as HTML: none names the South branch's borrower or loans.
LISTS = {
    "dashboard": {},
    "borrower_list": {"q": "Southwell"},
    "borrower_search": {"q": "Southwell"},
    "loan_list": {},
    "repayment_list": {"q": "Southwell"},
    "repayment_export": {},
    "report_aging": {"format": "csv"},
    "report_collections": {"format": "csv"},
    "report_disbursements": {"format": "csv"},
    "report_officers": {"format": "csv"},
    "collection_sheet": {},
    "reminder_outbox": {},
    "payment_import_list": {},
    "my_portfolio": {},
    "waiting_for_approval": {},
    "officers_reassign": {"q": "Southwell"},
}


@pytest.fixture
def north(db: Any) -> Branch:
    return branch("North branch")


@pytest.fixture
def south(db: Any) -> Branch:
    return branch("South branch")


@pytest.fixture
def objects(settings: Any, tmp_path: Path, south: Branch) -> dict[str, Any]:
    """The records of the URL matrix, every one of them the South branch's."""
    borrower = BorrowerFactory(created_by=south.officer, full_name=SOUTH_NAME)
    payment_import = payment_import_upload(
        user=south.accountant,
        source_name="Bank",
        file_name="bank.csv",
        content=b"date,amount,loan\n2026-01-05,10.00,L-2026-000001\n",
        method="bank_transfer",
    )
    pending = LoanFactory(
        borrower=BorrowerFactory(created_by=south.officer), submitted_by=south.officer
    )
    active = ActiveLoanFactory(
        borrower=borrower, submitted_by=south.officer, approved_by=south.admin,
        disbursed_days_ago=40,
    )  # fmt: skip
    two_step = LoanProductFactory(name="Two-step", disburse_on_approval=False)
    approved = loan_approve(
        loan=LoanFactory(
            borrower=BorrowerFactory(created_by=south.officer),
            submitted_by=south.officer,
            product=two_step,
        ),
        user=south.admin,
    )
    repayment = repayment_record(
        loan=active,
        user=south.accountant,
        amount=Decimal("100.00"),
        paid_on=timezone.localdate() - timedelta(days=1),
        method="cash",
    )
    use_temporary_document_storage(settings, tmp_path)
    document = document_upload(
        borrower=borrower, user=south.officer, kind="id", file=upload("id.pdf")
    )
    guarantor = guarantor_add(
        loan=pending, user=south.officer, borrower=borrower, amount=Decimal("100.00")
    )
    item = collateral_add(
        loan=pending, user=south.officer, type="vehicle", description="KBZ 123A",
        value=Decimal("900"),
    )  # fmt: skip
    return {
        "pending": pending, "active": active, "approved": approved, "repayment": repayment,
        "document": document,
        "guarantor": guarantor, "collateral": item, "payment_import": payment_import,
    }  # fmt: skip


ROLES = ["admin", "officer", "accountant"]


def _client(branch: Branch, role: str) -> Client:
    # The officer is never the submitter (four eyes is not the point here).
    return login({"admin": branch.admin, "officer": branch.officer2}.get(role, branch.accountant))


def test_every_record_page_is_covered() -> None:
    assert set(RECORD_PAGES) | NO_RECORD == set(MATRIX)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", RECORD_PAGES)
def test_another_office_s_record_is_a_404_for_every_role(
    objects: dict[str, Any], north: Branch, name: str, role: str
) -> None:
    method, allowed = MATRIX[name]
    response = getattr(_client(north, role), method)(url_for(name, objects))
    if role in allowed:
        assert response.status_code == 404, (name, role, response.status_code)
    else:  # the role comes first: a page the role may not open is refused as before
        assert response.status_code in (403, 404), (name, role, response.status_code)


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("name", RECORD_PAGES)
def test_the_record_s_own_office_reaches_it(
    objects: dict[str, Any], south: Branch, name: str, role: str
) -> None:
    method, allowed = MATRIX[name]
    response = getattr(_client(south, role), method)(url_for(name, objects))
    if role in allowed:
        assert response.status_code in (200, 302), (name, role, response.status_code)
    else:
        assert response.status_code == 403, (name, role, response.status_code)


@pytest.mark.parametrize("name", sorted(LISTS))
def test_lists_reports_and_sheets_show_nothing_of_another_office(
    objects: dict[str, Any], north: Branch, south: Branch, name: str
) -> None:
    _, allowed = MATRIX[name]
    number = objects["active"].number
    pending = objects["pending"].number
    markers = [
        SOUTH_NAME.encode(),
        number.encode(),
        pending.encode(),
        *REPORT_MARKERS.get(name, []),
    ]
    for role in ROLES:
        if role not in allowed:
            continue
        response = _client(north, role).get(reverse(name), _params(name))
        assert response.status_code == 200, (name, role, response.status_code)
        body = _body(response)
        for marker in markers:
            assert marker not in body, (name, role, marker)
    # The South branch's own staff do see them (the check is not empty).
    body = _body(_client(south, "admin").get(reverse(name), _params(name)))
    # (My portfolio is the signed-in officer's own: the South Admin holds none of these.)
    if name not in {"reminder_outbox", "payment_import_list", "dashboard", "my_portfolio"}:
        assert any(marker in body for marker in markers), name


# What a report shows of the South branch's loans (it names no borrower).
REPORT_MARKERS = {
    "report_aging": [b"4950.00"],  # principal outstanding
    "report_collections": [b"100.00"],  # the repayment
    "report_disbursements": [b"5000.00"],
    "report_officers": [b"5000.00", b"south_officer"],
}


def _params(name: str) -> dict[str, str]:
    params = dict(LISTS[name])
    if name.startswith("report_"):
        today = timezone.localdate()
        params |= {"date_from": (today - timedelta(days=60)).isoformat(), "date_to": str(today)}
    return params


def _body(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def test_the_head_office_reaches_every_branch(
    objects: dict[str, Any], admin_client: Client
) -> None:
    assert admin_client.get(reverse("loan_detail", args=[objects["active"].pk])).status_code == 200
    page = admin_client.get(reverse("borrower_list"), {"q": "Southwell"})
    assert SOUTH_NAME.encode() in page.content
