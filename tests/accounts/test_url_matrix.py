"""Every page is walked as anonymous (sent to login) and as each role (allowed or 403).

URLs are discovered from the URL conf, so a new page fails this test until its row is added
to MATRIX: nobody can add a page without saying who may use it. The JSON API and the Django
admin have their own matrix tests (tests/api, tests/accounts/test_audit_log.py).
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone

from collecting.imports import payment_import_upload
from ledger.models import Account
from lending.models import Holiday
from lending.services.loans import loan_approve
from lending.services.repayments import repayment_record
from origination.services import collateral_add, document_upload, guarantor_add
from tests.factories import (
    AccountantFactory,
    ActiveLoanFactory,
    LoanFactory,
    LoanProductFactory,
    OfficerFactory,
)
from tests.origination.helpers import upload, use_temporary_document_storage

pytestmark = pytest.mark.django_db

ADM, OFF, ACC = "admin", "officer", "accountant"
ALL = {ADM, OFF, ACC}
STAFF_MONEY = {ADM, ACC}

# url name -> (method, roles allowed). POST-only actions are posted with an empty form.
MATRIX: dict[str, tuple[str, set[str]]] = {
    "dashboard": ("get", ALL),
    "password_change": ("get", ALL),
    "password_change_done": ("get", ALL),
    "logout": ("post", ALL),
    "borrower_list": ("get", ALL),
    "borrower_search": ("get", ALL),
    "borrower_detail": ("get", ALL),
    "borrower_create": ("get", {ADM, OFF}),
    "borrower_update": ("get", {ADM, OFF}),
    "borrower_transfer": ("get", {ADM}),  # moving a borrower to another office
    "loan_list": ("get", ALL),
    "loan_detail": ("get", ALL),
    "loan_apply": ("get", {ADM, OFF}),
    "loan_approve": ("post", {ADM, OFF}),
    "loan_reject": ("post", {ADM, OFF}),
    "loan_withdraw": ("post", set()),  # only the officer who submitted it (tested elsewhere)
    "loan_write_off": ("get", {ADM}),  # its page; posting it is tested per role elsewhere
    "loan_write_off_undo": ("get", {ADM}),  # on an active loan: back to the loan page
    "loan_disburse": ("get", STAFF_MONEY),  # its page, on an approved loan
    "loan_approval_undo": ("get", {ADM}),  # its page, on an approved loan
    "loan_disbursement_undo": ("get", {ADM}),  # its page, on an active loan
    "loan_waive": ("get", {ADM}),  # Admin only (DESIGN's matrix: waive charges or interest)
    "recovery_create": ("get", STAFF_MONEY),  # on an active loan: back to the loan page
    "calculator": ("get", ALL),
    "loan_payoff": ("get", ALL),
    # Documents for the borrower: whoever can see a loan prints them (DESIGN's matrix).
    "loan_statement": ("get", ALL),
    "loan_statement_pdf": ("get", ALL),
    "loan_payoff_letter": ("get", ALL),
    "loan_payoff_letter_pdf": ("get", ALL),
    "loan_settle": ("post", STAFF_MONEY),
    "repayment_list": ("get", STAFF_MONEY),
    "repayment_export": ("get", STAFF_MONEY),
    "repayment_detail": ("get", STAFF_MONEY),
    "repayment_create": ("get", STAFF_MONEY),
    "repayment_reverse": ("get", STAFF_MONEY),
    "receipt_detail": ("get", STAFF_MONEY),
    "receipt_pdf": ("get", STAFF_MONEY),
    "reports": ("get", ALL),
    "report_aging": ("get", ALL),
    "report_disbursements": ("get", ALL),
    "report_officers": ("get", ALL),
    "report_collections": ("get", STAFF_MONEY),
    "ledger_trial_balance": ("get", STAFF_MONEY),
    "ledger_account": ("get", STAFF_MONEY),
    "ledger_journal": ("get", STAFF_MONEY),
    "ledger_close": ("get", {ADM}),
    "ledger_journal_new": ("get", {ADM}),
    "collection_sheet": ("get", ALL),
    "collection_sheet_pdf": ("get", ALL),
    "collection_sheet_submit": ("post", STAFF_MONEY),
    "payment_import_list": ("get", STAFF_MONEY),
    "payment_import_detail": ("get", STAFF_MONEY),
    "payment_import_progress": ("get", STAFF_MONEY),
    "payment_import_commit": ("post", STAFF_MONEY),
    "payment_import_report": ("get", STAFF_MONEY),
    # Reminders: every role follows up the loans it sees (collecting/views_reminders.py).
    "reminder_outbox": ("get", ALL),
    "day_close": ("get", {ADM}),
    "day_close_run": ("post", {ADM}),  # an empty form: refused beside its field, nothing run
    "document_upload": ("get", {ADM, OFF}),
    "document_download": ("get", ALL),
    "document_delete": ("post", {ADM, OFF}),
    "guarantor_add": ("get", {ADM, OFF}),
    "guarantor_remove": ("post", {ADM, OFF}),
    "collateral_add": ("get", {ADM, OFF}),
    "collateral_remove": ("post", {ADM, OFF}),
    "my_portfolio": ("get", {ADM, OFF}),
    "waiting_for_approval": ("get", {ADM, OFF}),
    "officers_reassign": ("get", {ADM}),
    # Working days and holidays (DESIGN's matrix: Admin only). Posts of empty forms are
    # refused beside their fields (422) or, for the rescheduling, with a message.
    "working_days": ("get", {ADM}),
    "working_days_weekdays": ("post", {ADM}),
    "holiday_add": ("post", {ADM}),
    "holiday_remove": ("post", {ADM}),
    "loans_reschedule": ("get", {ADM}),
}
PUBLIC = {"login"}


def discovered_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns: list[Any], namespaced: bool) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                walk(p.url_patterns, namespaced or bool(p.namespace))
            elif isinstance(p, URLPattern) and p.name and not namespaced:
                names.add(p.name)

    walk(get_resolver().url_patterns, False)
    return names


def test_every_page_is_in_the_matrix() -> None:
    assert discovered_names() - PUBLIC == set(MATRIX)


@pytest.fixture
def objects(settings: Any, tmp_path: Path) -> dict[str, Any]:
    submitter = OfficerFactory(username="submitter")
    payment_import = payment_import_upload(
        user=AccountantFactory(),
        source_name="Bank",
        file_name="bank.csv",
        content=b"date,amount,loan\n2026-01-05,10.00,L-2026-000001\n",
        method="bank_transfer",
    )
    pending = LoanFactory(submitted_by=submitter)
    two_step = LoanProductFactory(name="Two-step", disburse_on_approval=False)
    approved = loan_approve(
        loan=LoanFactory(submitted_by=submitter, product=two_step), user=OfficerFactory()
    )
    active = ActiveLoanFactory(submitted_by=submitter, disbursed_days_ago=40)
    repayment = repayment_record(
        loan=active,
        user=active.decided_by,
        amount=Decimal("100.00"),
        paid_on=timezone.localdate() - timedelta(days=1),
        method="cash",
    )
    use_temporary_document_storage(settings, tmp_path)
    document = document_upload(
        borrower=active.borrower, user=submitter, kind="id", file=upload("id.pdf")
    )
    guarantor = guarantor_add(
        loan=pending, user=submitter, borrower=active.borrower, amount=Decimal("100.00")
    )
    item = collateral_add(
        loan=pending, user=submitter, type="vehicle", description="KBZ 123A", value=Decimal("900")
    )
    return {
        "pending": pending, "active": active, "approved": approved, "repayment": repayment,
        "document": document,
        "guarantor": guarantor, "collateral": item,
        "payment_import": payment_import,
        "holiday": Holiday.objects.create(date=date(2030, 12, 25), name="Christmas"),
    }  # fmt: skip


def url_for(name: str, objects: dict[str, Any]) -> str:
    active, pending, repayment = objects["active"], objects["pending"], objects["repayment"]
    if name in {"document_download", "document_delete"}:
        return reverse(name, args=[objects["document"].borrower_id, objects["document"].pk])
    if name == "holiday_remove":
        return reverse(name, args=[objects["holiday"].pk])
    if name in {"guarantor_add", "collateral_add"}:
        return reverse(name, args=[pending.pk])
    if name == "guarantor_remove":
        return reverse(name, args=[pending.pk, objects["guarantor"].pk])
    if name == "collateral_remove":
        return reverse(name, args=[pending.pk, objects["collateral"].pk])
    if name == "document_upload":
        return reverse(name, args=[active.borrower_id])
    if name.startswith("borrower_") and name not in {
        "borrower_list",
        "borrower_search",
        "borrower_create",
    }:
        return reverse(name, args=[active.borrower_id])
    if name in {"loan_disburse", "loan_approval_undo"}:
        return reverse(name, args=[objects["approved"].pk])
    if name in {"loan_approve", "loan_reject", "loan_withdraw"}:
        return reverse(name, args=[pending.pk])
    if name in {
        "loan_detail",
        "loan_write_off",
        "loan_write_off_undo",
        "loan_disbursement_undo",
        "loan_waive",
        "recovery_create",
        "loan_payoff",
        "loan_settle",
        "repayment_create",
        "loan_statement",
        "loan_statement_pdf",
        "loan_payoff_letter",
        "loan_payoff_letter_pdf",
    }:
        return reverse(name, args=[active.pk])
    if name in {"repayment_detail", "repayment_reverse"}:
        return reverse(name, args=[repayment.pk])
    if name in {"receipt_detail", "receipt_pdf"}:
        return reverse(name, args=[repayment.receipt.number])
    if name.startswith("payment_import_") and name != "payment_import_list":
        return reverse(name, args=[objects["payment_import"].pk])
    if name == "ledger_account":
        return reverse(name, args=[Account.objects.filter(lines__isnull=False).first().code])
    return reverse(name)


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_anonymous_is_sent_to_login(client: Client, objects: dict[str, Any], name: str) -> None:
    method, _ = MATRIX[name]
    response = getattr(client, method)(url_for(name, objects))
    assert response.status_code == 302, name
    assert response["Location"].startswith(reverse("login")), name


@pytest.mark.parametrize("name", sorted(MATRIX))
def test_each_role_is_allowed_or_refused(
    role_client: tuple[str, Client], objects: dict[str, Any], name: str
) -> None:
    role, client = role_client
    method, allowed = MATRIX[name]
    response = getattr(client, method)(url_for(name, objects))
    if role in allowed:
        assert response.status_code in (200, 302), (name, role, response.status_code)
    else:
        assert response.status_code == 403, (name, role, response.status_code)
        assert b"You do not have access" in response.content


def test_login_page_is_public(client: Client) -> None:
    assert client.get(reverse("login")).status_code == 200
