"""The audit log is append-only, hash-chained and viewable read-only in the admin."""

from decimal import Decimal
from io import StringIO
from typing import Any

import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.db.utils import DatabaseError
from django.test import Client
from django.utils import timezone

from lending.audit import GENESIS_HASH, audit_record, verify_audit_log
from lending.models import AuditLog, Loan, Repayment
from lending.services.repayments import repayment_record
from tests.factories import ActiveLoanFactory, OfficerFactory

pytestmark = pytest.mark.django_db


def make_entries(n: int = 3) -> list[AuditLog]:
    user = OfficerFactory()
    return [
        audit_record(
            action=AuditLog.Action.BORROWER_CREATED, user=user, details={"i": i, "amount": "1.10"}
        )
        for i in range(n)
    ]


def test_entries_form_a_hash_chain() -> None:
    AuditLog.objects.all()  # the chain starts wherever the table is
    first, second, third = make_entries()
    assert second.prev_hash == first.hash
    assert third.prev_hash == second.hash
    assert len({first.hash, second.hash, third.hash}) == 3
    assert verify_audit_log().intact


def test_first_entry_starts_from_genesis() -> None:
    assert not AuditLog.objects.exists()
    (entry,) = make_entries(1)
    assert entry.prev_hash == GENESIS_HASH


def test_orm_refuses_update_and_delete() -> None:
    entry = make_entries(1)[0]
    entry.action = AuditLog.Action.LOGIN
    with pytest.raises(PermissionError):
        entry.save()
    with pytest.raises(PermissionError):
        entry.delete()
    with pytest.raises(PermissionError):
        AuditLog.objects.filter(pk=entry.pk).update(action="login")
    with pytest.raises(PermissionError):
        AuditLog.objects.all().delete()


def test_verify_audit_log_reports_a_row_changed_behind_its_back() -> None:
    entries = make_entries(4)
    out = StringIO()
    call_command("verify_audit_log", stdout=out)
    assert "intact" in out.getvalue()
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE lending_auditlog DISABLE TRIGGER lending_auditlog_no_update_delete"
            )
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE lending_auditlog SET details = %s WHERE id = %s", ['{"i": 99}', entries[2].pk]
        )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE lending_auditlog ENABLE TRIGGER lending_auditlog_no_update_delete"
            )
    err = StringIO()
    with pytest.raises(CommandError, match="tampered"):
        call_command("verify_audit_log", stdout=StringIO(), stderr=err)
    assert f"row {entries[2].pk}: its content does not match" in err.getvalue()


def test_postgres_trigger_rejects_update_and_delete() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL: the append-only trigger exists only there")
    entry = make_entries(1)[0]
    for sql in (
        "UPDATE lending_auditlog SET action = 'x' WHERE id = %s",
        "DELETE FROM lending_auditlog WHERE id = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(sql, [entry.pk])


def test_audit_entry_rolls_back_with_its_transaction() -> None:
    user = OfficerFactory()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(action=AuditLog.Action.BORROWER_CREATED, user=user)
        raise RuntimeError("the change failed")
    assert not AuditLog.objects.filter(action=AuditLog.Action.BORROWER_CREATED).exists()


def test_admin_audit_viewer_is_read_only(admin_client: Client, admin_user: Any) -> None:
    entry = make_entries(1)[0]
    changelist = admin_client.get("/admin/lending/auditlog/?action=borrower_created")
    assert changelist.status_code == 200
    assert (
        entry.object_repr.encode() in changelist.content
        or b"Borrower created" in changelist.content
    )
    search = admin_client.get(f"/admin/lending/auditlog/?q={entry.object_id}")
    assert search.status_code == 200
    detail = admin_client.get(f"/admin/lending/auditlog/{entry.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content
    assert admin_client.get("/admin/lending/auditlog/add/").status_code == 403
    assert (
        admin_client.post(
            f"/admin/lending/auditlog/{entry.pk}/delete/", {"post": "yes"}
        ).status_code
        == 403
    )
    assert AuditLog.objects.filter(pk=entry.pk).exists()


@pytest.mark.parametrize("role", ["officer", "accountant"])
def test_staff_without_admin_access_get_a_403_not_a_redirect_loop(
    role: str, request: pytest.FixtureRequest
) -> None:
    client = request.getfixturevalue(f"{role}_client")
    for path in ("/admin/", "/admin/lending/auditlog/"):
        response = client.get(path, follow=True)
        assert response.status_code == 403
        assert len(response.redirect_chain) == 1  # /admin/... -> /admin/login/ -> 403 page
        assert "Your role does not use the admin." in response.content.decode()


def test_anonymous_is_sent_to_the_site_login_for_the_admin(client: Client) -> None:
    response = client.get("/admin/lending/auditlog/", follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[-1][0].startswith("/accounts/login/?next=")


def test_admin_cannot_change_a_superuser(admin_client: Client) -> None:
    from django.contrib.auth.models import User

    root = User.objects.create_superuser("root", "root@example.org", "root-pass-123456")
    response = admin_client.post(
        f"/admin/auth/user/{root.pk}/password/",
        {"password1": "Taken-over-123", "password2": "Taken-over-123"},
    )
    assert response.status_code == 403
    root.refresh_from_db()
    assert root.check_password("root-pass-123456")


def test_password_change_in_admin_is_audited(admin_client: Client) -> None:
    user = OfficerFactory(username="clerk")
    response = admin_client.post(
        f"/admin/auth/user/{user.pk}/password/",
        {
            "password1": "New-long-pass-987",
            "password2": "New-long-pass-987",
            "usable_password": "true",
        },
    )
    assert response.status_code == 302
    entry = AuditLog.objects.get(action=AuditLog.Action.USER_CHANGED, object_id=str(user.pk))
    assert entry.details["changes"]["password"] == ["(hidden)", "(changed)"]


def test_roles_are_read_only_in_the_admin(admin_client: Client) -> None:
    from django.contrib.auth.models import Group

    group = Group.objects.get(name="Loan Officer")
    before = set(group.permissions.values_list("codename", flat=True))
    response = admin_client.post(f"/admin/auth/group/{group.pk}/change/", {"name": "Loan Officer"})
    assert response.status_code == 403
    assert set(group.permissions.values_list("codename", flat=True)) == before


def _paid_loan(accountant: Any, amount: str) -> tuple[Loan, Repayment]:
    """A six-installment loan with one payment of `amount` recorded today."""
    loan = ActiveLoanFactory(installments=6)
    repayment = repayment_record(
        loan=loan, user=accountant, amount=Decimal(amount),
        paid_on=timezone.localdate(), method="cash",
    )  # fmt: skip
    return loan, repayment


def test_audit_search_finds_payments_by_loan_and_receipt_number(
    admin_client: Client, accountant: Any
) -> None:
    loan, repayment = _paid_loan(accountant, "75.00")
    for term in (loan.number, repayment.receipt.number):
        page = admin_client.get("/admin/lending/auditlog/", {"q": term}).content.decode()
        assert "Repayment recorded" in page, term


def test_audit_entries_read_as_words(admin_client: Client, admin_user: Any) -> None:
    entry = make_entries(1)[0]
    assert str(entry).endswith(f"· {entry.get_action_display()} · {entry.username}")
    page = admin_client.get(f"/admin/lending/auditlog/{entry.pk}/change/").content.decode()
    assert entry.get_action_display() in page


def test_the_audit_viewer_writes_dates_day_first(admin_client: Client, admin_user: Any) -> None:
    entry = make_entries(1)[0]
    page = admin_client.get("/admin/lending/auditlog/").content.decode()
    created = timezone.localtime(entry.created_at)
    assert f"{created.day} {created:%b} {created.year}, {created:%H:%M}" in page  # 24-hour


def test_user_admin_lists_each_user_s_roles(admin_client: Client, accountant: Any) -> None:
    page = admin_client.get("/admin/auth/user/").content.decode()
    assert 'class="field-roles">Accountant</td>' in page


def test_an_audit_entry_shows_its_details_in_words_and_as_stored(
    admin_client: Client, accountant: Any
) -> None:
    loan, repayment = _paid_loan(accountant, "1075.00")
    entry = AuditLog.objects.get(action=AuditLog.Action.REPAYMENT_RECORDED)
    page = admin_client.get(f"/admin/lending/auditlog/{entry.pk}/change/").content.decode()
    currency = settings.KARO_CURRENCY
    assert "<dt>Amount</dt><dd>" + f"{currency} 1,075.00</dd>" in page
    assert f"<dt>Receipt</dt><dd>{repayment.receipt.number}</dd>" in page
    before, after = entry.details["before"]["outstanding"], entry.details["after"]["outstanding"]
    assert (
        f"<dt>Outstanding</dt><dd>{currency} {Decimal(before):,} → {currency} {Decimal(after):,}"
        in page
    )
    assert "<dt>Allocations</dt><dd>installment 1: " in page
    assert f"<dt>Paid on</dt><dd>{timezone.localdate():%d %b %Y}</dd>" in page  # day first
    assert "Details as stored (JSON)" in page and "&quot;amount&quot;: &quot;1075.00&quot;" in page
    assert "Record type" in page and "Object type" not in page
    assert f"{currency} 1,075.00 paid {timezone.localdate():%d %b %Y} on {loan.number}" in page
    assert "<dt>Method</dt><dd>Cash</dd>" in page


def test_the_audit_viewer_names_entries_without_a_user_as_the_system(
    admin_client: Client, admin_user: Any
) -> None:
    audit_record(action=AuditLog.Action.DAY_CLOSED, details={"on": "2026-11-21"})
    page = admin_client.get("/admin/lending/auditlog/").content.decode()
    assert "System (no user)" in page  # the user filter's empty choice and the column
    assert ">-<" not in page.split('id="changelist-filter"')[1].split("</nav>")[0]


@pytest.mark.parametrize(
    ("details", "line"),
    [
        ({"before": ["Loan Officer"], "after": ["Loan Officer", "Accountant"]},
         "<dt>Roles</dt><dd>Loan Officer → Loan Officer, Accountant</dd>"),
        ({"changes": ["odd"], "note": None}, "<dt>Changes</dt><dd>odd</dd>"),
        (["a", "list"], "<dt>Details</dt><dd>a, list</dd>"),
        ("text", "<dt>Details</dt><dd>text</dd>"),
        ({"before": {"status": "active"}, "after": None}, "<dt>Status</dt><dd>Active</dd>"),
    ],
)  # fmt: skip
def test_any_stored_details_read_in_words(
    admin_client: Client, admin_user: Any, details: Any, line: str
) -> None:
    entry = audit_record(action=AuditLog.Action.ROLES_CHANGED, user=admin_user, details=details)
    page = admin_client.get(f"/admin/lending/auditlog/{entry.pk}/change/")
    assert page.status_code == 200
    assert line in page.content.decode()


def test_audit_search_reads_the_values_of_the_details_not_their_keys(
    admin_client: Client, officer: Any
) -> None:
    from tests.factories import BorrowerFactory, LoanFactory

    LoanFactory(submitted_by=officer)  # its entry's terms have a "grace_periods" key
    BorrowerFactory(full_name="Grace Wanjiku", created_by=officer)
    found = admin_client.get("/admin/lending/auditlog/", {"q": "grace"}).context["cl"].result_list
    assert [entry.action for entry in found] == [AuditLog.Action.BORROWER_CREATED]
    # A value at any depth, any letter case; the action as shown; a LIKE wildcard is literal.
    page = admin_client.get("/admin/lending/auditlog/", {"q": "WANJIKU"})
    assert len(page.context["cl"].result_list) == 1
    submitted = admin_client.get("/admin/lending/auditlog/", {"q": "loan submitted"})
    assert {e.action for e in submitted.context["cl"].result_list} == {
        AuditLog.Action.LOAN_SUBMITTED
    }
    assert not admin_client.get("/admin/lending/auditlog/", {"q": "%"}).context["cl"].result_list


def test_the_audit_viewer_names_origination_actions_and_record_types_in_words(
    admin_client: Client, officer: Any
) -> None:
    from ledger.models import JournalEntry
    from origination.models import BorrowerDocument
    from origination.services import guarantor_add
    from tests.factories import BorrowerFactory, LoanFactory

    loan = LoanFactory(submitted_by=officer, principal=Decimal("500.00"))
    guarantor_add(loan=loan, user=officer, borrower=BorrowerFactory(), amount=Decimal("100"))
    document = BorrowerDocument(pk=7, borrower=loan.borrower, original_name="id.pdf")
    audit_record(action=AuditLog.Action.DOCUMENT_UPLOADED, user=officer, obj=document)
    audit_record(
        action=AuditLog.Action.JOURNAL_ENTRY,
        user=officer,
        obj=JournalEntry(pk=3, value_date=timezone.localdate(), memo="Accrual"),
    )
    page = admin_client.get("/admin/lending/auditlog/").content.decode()
    for words in ["Guarantor added", "Document uploaded", "Borrower document", "Journal entry"]:
        assert words in page, words
    assert "Borrowerdocument" not in page and "Journalentry" not in page
    for action in ["guarantor_added", "document_uploaded", "document_downloaded",
                   "document_deleted", "guarantor_removed", "collateral_added",
                   "collateral_removed"]:  # fmt: skip
        assert action in AuditLog.Action.values, action
    entry = AuditLog.objects.get(action="guarantor_added")
    assert entry.get_action_display() == "Guarantor added"
