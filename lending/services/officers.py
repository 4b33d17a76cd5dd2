"""Loan officers' portfolios: who looks after a borrower and their loans (DESIGN.md, "Offices,
loan officers, holidays and origination").

A borrower's officer is whoever registered them and a loan's whoever submitted it, until an
Admin reassigns. Reassigning moves borrowers with their open loans (pending, approved, active
and written off, which recoveries still follow up); closed, rejected and withdrawn loans keep
the officer who had them, so past figures per officer do not change.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from accounts.access import can_reassign_officers, require
from accounts.offices import may_reach, scope
from lending.audit import audit_record
from lending.models import AuditLog, Borrower, Loan
from lending.signals import borrower_changed, loans_changed

Status = Loan.Status
# The loans that move with their borrower to a new officer.
OPEN_STATUSES = [
    s for s in Status.values if s not in (Status.CLOSED, Status.REJECTED, Status.WITHDRAWN)
]
MAX_BORROWERS = 5000  # one reassignment; a whole portfolio of a large branch fits


def eligible_officers(user: User | None = None) -> QuerySet[User]:
    """Who can hold a portfolio: active staff who may register borrowers and submit loans
    (Loan Officers and Admins, by permission, not by group name); with `user`, only those of
    that user's offices (an Admin of a branch gives its borrowers to the branch's officers)."""
    can_originate = Q(groups__permissions__codename="add_loan") | Q(
        user_permissions__codename="add_loan"
    )
    users = (
        User.objects.all()
        if user is None
        else scope(User.objects.all(), user, "office_link__office")
    )
    return (
        users.filter(is_active=True)
        .filter(can_originate | Q(is_superuser=True))
        .distinct()
        .only("id", "username", "first_name", "last_name")
        .order_by("first_name", "last_name", "username")
    )


def officer_name(user: User | None) -> str:
    if user is None:
        return "nobody"
    return user.get_full_name() or user.get_username()


@dataclass(frozen=True)
class Reassignment:
    officer: User
    borrowers: int
    loans: int


def officers_reassign(
    *,
    user: User,
    officer: User | None,
    borrower_ids: Iterable[int],
    request: HttpRequest | None = None,
) -> Reassignment:
    """Give the borrowers (and their open loans) to `officer`. One audit entry per borrower
    moved, naming the officer before and after and the loans that moved with it. Borrowers
    already with that officer are left alone. Refuses with nothing written: no borrower, an
    unknown borrower, or an officer who cannot hold a portfolio."""
    require(can_reassign_officers(user), "Your role does not allow reassigning loan officers.")
    ids = sorted({int(pk) for pk in borrower_ids})
    if not ids:
        raise ValidationError({"borrowers": "Choose at least one borrower."})
    if len(ids) > MAX_BORROWERS:
        raise ValidationError(
            {"borrowers": f"Reassign at most {MAX_BORROWERS:,} borrowers at a time."}
        )
    if officer is None:
        raise ValidationError({"officer": "Choose the loan officer to give the borrowers to."})
    if not eligible_officers(user).filter(pk=officer.pk).exists():
        name = officer_name(officer)
        raise ValidationError(
            {"officer": f"{name} cannot hold a portfolio (not an active officer)."}
        )
    with transaction.atomic():
        borrowers = list(
            # Only the borrowers' rows are locked (PostgreSQL cannot lock the nullable side of
            # the officer's outer join).
            scope(Borrower.objects.select_for_update(of=("self",)), user)
            .filter(pk__in=ids)
            .select_related("officer", "office")
            .order_by("pk")
        )
        if len(borrowers) != len(ids):  # another office's borrower is as good as missing
            raise ValidationError({"borrowers": "A chosen borrower does not exist."})
        unreachable = sorted(
            {str(b.office) for b in borrowers if not may_reach(officer, b.office_id)}
        )
        if unreachable:
            raise ValidationError(
                {
                    "officer": f"{officer_name(officer)} works in another office and cannot see "
                    f"the borrowers of {', '.join(unreachable)}."
                }
            )
        moving = [b for b in borrowers if b.officer_id != officer.pk]
        loans = list(
            Loan.objects.select_for_update()
            .filter(borrower__in=moving, status__in=OPEN_STATUSES)
            .exclude(officer=officer)
            .only("id", "number", "borrower_id", "officer_id")
            .order_by("pk")
        )
        by_borrower: dict[int, list[str]] = {}
        for loan in loans:
            by_borrower.setdefault(loan.borrower_id, []).append(loan.number)
        Borrower.objects.filter(pk__in=[b.pk for b in moving]).update(officer=officer)
        Loan.objects.filter(pk__in=[loan.pk for loan in loans]).update(officer=officer)
        for borrower in moving:
            audit_record(
                action=AuditLog.Action.OFFICERS_REASSIGNED,
                user=user,
                obj=borrower,
                details={
                    "officer": [
                        borrower.officer.get_username() if borrower.officer else None,
                        officer.get_username(),
                    ],
                    "loans": by_borrower.get(borrower.pk, []),
                },
                request=request,
            )
        if moving:
            borrower_changed.send(sender=Borrower, borrower_id=moving[0].pk)
        if loans:
            loans_changed.send(
                sender=Loan, loan_ids=[loan.pk for loan in loans], event="officer_reassigned"
            )
    return Reassignment(officer=officer, borrowers=len(moving), loans=len(loans))
