"""Access rules for pages and API calls: the permission matrix of DESIGN.md in one place.

Role-to-permission mapping is in `accounts.roles`; this module answers "may this user do this"
for views, templates and the API. Object rules (four eyes, own application) live here too, so a
view never grows its own `if` chain.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import TYPE_CHECKING, Any, TypeVar

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    from lending.models import Loan

    AnyUser = User | AnonymousUser

View = TypeVar("View", bound=Callable[..., HttpResponse])


def permission_required(*perms: str) -> Callable[[View], View]:
    """Anonymous users go to the login page; signed-in users without every perm get a 403."""

    def decorator(view: View) -> View:
        @wraps(view)
        def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.has_perms(perms):
                raise PermissionDenied("Your role does not allow this page.")
            return view(request, *args, **kwargs)

        return login_required(wrapped)  # type: ignore[return-value]

    return decorator


def can_approve(user: AnyUser, loan: Loan) -> bool:
    """Four eyes: whoever submitted an application never approves or rejects it, whatever
    their role (a stricter reading of DESIGN.md than Admin's bare "yes", as banks expect)."""
    return bool(user.has_perm("lending.approve_loan")) and loan.submitted_by_id != user.pk


def can_disburse(user: AnyUser) -> bool:
    """Handing the money over (a product that disburses separately): Accountant or Admin."""
    return bool(user.has_perm("lending.disburse_loan"))


def can_undo_decision(user: AnyUser) -> bool:
    """Undo an approval or a disbursement: Admin."""
    return bool(user.has_perm("lending.undo_loan_decision"))


def can_withdraw(user: AnyUser, loan: Loan) -> bool:
    """Only the officer who submitted a pending application may withdraw it."""
    return bool(user.has_perm("lending.add_loan")) and loan.submitted_by_id == user.pk


def can_write_off(user: AnyUser) -> bool:
    return bool(user.has_perm("lending.write_off_loan"))


def can_waive(user: AnyUser) -> bool:
    """Waive charges (fees, penalties) or interest: Admin only (DESIGN.md matrix)."""
    return bool(user.has_perm("lending.waive_loan"))


def can_record_repayment(user: AnyUser) -> bool:
    return bool(user.has_perm("lending.add_repayment"))


def can_reverse_repayment(user: AnyUser) -> bool:
    return bool(user.has_perm("lending.reverse_repayment"))


def can_view_ledger(user: AnyUser) -> bool:
    return bool(user.has_perm("ledger.view_journalentry"))


def can_reassign_officers(user: AnyUser) -> bool:
    return bool(user.has_perm("lending.reassign_officer"))


def can_close_books(user: AnyUser) -> bool:
    return bool(user.has_perm("ledger.add_booksclosing"))


def require(allowed: bool, message: str = "Your role does not allow this action.") -> None:
    if not allowed:
        raise PermissionDenied(message)
