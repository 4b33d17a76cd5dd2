"""The bulk demo seeder (lending/demo_bulk.py) and `manage.py check_money`.

Small sizes on whatever database the suite runs on; timings belong to `make bench`, not here.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db.models import F, Sum
from django.utils import timezone

from accounts.offices import office_create, user_office_set
from accounts.roles import LOAN_OFFICER
from ledger.models import JournalEntry, JournalLine
from lending import allocation
from lending.demo_bulk import seed_bulk_portfolio
from lending.models import (
    Allocation,
    AuditLog,
    Borrower,
    Installment,
    Loan,
    LoanTransaction,
    NumberSequence,
    Receipt,
    Repayment,
)
from lending.receivers import portfolio_generation
from lending.schedule import build_schedule
from lending.services.loans import terms_for
from lending.services.repayments import repayment_record, repayment_reverse
from lending.services.transactions import replay_differences
from tests.factories import BorrowerFactory, UserFactory

pytestmark = pytest.mark.django_db

LOANS = 160


@pytest.fixture
def portfolio(officer: Any, officer2: Any, accountant: Any) -> Any:
    return seed_bulk_portfolio(borrowers=40, loans=LOANS)


def test_bulk_portfolio_passes_check_money(portfolio: Any, capsys: Any) -> None:
    call_command("check_money")
    call_command("check_money", "--sample", "25", "--seed", "3")
    call_command("verify_audit_log")
    # The bulk history writes no audit rows (the chain stays intact, see above).
    assert not AuditLog.objects.filter(object_type__in=["loan", "repayment"]).exists()
    assert Loan.objects.count() == LOANS == portfolio.loans
    assert Installment.objects.count() == portfolio.installments
    assert Receipt.objects.count() == Repayment.objects.count() == portfolio.repayments


def test_bulk_portfolio_has_every_status_history_and_overdue_loans(portfolio: Any) -> None:
    statuses = set(Loan.objects.values_list("status", flat=True))
    # Its products disburse on approval: no loan waits approved for its money.
    assert statuses == set(Loan.Status.values) - {Loan.Status.APPROVED}
    active = Loan.objects.filter(status=Loan.Status.ACTIVE)
    assert active.filter(days_past_due__gt=30).exists()
    assert active.filter(total_paid__gt=0).exists()
    assert Repayment.objects.filter(reversed_at__isnull=False).exists()
    assert Repayment.objects.filter(is_settlement=True).exists()
    assert Loan.objects.filter(total_waived__gt=0, status=Loan.Status.CLOSED).exists()
    terms = set(Loan.objects.values_list("installments", flat=True))
    assert min(terms) <= 4 and max(terms) >= 36
    assert len(set(Loan.objects.values_list("product_id", flat=True))) >= 5


def test_every_seeded_loan_is_the_replay_of_its_transactions(portfolio: Any) -> None:
    """The one definition of a loan's state: a fresh replay of its transactions gives the
    stored installments, splits, totals and `incremental_from`, on every loan."""
    loans = list(Loan.objects.order_by("pk"))
    assert len(loans) == LOANS
    problems = [p for loan in loans for p in replay_differences(loan)]
    assert problems == []
    disbursed = [loan for loan in loans if loan.disbursement_date is not None]
    assert all(loan.incremental_from is not None for loan in disbursed)
    assert all(loan.incremental_from is None for loan in loans if loan not in disbursed)


def test_the_ledger_of_the_seeded_portfolio(portfolio: Any) -> None:
    kinds = set(LoanTransaction.objects.values_list("kind", flat=True))
    assert {"disbursement", "repayment", "waiver", "write_off"} <= kinds
    assert portfolio.transactions == LoanTransaction.objects.count()
    assert portfolio.journal_entries == JournalEntry.objects.count()
    assert portfolio.journal_lines == JournalLine.objects.count()
    # One disbursement per disbursed loan; one repayment transaction per repayment, reversed
    # with it; a write-off (at the end of its day) per written-off loan.
    disbursed = Loan.objects.exclude(disbursement_date=None)
    assert LoanTransaction.objects.filter(kind="disbursement").count() == disbursed.count()
    reversed_payments = Repayment.objects.exclude(reversed_at=None)
    assert reversed_payments.exists()
    for repayment in reversed_payments:
        txn = LoanTransaction.objects.get(repayment=repayment, kind="repayment")
        assert txn.reversed_at == repayment.reversed_at
        assert txn.reversal_reason == repayment.reversal_reason
        sources = set(
            JournalEntry.objects.filter(transaction_id=txn.pk).values_list("source", flat=True)
        )
        assert sources == {"loan_transaction", "reversal"}
    written_off = Loan.objects.filter(status=Loan.Status.WRITTEN_OFF)
    write_offs = LoanTransaction.objects.filter(kind="write_off", end_of_day=True)
    assert write_offs.count() == written_off.count() > 0
    # Every money-moving transaction has its balanced entry; waivers book nothing (cash basis).
    booked = set(
        JournalEntry.objects.filter(source="loan_transaction").values_list(
            "transaction_id", flat=True
        )
    )
    moving = LoanTransaction.objects.filter(kind__in=["disbursement", "repayment"])
    assert set(moving.values_list("pk", flat=True)) <= booked
    assert not booked & set(
        LoanTransaction.objects.filter(kind="waiver").values_list("pk", flat=True)
    )
    per_entry = JournalLine.objects.values("entry_id").annotate(d=Sum("debit"), c=Sum("credit"))
    assert all(row["d"] == row["c"] > 0 for row in per_entry)


def test_schedules_are_the_engines(portfolio: Any) -> None:
    for loan in Loan.objects.filter(disbursement_date__isnull=False)[:40]:
        assert loan.disbursement_date is not None
        expected = build_schedule(terms_for(loan, loan.disbursement_date)).installments
        stored = list(loan.schedule.order_by("number"))
        assert [(r.number, r.due_date, r.principal, r.interest) for r in expected] == [
            (i.number, i.due_date, i.principal, i.interest) for i in stored
        ]


def test_allocations_replay_through_the_allocation_rule(portfolio: Any) -> None:
    """Replaying each loan's payments through `allocation.allocate` gives the stored rows."""
    loans = Loan.objects.filter(total_paid__gt=0, total_waived=0).order_by("pk")[:40]
    assert loans
    for loan in loans:
        owed = {
            i.pk: allocation.InstallmentDue(
                id=i.pk, number=i.number, due_date=i.due_date,
                interest=i.interest, principal=i.principal,
            )
            for i in loan.schedule.all()
        }  # fmt: skip
        for repayment in loan.repayments.order_by("pk"):
            unpaid = [row for row in owed.values() if row.total > 0]
            expected = allocation.allocate(
                unpaid, repayment.amount, on=repayment.paid_on, order=loan.prepayment_order
            )
            stored = [
                (a.installment_id, a.penalties, a.fees, a.interest, a.principal)
                for a in Allocation.objects.filter(
                    transaction__repayment=repayment, transaction__kind="repayment"
                ).order_by("installment__number")
            ]
            assert stored == [
                (x.installment_id, x.penalties, x.fees, x.interest, x.principal) for x in expected
            ]
            if not repayment.is_reversed:
                for line in expected:
                    owed[line.installment_id] = allocation.apply(owed[line.installment_id], line)


def test_services_continue_the_numbers_gaplessly(portfolio: Any, accountant: Any) -> None:
    year = timezone.localdate().year
    counter = NumberSequence.objects.get(key=f"receipt:{year}").last_value
    loan = Loan.objects.filter(status=Loan.Status.ACTIVE, outstanding__gt=10).first()
    assert loan is not None
    repayment = repayment_record(
        loan=loan,
        user=accountant,
        amount=Decimal("5.00"),
        paid_on=timezone.localdate(),
        method="cash",
    )
    assert repayment.receipt.number == f"RCT-{year}-{counter + 1:06d}"
    highest = max(int(n[2:]) for n in Borrower.objects.values_list("number", flat=True))
    assert BorrowerFactory().number == f"B-{highest + 1:06d}"
    call_command("check_money")


def test_a_seeded_settlement_can_be_reversed(portfolio: Any, accountant: Any) -> None:
    settlement = Repayment.objects.filter(is_settlement=True).select_related("loan").first()
    assert settlement is not None
    waived = Allocation.objects.filter(
        transaction__repayment=settlement, transaction__kind="waiver"
    ).aggregate(w=Sum("interest"))
    assert waived["w"] == settlement.loan.total_waived > 0
    repayment_reverse(repayment=settlement, user=accountant, reason="Test of a seeded settlement")
    loan = Loan.objects.get(pk=settlement.loan_id)
    assert loan.status == Loan.Status.ACTIVE
    assert loan.total_waived == 0
    assert replay_differences(loan) == []
    call_command("check_money")
    call_command("verify_audit_log")


def test_check_money_reports_a_wrong_total(portfolio: Any, capsys: Any) -> None:
    loan = Loan.objects.filter(status=Loan.Status.ACTIVE, total_paid__gt=0).first()
    assert loan is not None
    Loan.objects.filter(pk=loan.pk).update(total_paid=F("total_paid") + Decimal("0.01"))
    with pytest.raises(CommandError, match="violations"):
        call_command("check_money")
    assert loan.number in capsys.readouterr().out


def test_check_money_reports_a_receipt_gap(portfolio: Any, capsys: Any) -> None:
    receipt = Receipt.objects.order_by("pk").first()
    assert receipt is not None
    year = receipt.number[4:8]
    Receipt.objects.filter(pk=receipt.pk).update(number=f"RCT-{year}-999999")
    with pytest.raises(CommandError):
        call_command("check_money")
    assert "receipt numbers per year" in capsys.readouterr().out


def test_a_second_run_adds_nothing(portfolio: Any) -> None:
    again = seed_bulk_portfolio(borrowers=5, loans=5)
    assert again.rows == 0
    assert Loan.objects.count() == LOANS


def test_seed_demo_uses_the_bulk_builder_for_large_sizes(capsys: Any) -> None:
    call_command("seed_demo", "--force", "--bulk", "--borrowers", "10", "--loans", "30")
    assert Loan.objects.count() == 30
    assert "Bulk portfolio:" in capsys.readouterr().out
    call_command("check_money")


def test_bulk_dates_never_in_the_future(portfolio: Any) -> None:
    today = timezone.localdate()
    assert not Repayment.objects.filter(paid_on__gt=today).exists()
    assert not Loan.objects.filter(disbursement_date__gt=today).exists()
    bad = Repayment.objects.filter(paid_on__lt=F("loan__disbursement_date"))
    assert not bad.exists()
    assert Borrower.objects.filter(date_of_birth__lt=date(1950, 1, 1)).count() == 0


def test_bulk_history_is_in_order_and_never_ahead_of_now(portfolio: Any) -> None:
    """Registered before the first application, decided after submission, nothing stamped
    after the present; borrower numbers follow the registration dates."""
    now = timezone.now()
    assert not Loan.objects.filter(submitted_at__lt=F("borrower__created_at")).exists()
    assert not Loan.objects.filter(decided_at__lte=F("submitted_at")).exists()
    assert not Loan.objects.filter(decided_at__gt=now).exists()
    assert not Repayment.objects.filter(recorded_at__gt=now).exists()
    assert not Repayment.objects.filter(reversed_at__gt=now).exists()
    assert not Borrower.objects.filter(created_at__gt=now).exists()
    by_number = list(Borrower.objects.order_by("number").values_list("created_at", flat=True))
    assert by_number == sorted(by_number)


def test_seeding_makes_cached_list_totals_stale(
    officer: Any, officer2: Any, accountant: Any
) -> None:
    before = portfolio_generation()
    seed_bulk_portfolio(borrowers=5, loans=5)
    assert portfolio_generation() != before


def test_bulk_portfolio_spread_over_offices(officer: Any, officer2: Any, accountant: Any) -> None:
    north = office_create(name="North", parent=None)
    south = office_create(name="South", parent=None)
    north_officer = UserFactory(role=LOAN_OFFICER)
    user_office_set(user=north_officer, office=north)
    seed_bulk_portfolio(borrowers=20, loans=30, offices=[north.pk, south.pk])
    assert Borrower.objects.filter(office=north).count() == 10
    assert Borrower.objects.filter(office=south).count() == 10
    # Each loan, its transactions and their journal entries are in the borrower's office, and
    # looked after by the office's own officer where it has one.
    assert not Loan.objects.exclude(office=F("borrower__office")).exists()
    assert not LoanTransaction.objects.exclude(office=F("loan__office")).exists()
    office_of = dict(Loan.objects.values_list("pk", "office_id"))
    entries = JournalEntry.objects.values_list("loan_id", "office_id")
    assert entries and all(office == office_of[loan] for loan, office in entries)
    assert set(Loan.objects.filter(office=north).values_list("officer", flat=True)) == {
        north_officer.pk
    }
    assert set(Loan.objects.filter(office=south).values_list("officer", flat=True)) == {officer.pk}
    call_command("check_money")
