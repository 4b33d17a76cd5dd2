"""Borrowers: list (search, paginated), register, read, change. Writes go through
`borrower_create` and `borrower_update`."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Query, Router
from ninja.responses import Status

from accounts.offices import scope
from lending.api.common import found, page_of, user_with
from lending.api.schemas import (
    BorrowerFilters,
    BorrowerIn,
    BorrowerOut,
    BorrowerPage,
    BorrowerPatch,
    Id,
    TransferIn,
    errors,
)
from lending.models import Borrower
from lending.selectors.borrowers import borrower_list
from lending.services.borrowers import borrower_create, borrower_transfer, borrower_update

router = Router(tags=["borrowers"])


@router.get("", response={200: BorrowerPage, **errors(401, 403, 422)}, summary="List borrowers")
def list_borrowers(request: HttpRequest, filters: Query[BorrowerFilters]) -> dict[str, Any]:
    user = user_with(request, "lending.view_borrower")
    return page_of(request, scope(borrower_list(query=filters.q, sort=filters.sort), user), filters)


@router.post(
    "", response={201: BorrowerOut, **errors(400, 401, 403, 422)}, summary="Register a borrower"
)
def create_borrower(request: HttpRequest, payload: BorrowerIn) -> Status:
    user = user_with(request, "lending.add_borrower")
    return Status(201, borrower_create(user=user, request=request, **payload.model_dump()))


@router.get(
    "/{id}", response={200: BorrowerOut, **errors(401, 403, 404, 422)}, summary="Read a borrower"
)
def get_borrower(request: HttpRequest, id: Id) -> Borrower:
    user = user_with(request, "lending.view_borrower")
    return found(scope(Borrower.objects.all(), user), id, "Borrower")


@router.patch(
    "/{id}",
    response={200: BorrowerOut, **errors(400, 401, 403, 404, 422)},
    summary="Change a borrower",
    description='Only the fields sent change (for example `{"reminders_opt_out": true}` '
    "when the borrower asks for no reminders); the change is audited with old and new values.",
)
def update_borrower(request: HttpRequest, id: Id, payload: BorrowerPatch) -> Borrower:
    user = user_with(request, "lending.change_borrower")
    borrower = found(scope(Borrower.objects.all(), user), id, "Borrower")
    return borrower_update(
        borrower=borrower, user=user, request=request, **payload.model_dump(exclude_unset=True)
    )


@router.post(
    "/{id}/transfer",
    response={200: BorrowerOut, **errors(400, 401, 403, 404, 422)},
    summary="Move a borrower to another office (Admin)",
)
def transfer_borrower(request: HttpRequest, id: Id, payload: TransferIn) -> Borrower:
    """The borrower and every loan of theirs move to the office (one of yours); payments and
    journal entries already booked stay in their office's books. Audited with the reason."""
    user = user_with(request, "lending.transfer_borrower")
    borrower = found(scope(Borrower.objects.all(), user), id, "Borrower")
    return borrower_transfer(
        borrower=borrower,
        office_id=payload.office_id,
        user=user,
        reason=payload.reason,
        request=request,
    )
