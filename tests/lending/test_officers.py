"""Loan officers: who a borrower and a loan are assigned to, the Admin's reassignment (page,
API, audit, refusals with nothing written), My portfolio and Waiting for my approval."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from lending.models import AuditLog, Borrower, Loan
from lending.services.loans import loan_reject
from lending.services.officers import officers_reassign
from lending.services.repayments import repayment_record
from tests.conftest import login
from tests.factories import (
    AccountantFactory,
    ActiveLoanFactory,
    AdminFactory,
    BorrowerFactory,
    LoanFactory,
    OfficerFactory,
)

pytestmark = pytest.mark.django_db


def moves() -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=AuditLog.Action.OFFICERS_REASSIGNED))


def test_whoever_registers_and_submits_is_the_officer(officer: User, officer2: User) -> None:
    borrower = BorrowerFactory(created_by=officer)
    loan = LoanFactory(borrower=borrower, submitted_by=officer2)
    assert borrower.officer == officer
    assert loan.officer == officer2


def test_reassigning_moves_the_borrower_and_its_open_loans_only(
    admin_user: User, officer: User, officer2: User
) -> None:
    borrower = BorrowerFactory(created_by=officer)
    active = ActiveLoanFactory(borrower=borrower, submitted_by=officer, disbursed_days_ago=30)
    pending = LoanFactory(borrower=borrower, submitted_by=officer)
    rejected = LoanFactory(borrower=borrower, submitted_by=officer)
    loan_reject(loan=rejected, user=officer2, reason="Income too low.")
    closed = ActiveLoanFactory(borrower=borrower, submitted_by=officer, principal=Decimal("100"))
    repayment_record(
        loan=closed,
        user=AccountantFactory(),
        amount=closed.outstanding,
        paid_on=timezone.localdate(),
        method="cash",
    )
    closed.refresh_from_db()
    assert closed.status == Loan.Status.CLOSED

    done = officers_reassign(user=admin_user, officer=officer2, borrower_ids=[borrower.pk])

    assert (done.borrowers, done.loans) == (1, 2)
    officers = dict(Loan.objects.values_list("pk", "officer_id"))
    assert officers == {
        active.pk: officer2.pk,
        pending.pk: officer2.pk,
        rejected.pk: officer.pk,  # the past stays with who had it
        closed.pk: officer.pk,
    }
    borrower.refresh_from_db()
    assert borrower.officer == officer2
    [entry] = moves()
    assert entry.object_id == str(borrower.pk)
    assert entry.user == admin_user
    assert entry.details["officer"] == [officer.username, officer2.username]
    assert sorted(entry.details["loans"]) == sorted([active.number, pending.number])


def test_a_borrower_already_with_the_officer_is_left_alone(admin_user: User, officer: User) -> None:
    borrower = BorrowerFactory(created_by=officer)
    done = officers_reassign(user=admin_user, officer=officer, borrower_ids=[borrower.pk])
    assert (done.borrowers, done.loans) == (0, 0)
    assert moves() == []


@pytest.mark.parametrize(
    ("case", "field"),
    [
        ("nobody", "borrowers"),
        ("unknown", "borrowers"),
        ("accountant", "officer"),
        ("none", "officer"),
    ],
)
def test_bad_reassignments_are_refused_with_nothing_written(
    admin_user: User, officer: User, officer2: User, case: str, field: str
) -> None:
    borrower = BorrowerFactory(created_by=officer)
    LoanFactory(borrower=borrower, submitted_by=officer)
    target: User | None = officer2
    ids = [borrower.pk]
    if case == "nobody":
        ids = []
    elif case == "unknown":
        ids = [borrower.pk, borrower.pk + 1000]
    elif case == "accountant":
        target = AccountantFactory()
    elif case == "none":
        target = None
    with pytest.raises(ValidationError) as exc:
        officers_reassign(user=admin_user, officer=target, borrower_ids=ids)
    assert set(exc.value.message_dict) == {field}
    assert set(Loan.objects.values_list("officer_id", flat=True)) == {officer.pk}
    assert Borrower.objects.get().officer_id == officer.pk
    assert moves() == []


def test_an_inactive_officer_cannot_be_given_a_portfolio(admin_user: User, officer: User) -> None:
    gone = OfficerFactory(is_active=False)
    borrower = BorrowerFactory(created_by=officer)
    with pytest.raises(ValidationError, match="cannot hold a portfolio"):
        officers_reassign(user=admin_user, officer=gone, borrower_ids=[borrower.pk])


@pytest.mark.parametrize("role", ["officer", "accountant"])
def test_only_an_admin_reassigns(role: str, officer2: User) -> None:
    user = OfficerFactory() if role == "officer" else AccountantFactory()
    borrower = BorrowerFactory(created_by=officer2)
    with pytest.raises(PermissionDenied):
        officers_reassign(user=user, officer=user, borrower_ids=[borrower.pk])
    assert Borrower.objects.get().officer == officer2


# --- the reassignment page --------------------------------------------------------------


def test_the_page_lists_an_officers_borrowers_and_moves_the_ticked_ones(
    admin_client: Client, officer: User, officer2: User
) -> None:
    mine = [BorrowerFactory(created_by=officer, full_name=f"Ama {i}") for i in range(3)]
    theirs = BorrowerFactory(created_by=officer2, full_name="Kofi Boateng")
    ActiveLoanFactory(borrower=mine[0], submitted_by=officer, disbursed_days_ago=10)
    url = reverse("officers_reassign") + f"?officer={officer.pk}"

    page = admin_client.get(url)
    assert page.status_code == 200
    text = page.content.decode()
    assert all(b.full_name in text for b in mine) and theirs.full_name not in text

    answer = admin_client.post(url, {"officer": officer2.pk, "borrowers": [mine[0].pk, mine[1].pk]})
    assert answer.status_code == 302
    followed = admin_client.get(answer["Location"]).content.decode()
    assert "2 borrowers and 1 open loan moved to" in followed
    assert set(Borrower.objects.filter(officer=officer2).values_list("pk", flat=True)) == {
        mine[0].pk,
        mine[1].pk,
        theirs.pk,
    }


def test_the_page_moves_everyone_the_filter_lists(
    admin_client: Client, officer: User, officer2: User
) -> None:
    for i in range(30):  # more than a page
        BorrowerFactory(created_by=officer, full_name=f"Borrower {i:02d}")
    BorrowerFactory(created_by=officer2)
    url = reverse("officers_reassign") + f"?officer={officer.pk}"
    answer = admin_client.post(url, {"officer": officer2.pk, "everyone": "on"})
    assert answer.status_code == 302
    assert Borrower.objects.filter(officer=officer2).count() == 31
    assert len(moves()) == 30


def test_the_page_says_what_is_missing_and_moves_nothing(
    admin_client: Client, officer: User, officer2: User
) -> None:
    borrower = BorrowerFactory(created_by=officer)
    url = reverse("officers_reassign")
    no_one = admin_client.post(url, {"officer": officer2.pk})
    assert no_one.status_code == 200
    assert "Choose at least one borrower." in no_one.content.decode()
    no_officer = admin_client.post(url, {"borrowers": [borrower.pk]})
    assert "Choose the loan officer to give the borrowers to." in no_officer.content.decode()
    bad_id = admin_client.post(url, {"officer": officer2.pk, "borrowers": ["x"]})
    assert bad_id.status_code == 200
    assert Borrower.objects.get().officer == officer
    assert moves() == []


def test_the_page_lists_in_a_fixed_number_of_queries(
    admin_client: Client, officer: User, django_assert_max_num_queries: Any
) -> None:
    for _ in range(2):
        ActiveLoanFactory(borrower=BorrowerFactory(created_by=officer), submitted_by=officer)
    url = reverse("officers_reassign")
    admin_client.get(url)
    with django_assert_max_num_queries(12) as few:
        admin_client.get(url)
    for _ in range(10):
        ActiveLoanFactory(borrower=BorrowerFactory(created_by=officer), submitted_by=officer)
    with django_assert_max_num_queries(len(few.captured_queries)):
        admin_client.get(url)


# --- My portfolio, Waiting for my approval --------------------------------------------------


def test_my_portfolio_lists_my_loans_the_latest_first(officer: User, officer2: User) -> None:
    late = ActiveLoanFactory(submitted_by=officer, disbursed_days_ago=75)
    Loan.objects.filter(pk=late.pk).update(days_past_due=45)
    on_time = ActiveLoanFactory(submitted_by=officer, disbursed_days_ago=5)
    pending = LoanFactory(submitted_by=officer)
    someone_elses = ActiveLoanFactory(submitted_by=officer2)
    page = login(officer).get(reverse("my_portfolio"))
    assert page.status_code == 200
    text = page.content.decode()
    order = [text.index(loan.number) for loan in (late, on_time, pending)]
    assert order == sorted(order)
    assert someone_elses.number not in text
    assert "3 loans to follow up" in text


def test_my_portfolio_runs_a_fixed_number_of_queries(
    officer: User, django_assert_max_num_queries: Any
) -> None:
    client = login(officer)
    ActiveLoanFactory(submitted_by=officer)
    client.get(reverse("my_portfolio"))
    with django_assert_max_num_queries(12) as few:
        client.get(reverse("my_portfolio"))
    for _ in range(8):
        ActiveLoanFactory(submitted_by=officer)
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(reverse("my_portfolio"))


def test_waiting_for_my_approval_leaves_out_my_own(officer: User, officer2: User) -> None:
    mine = LoanFactory(submitted_by=officer)
    theirs_old = LoanFactory(submitted_by=officer2)
    theirs_new = LoanFactory(submitted_by=officer2)
    decided = ActiveLoanFactory(submitted_by=officer2)
    text = login(officer).get(reverse("waiting_for_approval")).content.decode()
    assert mine.number not in text and decided.number not in text
    assert text.index(theirs_old.number) < text.index(theirs_new.number)
    assert "2 applications waiting" in text


def test_the_loan_list_filters_by_the_assigned_officer(
    admin_user: User, admin_client: Client, officer: User, officer2: User
) -> None:
    moved = ActiveLoanFactory(submitted_by=officer)
    stays = ActiveLoanFactory(submitted_by=officer)
    officers_reassign(user=admin_user, officer=officer2, borrower_ids=[moved.borrower_id])
    text = admin_client.get(reverse("loan_list") + f"?officer={officer2.pk}").content.decode()
    assert moved.number in text and stays.number not in text


def test_the_officers_report_counts_each_loan_for_its_assigned_officer(
    admin_user: User, admin_client: Client, officer: User, officer2: User
) -> None:
    moved = ActiveLoanFactory(submitted_by=officer)
    ActiveLoanFactory(submitted_by=officer)
    officers_reassign(user=admin_user, officer=officer2, borrower_ids=[moved.borrower_id])
    from reporting.selectors import officers_report

    today = timezone.localdate()
    report = officers_report(date_from=today, date_to=today)
    assert {row.username: row.active_loans for row in report.rows} == {
        officer.username: 1,
        officer2.username: 1,
    }


def test_an_admin_is_an_eligible_officer(officer: User) -> None:
    admin = AdminFactory()
    borrower = BorrowerFactory(created_by=officer)
    done = officers_reassign(user=admin, officer=admin, borrower_ids=[borrower.pk])
    assert done.borrowers == 1


# --- offices -------------------------------------------------------------------------------


def test_an_admin_reassigns_only_borrowers_of_their_offices() -> None:
    from tests.offices import branch

    north, south = branch("North branch"), branch("South branch")
    theirs = BorrowerFactory(created_by=south.officer)
    with pytest.raises(ValidationError, match="does not exist"):
        officers_reassign(user=north.admin, officer=north.officer, borrower_ids=[theirs.pk])
    # Nor may a North officer be given a South borrower, even by the head office.
    with pytest.raises(ValidationError, match="works in another office"):
        officers_reassign(user=AdminFactory(), officer=north.officer, borrower_ids=[theirs.pk])
    done = officers_reassign(user=south.admin, officer=south.officer2, borrower_ids=[theirs.pk])
    assert done.borrowers == 1
    assert len(moves()) == 1


def test_a_branch_admin_chooses_among_the_branch_s_officers() -> None:
    from tests.offices import branch

    north, south = branch("North branch"), branch("South branch")
    theirs = BorrowerFactory(created_by=south.officer)
    with pytest.raises(ValidationError, match="cannot hold a portfolio"):
        officers_reassign(user=south.admin, officer=north.officer, borrower_ids=[theirs.pk])
    page = login(south.admin).get(reverse("officers_reassign")).content.decode()
    assert "south_officer2" in page or south.officer2.get_full_name() in page
    assert north.officer.get_username() not in page
