"""Office scoping in the JSON API (DESIGN.md "Offices"): a user of the North branch reaches the
North branch's borrowers, loans, repayments, transactions, journal entries and figures only;
the South branch's records are a 404 on every route that names one, and absent from every
list. Records carry their office from registration to the journal, and moving a borrower to
another office moves its loans (audited) while what was booked keeps its office."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from accounts.head_office import HEAD_OFFICE_ID
from accounts.offices import office_create
from ledger.models import JournalEntry
from lending.models import AuditLog, Borrower, Loan, LoanTransaction
from lending.services.borrowers import borrower_transfer
from lending.services.repayments import repayment_record
from tests.api.conftest import ApiClient
from tests.api.test_permissions import ENDPOINTS, Endpoint, World, world  # noqa: F401  (fixture)
from tests.factories import ActiveLoanFactory, BorrowerFactory, LoanFactory
from tests.offices import Branch, branch

pytestmark = pytest.mark.django_db


@pytest.fixture
def north(db: Any) -> Branch:
    return branch("North branch")


@pytest.fixture
def south(db: Any) -> Branch:
    return branch("South branch")


def _active(b: Branch, name: str) -> Loan:
    borrower = BorrowerFactory(created_by=b.officer, full_name=name)
    loan = ActiveLoanFactory(
        borrower=borrower, submitted_by=b.officer, approved_by=b.admin, disbursed_days_ago=40
    )
    repayment_record(
        loan=loan,
        user=b.accountant,
        amount=Decimal("100.00"),
        paid_on=timezone.localdate() - timedelta(days=1),
        method="cash",
    )
    return loan


@pytest.fixture
def loans(north: Branch, south: Branch) -> dict[str, Loan]:
    return {"north": _active(north, "Nora North"), "south": _active(south, "Sam South")}


def _ids(response: Any) -> set[int]:
    assert response.status_code == 200, response.content
    return {item["id"] for item in response.json()["items"]}


def test_records_carry_the_office_of_whoever_registered_the_borrower(
    loans: dict[str, Loan], north: Branch
) -> None:
    loan = loans["north"]
    assert loan.borrower.office_id == north.office.pk
    assert loan.office_id == north.office.pk
    assert set(LoanTransaction.objects.filter(loan=loan).values_list("office_id", flat=True)) == {
        north.office.pk
    }
    offices = set(JournalEntry.objects.filter(loan_id=loan.pk).values_list("office_id", flat=True))
    assert offices == {north.office.pk}


def test_a_user_without_an_office_registers_in_the_head_office(officer: Any) -> None:
    assert BorrowerFactory(created_by=officer).office_id == HEAD_OFFICE_ID


def test_borrowers_and_loans_of_another_office_are_404_and_not_listed(
    api_as: Any, loans: dict[str, Loan], north: Branch
) -> None:
    api: ApiClient = api_as(north.officer2)
    mine, theirs = loans["north"], loans["south"]
    assert _ids(api.get("/api/borrowers")) == {mine.borrower_id}
    assert _ids(api.get("/api/loans")) == {mine.pk}
    assert api.get(f"/api/borrowers/{theirs.borrower_id}").status_code == 404
    assert api.call(
        "PATCH", f"/api/borrowers/{theirs.borrower_id}", {"notes": "x"}
    ).status_code in (404, 422)
    assert api.call("PATCH", f"/api/borrowers/{theirs.borrower_id}", {}).status_code == 404
    for path in ("", "/schedule", "/status", "/payoff"):
        assert api.get(f"/api/loans/{theirs.pk}{path}").status_code == 404, path
        assert api.get(f"/api/loans/{mine.pk}{path}").status_code == 200, path
    assert api.get(f"/api/loans/{theirs.pk}/transactions").status_code == 404
    assert api.get(f"/api/borrowers/{mine.borrower_id}").json()["office_id"] == north.office.pk


def test_an_application_for_another_office_s_borrower_is_refused(
    api_as: Any, loans: dict[str, Loan], north: Branch
) -> None:
    api = api_as(north.officer)
    body = {
        "borrower_id": loans["south"].borrower_id,
        "principal": "1000.00",
        "annual_interest_rate": "12",
        "installments": 6,
    }
    response = api.post("/api/loans", body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "borrower_id"


def test_decisions_on_another_office_s_application_are_404(
    api_as: Any, north: Branch, south: Branch
) -> None:
    pending = LoanFactory(
        borrower=BorrowerFactory(created_by=south.officer), submitted_by=south.officer
    )
    api = api_as(north.admin)
    assert api.post(f"/api/loans/{pending.pk}/approve").status_code == 404
    assert api.post(f"/api/loans/{pending.pk}/reject", {"reason": "No"}).status_code == 404
    pending.refresh_from_db()
    assert pending.status == Loan.Status.PENDING


def test_money_routes_of_another_office_are_404(
    api_as: Any, loans: dict[str, Loan], north: Branch
) -> None:
    api = api_as(north.accountant)
    theirs = loans["south"]
    paid = {"amount": "10.00"}
    assert api.post(f"/api/loans/{theirs.pk}/repayments", paid).status_code == 404
    assert api.get(f"/api/loans/{theirs.pk}/repayments").status_code == 404
    assert api.post(f"/api/loans/{theirs.pk}/settle", {}).status_code == 404
    repayment = theirs.repayments.get()
    reverse = api.post(f"/api/repayments/{repayment.pk}/reverse", {"reason": "Mistake"})
    assert reverse.status_code == 404
    assert theirs.repayments.filter(reversed_at__isnull=True).count() == 1


def test_the_collection_sheet_lists_and_posts_only_the_user_s_offices(
    api_as: Any, loans: dict[str, Loan], north: Branch
) -> None:
    api = api_as(north.accountant)
    on = (timezone.localdate() + timedelta(days=30)).isoformat()
    rows = api.get("/api/collection-sheet", {"date": on}).json()["rows"]
    assert {row["loan_id"] for row in rows} == {loans["north"].pk}
    body = {
        "date": timezone.localdate().isoformat(),
        "key": "sheet-1",
        "rows": [{"loan_id": loans["south"].pk, "amount": "5.00"}],
    }
    answer = api.post("/api/collection-sheet", body).json()
    assert answer["posted"] == 0 and answer["refused"] == 1


def test_the_collection_sheet_of_one_office_and_only_of_the_user_s(
    api_as: Any, admin_user: Any, loans: dict[str, Loan], north: Branch, south: Branch
) -> None:
    on = (timezone.localdate() + timedelta(days=30)).isoformat()
    head = api_as(admin_user)
    south_sheet = head.get("/api/collection-sheet", {"date": on, "office_id": south.office.pk})
    assert south_sheet.status_code == 200
    assert south_sheet.json()["office_id"] == south.office.pk
    assert {row["loan_id"] for row in south_sheet.json()["rows"]} == {loans["south"].pk}
    # Another office is not a sheet a branch user can draw: a 422 on the field.
    refused = api_as(north.accountant).get(
        "/api/collection-sheet", {"date": on, "office_id": south.office.pk}
    )
    assert refused.status_code == 422
    assert refused.json()["detail"][0]["field"] == "office_id"


def test_the_summary_and_the_ledger_count_the_user_s_offices_only(
    api_as: Any, admin_user: Any, loans: dict[str, Loan], north: Branch, south: Branch
) -> None:
    branch_summary = api_as(north.admin).get("/api/reports/summary").json()
    everyone = api_as(admin_user).get("/api/reports/summary").json()
    assert branch_summary["total_loans"] == 1
    assert everyone["total_loans"] == 2
    assert Decimal(everyone["outstanding"]) == 2 * Decimal(branch_summary["outstanding"])

    entries = api_as(north.accountant).get("/api/gl/entries", {"page_size": 100}).json()
    assert {e["loan_id"] for e in entries["items"]} == {loans["north"].pk}
    head = api_as(admin_user)
    whole = head.get("/api/gl/trial-balance").json()
    parts = [
        head.get("/api/gl/trial-balance", {"office_id": b.office.pk}).json() for b in (north, south)
    ]
    for part in parts:  # each office's books balance on their own
        assert Decimal(part["total_debit"]) == Decimal(part["total_credit"]) > 0
    by_code: dict[str, Decimal] = {}
    for part in parts:
        for row in part["accounts"]:
            net = Decimal(row["debit"]) - Decimal(row["credit"])
            by_code[row["code"]] = by_code.get(row["code"], Decimal(0)) + net
    whole_by_code = {
        r["code"]: Decimal(r["debit"]) - Decimal(r["credit"]) for r in whole["accounts"]
    }
    assert {c: v for c, v in by_code.items() if v} == {c: v for c, v in whole_by_code.items() if v}
    assert api_as(north.accountant).get("/api/gl/trial-balance").json() == parts[0]
    # A branch's trial balance is its own, whatever office it asks for outside its tree.
    refused = api_as(north.accountant).get("/api/gl/trial-balance", {"office_id": HEAD_OFFICE_ID})
    assert refused.status_code == 422


def test_moving_a_borrower_moves_its_loans_and_keeps_what_was_booked(
    admin_user: Any, loans: dict[str, Loan], north: Branch, south: Branch, api_as: Any
) -> None:
    loan = loans["south"]
    booked = set(LoanTransaction.objects.filter(loan=loan).values_list("pk", flat=True))
    borrower_transfer(
        borrower=loan.borrower, office_id=north.office.pk, user=admin_user, reason="Moved house"
    )
    loan.refresh_from_db()
    assert loan.office_id == north.office.pk
    assert loan.borrower.office_id == north.office.pk
    kept = LoanTransaction.objects.filter(pk__in=booked).values_list("office_id", flat=True)
    assert set(kept) == {south.office.pk}
    entry = AuditLog.objects.get(action=AuditLog.Action.BORROWER_TRANSFERRED)
    assert entry.details["from"] == "South branch" and entry.details["to"] == "North branch"
    assert entry.details["loans"] == [loan.number]
    # Now the North branch reaches it and the South branch does not.
    assert api_as(north.officer).get(f"/api/loans/{loan.pk}").status_code == 200
    assert api_as(south.officer).get(f"/api/loans/{loan.pk}").status_code == 404


def test_only_an_admin_moves_a_borrower_and_only_within_their_offices(
    loans: dict[str, Loan], north: Branch, south: Branch
) -> None:
    borrower = loans["north"].borrower
    with pytest.raises(PermissionDenied):
        borrower_transfer(borrower=borrower, office_id=south.office.pk, user=north.officer)
    with pytest.raises(ValidationError) as refused:
        borrower_transfer(borrower=borrower, office_id=south.office.pk, user=north.admin)
    assert "office" in refused.value.message_dict
    borrower.refresh_from_db()
    assert borrower.office_id == north.office.pk


# --- every route that names a record, as each role of another office ----------------------


@pytest.mark.parametrize("role", ["admin", "officer", "accountant"])
@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if "{" in e.path], ids=lambda e: e.name)
def test_every_route_naming_another_office_s_record_is_a_404(
    world: World,  # noqa: F811  (the permission matrix's fixture)
    admin_user: Any,
    api_as: Any,
    role: str,
    endpoint: Endpoint,
) -> None:
    """The permission matrix's records (tests/api/test_permissions.py), moved to the South
    branch, asked for by each role of the North branch: a 404 where the role may use the
    route (a 403 or 404 where it may not), and nothing written."""
    south = office_create(name="South branch", parent=None)
    borrower = Borrower.objects.get(pk=world.borrower_id)
    borrower_transfer(borrower=borrower, office_id=south.pk, user=admin_user)
    north = branch("North branch")
    user = {"admin": north.admin, "officer": north.officer, "accountant": north.accountant}[role]
    audit = AuditLog.objects.count()
    path = endpoint.path.format(**world.__dict__)
    body = endpoint.body(world) if endpoint.body else None
    response = api_as(user).call(endpoint.method.upper(), path, body)
    if role in endpoint.allowed:
        assert response.status_code == 404, (endpoint.name, role, response.content)
    else:
        assert response.status_code in (403, 404), (endpoint.name, role, response.status_code)
    assert AuditLog.objects.count() == audit


def test_the_transfer_page_moves_a_borrower_and_the_api_does_the_same(
    admin_user: Any, loans: dict[str, Loan], north: Branch, south: Branch, api_as: Any
) -> None:
    from django.urls import reverse

    from tests.conftest import login

    loan = loans["south"]
    client = login(admin_user)
    url = reverse("borrower_transfer", args=[loan.borrower_id])
    page = client.get(url)
    assert page.status_code == 200 and b"North branch" in page.content
    refused = client.post(url, {"office": north.office.pk, "reason": ""})
    assert refused.status_code == 200 and b"Give a reason for the move." in refused.content
    response = client.post(url, {"office": north.office.pk, "reason": "Moved house"})
    assert response.status_code == 302
    loan.refresh_from_db()
    assert loan.office_id == north.office.pk
    detail = client.get(reverse("borrower_detail", args=[loan.borrower_id]))
    assert b"North branch" in detail.content

    back = api_as(admin_user).post(
        f"/api/borrowers/{loan.borrower_id}/transfer",
        {"office_id": south.office.pk, "reason": "Moved back"},
    )
    assert back.status_code == 200 and back.json()["office_id"] == south.office.pk
    assert AuditLog.objects.filter(action=AuditLog.Action.BORROWER_TRANSFERRED).count() == 2
    # A branch Admin cannot move their borrower out of their tree, nor reach another's.
    branch_api = api_as(north.admin)
    assert (
        branch_api.post(
            f"/api/borrowers/{loans['north'].borrower_id}/transfer",
            {"office_id": south.office.pk, "reason": "x"},
        ).status_code
        == 422
    )
    assert login(north.admin).get(url).status_code == 404


def test_every_money_event_of_a_branch_loan_is_booked_in_its_branch(
    loans: dict[str, Loan], north: Branch
) -> None:
    """Repayment, reversal, write-off, recovery and the daily close: each transaction and each
    journal entry of a North branch loan is the North branch's."""
    from lending.services.close_day import day_close
    from lending.services.loans import loan_write_off
    from lending.services.recoveries import recovery_record
    from lending.services.repayments import repayment_reverse

    loan = loans["north"]
    today = timezone.localdate()
    repayment_reverse(repayment=loan.repayments.get(), user=north.accountant, reason="Bounced")
    day_close(on=today - timedelta(days=1))
    loan = loan_write_off(loan=Loan.objects.get(pk=loan.pk), user=north.admin, reason="Gone")
    recovery_record(loan=loan, user=north.accountant, amount="50.00", paid_on=today, method="cash")
    kinds = set(LoanTransaction.objects.filter(loan=loan).values_list("kind", flat=True))
    assert {"repayment", "write_off", "recovery"} <= kinds
    offices = set(LoanTransaction.objects.filter(loan=loan).values_list("office_id", flat=True))
    assert offices == {north.office.pk}
    entries = JournalEntry.objects.filter(loan_id=loan.pk).values_list("office_id", flat=True)
    assert set(entries) == {north.office.pk}
