"""The `make run` demo (`seed_demo`, lending/demo.py): a branch's history told in date order
through the services, under the demo's clock (lending/demo_clock.py).

Dates are relative to `timezone.localdate()` (the suite also runs under fixed clocks).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command
from django.db.models import F, Max, Min
from django.utils import timezone

from accounts.models import Office
from accounts.offices import scope
from ledger.models import JournalEntry
from lending.demo_clock import history_clock
from lending.models import (
    AuditLog,
    Borrower,
    DayClose,
    Installment,
    Loan,
    LoanTransaction,
    Repayment,
)
from lending.services import transactions as books

pytestmark = pytest.mark.django_db

BORROWERS, LOANS = 8, 30


def local(moment: datetime) -> datetime:
    return timezone.localtime(moment)


def test_demo_is_a_dated_history_with_penalties_that_verifies_and_runs_once(
    capsys: Any,
) -> None:
    before = timezone.localdate()
    call_command("seed_demo", "--force", "--borrowers", str(BORROWERS), "--loans", str(LOANS))
    out = capsys.readouterr().out
    today = timezone.localdate()  # the seed's today, or the next day if midnight passed
    now = timezone.now()

    borrowers = {b.pk: b for b in Borrower.objects.all()}
    loans = list(Loan.objects.select_related("product").order_by("pk"))
    assert len(borrowers) == BORROWERS and len(loans) == LOANS
    statuses = {loan.status for loan in loans}
    assert statuses >= {"active", "closed", "pending", "rejected", "withdrawn", "written_off"}

    # Registered <= submitted <= decided (= disbursed) <= payments <= today, in the past.
    for loan in loans:
        borrower = borrowers[loan.borrower_id]
        assert borrower.created_at <= loan.submitted_at <= now, loan.number
        assert loan.number.startswith(f"L-{local(loan.submitted_at).year}-")
        if loan.status == "pending":
            assert loan.decided_at is None
            continue
        if loan.status != "withdrawn":
            assert loan.submitted_at < loan.decided_at <= now, loan.number
            assert loan.decided_by_id != loan.submitted_by_id  # four eyes, always
        if loan.disbursement_date is not None:
            assert loan.disbursement_date == local(loan.decided_at).date() <= today
            assert loan.schedule.count() == loan.installments
    for repayment in Repayment.objects.select_related("loan"):
        disbursed = repayment.loan.disbursement_date
        assert disbursed is not None
        assert disbursed <= repayment.paid_on <= today, repayment.pk
        assert local(repayment.recorded_at).date() == repayment.paid_on  # recorded that day
        assert repayment.loan.decided_at <= repayment.recorded_at <= now

    # Spread over the past ten months, not all on one day.
    disbursed_on = [loan.disbursement_date for loan in loans if loan.disbursement_date]
    assert min(disbursed_on) <= today - timedelta(days=150)
    assert min(disbursed_on) >= before - timedelta(days=320)
    assert len({local(b.created_at).date() for b in borrowers.values()}) > BORROWERS // 2
    assert len({local(loan.submitted_at).date() for loan in loans}) > LOANS // 2

    # The audit log was written in time order, and says what the rows say.
    stamps = list(AuditLog.objects.order_by("id").values_list("created_at", flat=True))
    assert stamps == sorted(stamps) and stamps[-1] <= now
    submitted = dict(
        AuditLog.objects.filter(action=AuditLog.Action.LOAN_SUBMITTED).values_list(
            "object_id", "created_at"
        )
    )
    assert {str(loan.pk): loan.submitted_at for loan in loans} == submitted
    for loan in loans:
        actions = list(
            AuditLog.objects.filter(object_type="loan", object_id=str(loan.pk))
            .order_by("id")
            .values_list("action", flat=True)
        )
        first_decision = {
            "pending": None,
            "rejected": AuditLog.Action.LOAN_REJECTED,
            "withdrawn": AuditLog.Action.LOAN_WITHDRAWN,
        }.get(loan.status, AuditLog.Action.LOAN_APPROVED)
        assert actions[0] == AuditLog.Action.LOAN_SUBMITTED
        assert actions[1:2] == ([first_decision] if first_decision else [])

    # The daily close ran for every day from the first disbursement through yesterday.
    closed = DayClose.objects.aggregate(first=Min("on"), last=Max("on"))
    assert closed["first"] == min(disbursed_on)
    assert before - timedelta(days=1) <= closed["last"] <= today - timedelta(days=1)
    assert DayClose.objects.count() == (closed["last"] - closed["first"]).days + 1

    # Overdue installments carry their product's late penalty, charged on its own day.
    last_closed = closed["last"]
    penalised = 0
    for loan in loans:
        rule = books.penalty_rule(loan)
        if loan.status != "active" or rule is None:
            continue
        for inst in loan.schedule.exclude(status=Installment.Status.PAID):
            late = books.row_of(inst).remaining.total > rule.tolerance
            if late and rule.days(inst.due_date)[0] <= last_closed:
                assert inst.penalties_charged >= 1 and inst.penalties > 0, (loan.number, inst)
                penalised += 1
    assert penalised > 0
    charges = LoanTransaction.objects.filter(kind="charge", reversed_at=None)
    assert charges.exists()
    for charge in charges.select_related("loan"):
        assert charge.value_date <= last_closed
        assert local(charge.booked_at).date() == charge.value_date  # by that day's close
    assert Loan.objects.filter(status="active", days_past_due__gt=90).exists()

    call_command("verify_audit_log")
    call_command("check_money")

    # Two branches, the borrowers banking with them in turn, their loans, transactions and
    # journal entries in their office; each branch's staff see their own half.
    north, south = (Office.objects.get(name=f"{side} branch") for side in ("North", "South"))
    by_office = {b.office_id for b in borrowers.values()}
    assert by_office == {north.pk, south.pk}
    assert all(loan.office_id == borrowers[loan.borrower_id].office_id for loan in loans)
    assert not LoanTransaction.objects.exclude(office_id=F("loan__office_id")).exists()
    assert not JournalEntry.objects.filter(loan_id__isnull=False, office_id=1).exists()
    north_officer = User.objects.get(username="north_officer")
    assert north_officer.office_link.office == north
    seen = set(scope(Borrower.objects.all(), north_officer).values_list("office_id", flat=True))
    assert seen == {north.pk}
    assert "south_accountant" in out and "South branch" in out

    # The summary: statuses, then how many loans are on custom terms (not a status).
    custom = Loan.objects.filter(product=None).count()
    assert custom > 0
    assert f"Demo data: {LOANS} loans by status: " in out
    status_line = next(line for line in out.splitlines() if "loans by status" in line)
    assert "custom" not in status_line
    assert f"of these {LOANS} loans, {custom} are on custom terms" in out
    assert "daily close run for each of the" in out

    capsys.readouterr()
    call_command("seed_demo", "--force")
    assert "nothing added" in capsys.readouterr().out
    assert Loan.objects.count() == LOANS and Borrower.objects.count() == BORROWERS


def test_history_clock_stamps_the_services_and_is_put_back(officer: Any) -> None:
    from tests.factories import BorrowerFactory

    real_now = timezone.now
    created_at = Borrower._meta.get_field("created_at")
    day = timezone.localdate() - timedelta(days=100)
    moment = datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_current_timezone())
    moment += timedelta(hours=10)
    with history_clock() as clock:
        clock.set(moment)
        assert timezone.now() == moment and timezone.localdate() == day
        assert BorrowerFactory(created_by=officer).created_at == moment
        clock.set(moment - timedelta(days=1))  # never back
        assert timezone.now() == moment
        clock.set(real_now() + timedelta(days=3))  # never ahead of the real time
        assert timezone.now() <= real_now()
    assert timezone.now is real_now
    assert abs(created_at.get_default() - real_now()) < timedelta(minutes=1)
    with pytest.raises(RuntimeError), history_clock() as clock:
        clock.set(moment)
        raise RuntimeError("a step failed")
    assert timezone.now is real_now
    assert abs(created_at.get_default() - real_now()) < timedelta(minutes=1)
