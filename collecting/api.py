"""The collection sheet in the JSON API (DESIGN.md "Web API"):

- `GET /api/collection-sheet?office_id=&officer_id=&date=`: `rows` of `loan_id`, `loan_number`,
  `borrower`, `due` (and more fields); every role.
- `POST /api/collection-sheet` with `date`, `key` and `rows` (`loan_id`, `amount`, `method`):
  each row answers its `repayment_id` or its `error`; Accountant and Admin. The `key` names
  the sheet: the same key sent again posts nothing twice (`collecting.services`).

Both read only the user's offices: an office outside them is a 422 on `office_id`.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from django.contrib.auth.models import User
from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema

from accounts.offices import visible_offices
from collecting.selectors import MAX_SHEET_ROWS, SheetFilters, sheet_rows
from collecting.services import MAX_ROWS, SheetLine, collection_sheet_post
from lending.api.common import referenced, user_with
from lending.api.schemas import (
    Id,
    Method,
    Money,
    MoneyIn,
    StrictIn,
    ValueDate,
    errors,
)
from lending.limits import IDEMPOTENCY_KEY_PATTERN

router = Router(tags=["collections"])


class SheetQuery(Schema):
    office_id: Id | None = Field(
        None, description="One of your offices (and the offices under it); all of yours if none."
    )
    officer_id: Id | None = Field(None, description="The loan officer the loans are assigned to.")
    date: ValueDate | None = Field(None, description="Due on or before this day (default today).")


class SheetRowOut(Schema):
    loan_id: int
    loan_number: str
    borrower: str
    borrower_number: str
    phone: str
    officer: str
    oldest_due_date: date
    days_late: int
    due: Money
    outstanding: Money


class SheetOut(Schema):
    date: date
    office_id: int | None
    officer_id: int | None
    rows: list[SheetRowOut]
    total_due: Money
    truncated: bool = Field(description=f"More than {MAX_SHEET_ROWS} rows: narrow by officer.")


class SheetLineIn(StrictIn):
    loan_id: Id
    amount: MoneyIn
    method: Method = "cash"


class SheetIn(StrictIn):
    date: ValueDate
    key: Annotated[str, Field(pattern=IDEMPOTENCY_KEY_PATTERN)] = Field(
        description="Names this sheet (1 to 64 printable ASCII characters, a UUID is ideal): "
        "sending the same sheet again with it posts nothing twice."
    )
    rows: list[SheetLineIn] = Field(min_length=1, max_length=MAX_ROWS)


class SheetLineOut(Schema):
    loan_id: int
    amount: Money
    repayment_id: int | None
    receipt_number: str | None
    already_posted: bool = Field(description="Posted by an earlier request with this key.")
    error: str | None


class SheetPostOut(Schema):
    date: date
    posted: int
    already_posted: int
    refused: int
    rows: list[SheetLineOut]


@router.get(
    "/collection-sheet",
    response={200: SheetOut, **errors(401, 403, 422)},
    summary="A collection sheet",
)
def get_collection_sheet(request: HttpRequest, query: Query[SheetQuery]) -> dict[str, Any]:
    """Every active loan with something unpaid due on or before `date`, with the amount due."""
    user = user_with(request, "lending.view_loan")
    officer = referenced(User.objects.all(), query.officer_id, "officer_id", "officer")
    office = referenced(visible_offices(user), query.office_id, "office_id", "office of yours")
    filters = SheetFilters(
        on=query.date or timezone.localdate(),
        officer_id=officer.pk if officer else None,
        office_id=office.pk if office else None,
    )
    rows = sheet_rows(filters, user=user)
    truncated = len(rows) > MAX_SHEET_ROWS
    rows = rows[:MAX_SHEET_ROWS]
    return {
        "date": filters.on,
        "office_id": filters.office_id,
        "officer_id": filters.officer_id,
        "rows": [
            {
                "loan_id": r.loan_id,
                "loan_number": r.loan_number,
                "borrower": r.borrower,
                "borrower_number": r.borrower_number,
                "phone": r.phone,
                "officer": r.officer,
                "oldest_due_date": r.oldest_due,
                "days_late": r.days_late(filters.on),
                "due": r.due,
                "outstanding": r.outstanding,
            }
            for r in rows
        ],
        "total_due": sum((r.due for r in rows), start=0),
        "truncated": truncated,
    }


@router.post(
    "/collection-sheet",
    response={200: SheetPostOut, **errors(400, 401, 403, 422)},
    summary="Post a collection sheet",
)
def post_collection_sheet(request: HttpRequest, payload: SheetIn) -> dict[str, Any]:
    """Each row is posted through the repayment service or refused with its reason (`error`);
    the answer is 200 either way. A sheet dated in the future, or one naming a loan twice, is
    refused whole (422) with nothing posted."""
    user = user_with(request, "lending.add_repayment")
    result = collection_sheet_post(
        user=user,
        sheet_key=payload.key,
        on=payload.date,
        lines=[
            SheetLine(loan_id=r.loan_id, amount=r.amount, method=r.method) for r in payload.rows
        ],
        request=request,
    )
    return {
        "date": result.on,
        "posted": len(result.posted),
        "already_posted": len(result.already_posted),
        "refused": len(result.refused),
        "rows": [
            {
                "loan_id": o.loan_id,
                "amount": o.amount,
                "repayment_id": o.repayment.pk if o.repayment else None,
                "receipt_number": o.receipt_number or None,
                "already_posted": o.already_posted,
                "error": o.error or None,
            }
            for o in result.outcomes
        ],
    }
