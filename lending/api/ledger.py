"""A loan's transactions, reversing a repayment (with a dry run), the general ledger (chart,
trial balance, journal) and closing the books (DESIGN.md "Web API": "Ledger, offices and
collections").

Reads go through `ledger.selectors`; writes are one call each to
`lending.services.repayments.repayment_reverse` and `lending.services.books.books_close`, the
same services as the pages. A value date in closed books is a 409 (`lending.api.errors`).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema

from accounts.access import can_close_books, can_reverse_repayment, can_view_ledger, require
from accounts.models import Office
from accounts.offices import reaches_everything, scope
from ledger.models import Account, JournalEntry
from ledger.selectors import Books, entries, trial_balance
from lending.api.common import exists_or_404, found, json_answer, page_of, user_with
from lending.api.history import repayment_answer, transaction_answer, transaction_rows
from lending.api.schemas import (
    BooksClosedOut,
    BooksCloseIn,
    EntryFilters,
    GLAccountOut,
    Id,
    JournalEntryPage,
    PageParams,
    ReversalPlanOut,
    ReversedRepaymentOut,
    ReverseIn,
    TransactionOut,
    TrialBalanceIn,
    TrialBalanceOut,
    errors,
)
from lending.models import AuditLog, Loan, Repayment
from lending.services.books import books_close
from lending.services.repayments import repayment_reverse, repayment_reverse_preview

router = Router()


def _caller(request: HttpRequest) -> User:
    return request.auth  # type: ignore[attr-defined,no-any-return]


def _only_query(request: HttpRequest, *names: str) -> None:
    """Ninja reads the query parameters it knows and ignores the rest; a misspelt filter
    (`acount=`) must not quietly answer everything, so it is a 422 naming it."""
    for name in request.GET:
        if name not in names:
            raise ValidationError({name: "Unknown query parameter."})


def _query_names(schema: type[Schema]) -> tuple[str, ...]:
    return tuple(field.alias or name for name, field in schema.model_fields.items())


def _ledger_reader(request: HttpRequest) -> User:
    user = _caller(request)
    require(can_view_ledger(user), "Your role does not allow reading the general ledger.")
    return user


# --- loan transactions ----------------------------------------------------------------------


@router.get(
    "/loans/{id}/transactions",
    response={200: list[TransactionOut], **errors(401, 403, 404, 422)},
    summary="List a loan's transactions",
    tags=["loans"],
)
def list_transactions(request: HttpRequest, id: Id, paging: Query[PageParams]) -> HttpResponse:
    """The loan's money events in value-date order (a day's penalties after its payments),
    reversed ones included (`reversed: true`), a page at a time: `?page=` and `?page_size=`
    (default 25, at most 100). The answer is the page's list; its `Link` header names the
    `next` and `prev` pages and `X-Total-Count` the whole list's length. The split of each is
    what the replay of the loan gives it today."""
    user = user_with(request, "lending.view_loan", "lending.view_loantransaction")
    _only_query(request, *_query_names(PageParams))
    if not reaches_everything(user):  # another office's loan is a 404
        exists_or_404(scope(Loan.objects.all(), user), id, "Loan")
    page = page_of(request, transaction_rows(id), paging)
    if not page["items"]:  # no rows to say the loan exists: ask
        exists_or_404(Loan.objects.all(), id, "Loan")
    answer = json_answer([transaction_answer(row) for row in page["items"]])
    pages = (("next", "next"), ("previous", "prev"))
    links = [f'<{page[key]}>; rel="{rel}"' for key, rel in pages if page[key]]
    if links:
        answer["Link"] = ", ".join(links)
    answer["X-Total-Count"] = str(page["count"])
    return answer


# --- reversing a repayment ------------------------------------------------------------------


def _stored_changes(repayment: Repayment) -> list[dict[str, Any]]:
    """The changes the reversal stored, as its audit entry recorded them (the plan the
    service applied, not a second computation that could differ)."""
    details = (
        AuditLog.objects.filter(
            action=AuditLog.Action.REPAYMENT_REVERSED,
            object_type="repayment",
            object_id=str(repayment.pk),
        )
        .order_by("-id")
        .values_list("details", flat=True)
        .first()
    )
    return list((details or {}).get("replay", {}).get("changes", []))


@router.post(
    "/repayments/{id}/reverse",
    response={
        200: ReversedRepaymentOut | ReversalPlanOut,
        **errors(400, 401, 403, 404, 409, 422),
    },
    summary="Reverse a repayment (or preview it with dry_run)",
    tags=["repayments"],
)
def reverse_repayment(
    request: HttpRequest, id: Id, payload: ReverseIn, dry_run: bool = False
) -> dict[str, Any]:
    """The repayment's transactions are marked reversed with mirror journal entries, later
    payments are re-split, its receipt is voided and a closed loan re-opens. With
    `?dry_run=true` nothing is stored and the answer is what would change. 409 for a
    repayment already reversed, a loan no longer active or closed, or a payment dated in
    closed books."""
    user = _caller(request)
    require(can_reverse_repayment(user), "Your role does not allow reversing repayments.")
    _only_query(request, "dry_run")
    repayment = found(
        scope(Repayment.objects.only("pk", "loan_id"), user, "loan__office"), id, "Repayment"
    )
    if dry_run:
        return repayment_reverse_preview(repayment=repayment, user=user).as_dict()
    repayment_reverse(repayment=repayment, user=user, reason=payload.reason, request=request)
    return {**repayment_answer(repayment.pk), "changes": _stored_changes(repayment)}


# --- general ledger -------------------------------------------------------------------------


@router.get(
    "/gl/accounts",
    response={200: list[GLAccountOut], **errors(401, 403)},
    summary="List the chart of accounts",
    tags=["ledger"],
)
def list_gl_accounts(request: HttpRequest) -> list[Account]:
    _ledger_reader(request)
    _only_query(request)
    return list(Account.objects.order_by("code"))


@router.get(
    "/gl/trial-balance",
    response={200: TrialBalanceOut, **errors(401, 403, 422)},
    summary="Trial balance as of a date",
    tags=["ledger"],
)
def get_trial_balance(request: HttpRequest, params: Query[TrialBalanceIn]) -> dict[str, Any]:
    """Each account with entries, with its debit or credit balance of everything dated on or
    before `as_of` (default today); the two totals are equal."""
    user = _ledger_reader(request)
    _only_query(request, *_query_names(TrialBalanceIn))
    office = None
    if params.office_id is not None:
        office = scope(Office.objects.all(), user, "pk").filter(pk=params.office_id).first()
        if office is None:
            raise ValidationError({"office_id": "Choose one of your offices."})
    books = Books(user=user, office=office)
    result = trial_balance(params.as_of or timezone.localdate(), books=books)
    return {
        "as_of": result.as_of,
        "accounts": [
            {
                "code": row.account.code,
                "name": row.account.name,
                "type": row.account.type,
                "debit": row.debit_balance,
                "credit": row.credit_balance,
            }
            for row in result.rows
        ],
        "total_debit": result.total_debit,
        "total_credit": result.total_credit,
    }


def _entry(entry: JournalEntry) -> dict[str, Any]:
    return {
        "id": entry.pk,
        "value_date": entry.value_date,
        "booked_at": entry.booked_at,
        "memo": entry.memo,
        "source": entry.source,
        "transaction_id": entry.transaction_id,
        "loan_id": entry.loan_id,
        "lines": [
            {"account": line.account.code, "debit": line.debit, "credit": line.credit}
            for line in entry.lines.all()
        ],
    }


@router.get(
    "/gl/entries",
    response={200: JournalEntryPage, **errors(401, 403, 422)},
    summary="List journal entries",
    tags=["ledger"],
)
def list_journal_entries(request: HttpRequest, filters: Query[EntryFilters]) -> dict[str, Any]:
    """Entries with their lines in value-date order, optionally only those touching one
    account (by code), a loan, or a range of value dates."""
    user = _ledger_reader(request)
    _only_query(request, *_query_names(EntryFilters))
    account = None
    if filters.account:
        account = Account.objects.filter(code=filters.account).first()
        if account is None:
            raise ValidationError({"account": f"There is no account with code {filters.account}."})
    if filters.date_from and filters.date_to and filters.date_from > filters.date_to:
        raise ValidationError({"from": "The start date is after the end date."})
    matching = entries(
        date_from=filters.date_from,
        date_to=filters.date_to,
        account=account,
        loan_id=filters.loan_id,
        books=Books(user=user),
    )
    page = page_of(request, matching, filters)
    page["items"] = [_entry(entry) for entry in page["items"]]
    return page


# --- closing the books ----------------------------------------------------------------------


@router.post(
    "/books/close",
    response={200: BooksClosedOut, **errors(400, 401, 403, 422)},
    summary="Close the books through a date",
    tags=["ledger"],
)
def close_books(request: HttpRequest, payload: BooksCloseIn) -> dict[str, Any]:
    """Afterwards nothing can be dated on or before `through` (a posting or reversal there is
    a 409). The date must be after the current closing and before today (422 otherwise)."""
    user = _caller(request)
    require(can_close_books(user), "Only an administrator can close the books.")
    closing = books_close(through=payload.through, user=user, request=request)
    return {"through": closing.through, "closed_at": closing.closed_at, "closed_by": user.username}
