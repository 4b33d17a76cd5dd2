"""Closing the books through a date (Admin): afterwards nothing may be dated on or before it,
a reversal included (`ledger.services.check_open`, used by every posting service and the
daily close). Audited.

Also the manual journal entry (Admin): an entry the accountant types line by line (an
opening balance, a bank charge, a correction), booked through `journal_post` like lending's
own entries and audited with its lines."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from decimal import Decimal

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Max
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import can_close_books, require
from accounts.offices import check_office_choice, user_office_id
from ledger.models import Account, BooksClosing, JournalEntry
from ledger.services import (
    CENT,
    ZERO,
    Posting,
    books_close_record,
    check_accounts_take_entries,
    check_open,
    closed_through,
    journal_post,
)
from lending.audit import audit_record
from lending.models import AuditLog, DayClose


def books_close(*, through: date, user: User, request: HttpRequest | None = None) -> BooksClosing:
    """Close the books through `through` (before today: today's postings are still coming)."""
    require(can_close_books(user), "Only an administrator can close the books.")
    if through >= timezone.localdate():
        raise ValidationError({"through": "Only days before today can be closed."})
    last_close = DayClose.objects.aggregate(last=Max("on"))["last"]
    if last_close is not None and last_close < through:
        # Late penalties of those days are decided by the daily close; once the books are
        # closed, a penalty day in them is final (charged or not), so close the days first.
        raise ValidationError(
            {
                "through": f"The daily close has run through {last_close:%d %b %Y}: run it "
                f"through {through:%d %b %Y} before closing the books."
            }
        )
    with transaction.atomic():
        before = closed_through()
        closing = books_close_record(through=through, user=user)
        audit_record(
            action=AuditLog.Action.BOOKS_CLOSED,
            user=user,
            obj=closing,
            details={"before": {"through": before}, "after": {"through": through}},
            request=request,
        )
    return closing


# --- Manual journal entries ---------------------------------------------------------------------

ADD_ENTRY = "ledger.add_journalentry"
# A line's amount fits the journal's money columns (14 digits, 2 of them decimals).
MAX_AMOUNT = Decimal("999999999999.99")

Line = tuple[int, Decimal | None, Decimal | None]
"""(account id, debit, credit): exactly one of the two above zero."""


def _check_lines(lines: Sequence[Line]) -> tuple[Decimal, Decimal]:
    """Each line is one debit or one credit in whole cents on an account not already on the
    entry (journal_post nets an account's postings, so what is booked is what was typed);
    returns the total debits and credits. Raises on field "lines", naming the line."""
    if len(lines) < 2:
        raise ValidationError({"lines": "An entry needs at least two lines."})
    seen: dict[int, int] = {}
    debits = credits = ZERO
    for number, (account_id, debit, credit) in enumerate(lines, start=1):
        debit, credit = debit or ZERO, credit or ZERO
        if debit < 0 or credit < 0:
            raise ValidationError({"lines": f"Line {number}: amounts cannot be negative."})
        if (debit > 0) == (credit > 0):
            raise ValidationError(
                {"lines": f"Line {number}: enter either a debit or a credit, not both."}
            )
        amount = debit or credit
        if amount != amount.quantize(CENT):
            raise ValidationError({"lines": f"Line {number}: amounts are in whole cents."})
        if amount > MAX_AMOUNT:
            raise ValidationError({"lines": f"Line {number}: the amount is too large."})
        if account_id in seen:
            raise ValidationError(
                {
                    "lines": f"Line {number}: the account is already on line {seen[account_id]}; "
                    "put its amount on one line."
                }
            )
        seen[account_id] = number
        debits += debit
        credits += credit
    if debits != credits:
        raise ValidationError(
            {
                "lines": f"Debits {debits:.2f} and credits {credits:.2f} differ by "
                f"{abs(debits - credits):.2f}."
            }
        )
    return debits, credits


def journal_entry_record(
    *,
    value_date: date,
    memo: str,
    lines: Sequence[Line],
    user: User,
    office_id: int | None = None,
    request: HttpRequest | None = None,
) -> JournalEntry:
    """Book a manual entry (source "manual") and audit it (JOURNAL_ENTRY) with its lines, in
    one transaction. The entry is in `office_id`'s books (one the user reaches), the user's
    own office's by default. Refuses, writing nothing: fewer than two lines, a line that is not one
    debit or one credit in whole cents, an entry that does not balance (saying by how much),
    an empty memo (field "memo"), an account that takes no entries (inactive or a header) and
    a date in closed books (field "value_date")."""
    require(user.has_perm(ADD_ENTRY), "Only an administrator can record a journal entry.")
    if office_id is None:
        office_id = user_office_id(user)
    else:
        check_office_choice(user, office_id)
    memo = memo.strip()
    if not memo:
        raise ValidationError({"memo": "Say what the entry is for."})
    if len(memo) > 300:
        raise ValidationError({"memo": "Keep the memo to 300 characters."})
    total, _ = _check_lines(lines)
    account_ids = [account_id for account_id, _, _ in lines]
    with transaction.atomic():
        check_open(value_date)
        check_accounts_take_entries(account_ids)
        postings = [Posting(a, (d or ZERO) - (c or ZERO)) for a, d, c in lines]
        entry = journal_post(
            value_date=value_date,
            memo=memo,
            postings=postings,
            source=JournalEntry.Source.MANUAL,
            office_id=office_id,
            user=user,
            check_books=False,
            check_accounts=False,
        )
        assert entry is not None  # two distinct accounts with amounts above zero
        codes = dict(Account.objects.filter(pk__in=account_ids).values_list("pk", "code"))
        audit_record(
            action=AuditLog.Action.JOURNAL_ENTRY,
            user=user,
            obj=entry,
            details={
                "value_date": value_date,
                "memo": memo,
                "total": total,
                "lines": [
                    {"account": codes[a], "debit": d or ZERO, "credit": c or ZERO}
                    for a, d, c in lines
                ],
            },
            request=request,
        )
    return entry
