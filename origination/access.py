"""Who reaches which borrower and loan from the origination pages, in one place.

The role rules are the permission matrix's (DESIGN.md), by permission, never by group name:

- documents: uploading and deleting are editing the borrower (`lending.change_borrower`:
  Admin, Loan Officer); downloading is viewing the borrower (`lending.view_borrower`: the
  three roles, the Accountant too: the cashier checks the ID of whoever collects the money);
- guarantors and collateral: adding and removing are part of applying
  (`lending.add_loan`: Admin, Loan Officer), while the loan is pending; reading them is
  viewing the loan.

Office scoping (a record of another office is a 404) is at `visible_borrowers` and
`visible_loans` (`accounts.offices`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet
from django.shortcuts import get_object_or_404

from accounts.offices import scope
from lending.models import Borrower, Loan

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    AnyUser = User | AnonymousUser

VIEW_DOCUMENTS = "lending.view_borrower"
EDIT_DOCUMENTS = "lending.change_borrower"
VIEW_APPLICATION = "lending.view_loan"
EDIT_APPLICATION = "lending.add_loan"


def visible_borrowers(user: AnyUser) -> QuerySet[Borrower]:
    """The borrowers this user may reach. Office scoping (DESIGN.md "Offices") narrows this
    queryset to the user's office subtree; every origination page goes through it."""
    return scope(Borrower.objects.all(), user)


def visible_loans(user: AnyUser) -> QuerySet[Loan]:
    """The loans this user may reach. Office scoping narrows it to the loans of
    `visible_borrowers` (a loan carries its borrower's office)."""
    return scope(Loan.objects.all(), user)


def borrower_for(user: AnyUser, pk: int) -> Borrower:
    """The borrower, or 404 when unknown or out of this user's scope."""
    return get_object_or_404(visible_borrowers(user), pk=pk)


def loan_for(user: AnyUser, pk: int) -> Loan:
    """The loan with its borrower, or 404 when unknown or out of this user's scope."""
    return get_object_or_404(visible_loans(user).select_related("borrower"), pk=pk)


def can_edit_documents(user: AnyUser) -> bool:
    return bool(user.has_perm(EDIT_DOCUMENTS))


def can_edit_application(user: AnyUser, loan: Loan) -> bool:
    return bool(user.has_perm(EDIT_APPLICATION)) and loan.status == Loan.Status.PENDING
