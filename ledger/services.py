"""Writing to the general ledger: the one way in is `journal_post`.

`journal_post` refuses (ValidationError, nothing written) an entry that does not balance,
has a line on a header or inactive account, or is dated on or before the date the books are
closed through. The caller's transaction is the entry's: a loan transaction and its journal
entry commit or roll back together.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Max, Sum

from accounts.head_office import HEAD_OFFICE_ID
from ledger.models import Account, AccountDayTotal, BooksClosing, JournalEntry, JournalLine

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


class BooksClosed(ValidationError):
    """A value date on or before the date the books are closed through (the API answers 409)."""


@dataclass(frozen=True)
class Posting:
    """One side of an entry: a positive amount debits the account, a negative one credits
    it. Several postings on one account are netted."""

    account_id: int
    amount: Decimal


def debit(account_id: int, amount: Decimal) -> Posting:
    return Posting(account_id, amount)


def credit(account_id: int, amount: Decimal) -> Posting:
    return Posting(account_id, -amount)


def net(postings: Iterable[Posting]) -> dict[int, Decimal]:
    """Postings netted per account, zero balances dropped."""
    totals: dict[int, Decimal] = defaultdict(lambda: ZERO)
    for p in postings:
        totals[p.account_id] += p.amount
    return {account: amount for account, amount in totals.items() if amount}


def closed_through() -> date | None:
    return BooksClosing.objects.aggregate(through=Max("through"))["through"]


def check_open(
    value_date: date, *, field: str = "value_date", through: date | object | None = ...
) -> None:
    """Refuse a date on or before the date the books are closed through (read now, unless
    the caller read it already and passes it as `through`)."""
    if through is ...:
        through = closed_through()
    if isinstance(through, date) and value_date <= through:
        raise BooksClosed(
            {
                field: f"The books are closed through {through:%d %b %Y}: nothing can be "
                f"dated on or before it ({value_date:%d %b %Y})."
            }
        )


def journal_post(
    *,
    value_date: date,
    memo: str,
    postings: Iterable[Posting],
    source: str,
    transaction_id: int | None = None,
    loan_id: int | None = None,
    office_id: int | None = HEAD_OFFICE_ID,
    user: User | None = None,
    check_books: bool = True,
    check_accounts: bool = True,
) -> JournalEntry | None:
    """Book one balanced entry. Postings that net to nothing book nothing (returns None):
    a replay that changed nothing on an account leaves the journal alone.

    Lending's postings pass `check_books=False` after checking the date themselves (once per
    action, not per entry) and `check_accounts=False`: their accounts come from the product
    mapping, which is checked when it is saved."""
    lines = net(postings)
    if not lines:
        return None
    if sum(lines.values(), ZERO) != 0:
        raise ValidationError(
            {"lines": "The entry does not balance: the debits must equal the credits."}
        )
    if any(amount != amount.quantize(CENT) for amount in lines.values()):
        raise ValidationError({"lines": "Amounts are in whole cents."})
    if check_books:
        check_open(value_date)
    if check_accounts:
        check_accounts_take_entries(list(lines))
    with transaction.atomic(savepoint=False):
        entry = JournalEntry.objects.create(
            value_date=value_date,
            memo=memo[:300],
            source=source,
            transaction_id=transaction_id,
            loan_id=loan_id,
            office_id=office_id or HEAD_OFFICE_ID,
            created_by=user,
        )
        JournalLine.objects.bulk_create(
            [
                JournalLine(
                    entry=entry,
                    account_id=account_id,
                    value_date=value_date,
                    debit=amount if amount > 0 else ZERO,
                    credit=-amount if amount < 0 else ZERO,
                )
                for account_id, amount in sorted(lines.items())
            ]
        )
    return entry


@dataclass(frozen=True)
class EntrySpec:
    """One entry for `journal_post_many`."""

    value_date: date
    memo: str
    postings: tuple[Posting, ...]
    source: str
    transaction_id: int | None = None
    loan_id: int | None = None
    # The loan transaction's office (DESIGN.md "Offices"); None: the head office.
    office_id: int | None = HEAD_OFFICE_ID


def journal_post_many(specs: Iterable[EntrySpec], *, user: User | None = None) -> int:
    """Book many balanced entries in a fixed number of statements (a replay's corrections,
    the daily close's charges). The caller has checked the books are open for their dates and
    that their accounts take entries. Returns how many entries were booked."""
    entries: list[JournalEntry] = []
    nets: list[dict[int, Decimal]] = []
    for spec in specs:
        lines = net(spec.postings)
        if not lines:
            continue
        if sum(lines.values(), ZERO) != 0:
            raise ValidationError({"lines": f"The entry '{spec.memo}' does not balance."})
        entries.append(
            JournalEntry(
                value_date=spec.value_date,
                memo=spec.memo[:300],
                source=spec.source,
                transaction_id=spec.transaction_id,
                loan_id=spec.loan_id,
                office_id=spec.office_id or HEAD_OFFICE_ID,
                created_by=user,
            )
        )
        nets.append(lines)
    if not entries:
        return 0
    if connection.vendor == "postgresql":
        # A posting's entry, a replay's corrections: one round trip, whatever their number.
        for start in range(0, len(entries), ENTRIES_PER_STATEMENT):
            stop = start + ENTRIES_PER_STATEMENT
            _insert_entries_with_lines(entries[start:stop], nets[start:stop])
        return len(entries)
    with transaction.atomic(savepoint=False):
        JournalEntry.objects.bulk_create(entries, batch_size=500)
        JournalLine.objects.bulk_create(
            [
                JournalLine(
                    entry=entry,
                    account_id=account_id,
                    value_date=entry.value_date,
                    debit=amount if amount > 0 else ZERO,
                    credit=-amount if amount < 0 else ZERO,
                )
                for entry, lines in zip(entries, nets, strict=True)
                for account_id, amount in sorted(lines.items())
            ],
            batch_size=1000,
        )
    return len(entries)


# PostgreSQL: entries and their lines in one statement. The entries are inserted in the
# order given (ORDER BY n) and take their ids from the sequence in that order, so numbering
# them again by id gives each line its entry. Arrays as parameters: a statement's size in
# parameters does not grow with the entries. Table names come from the models, never from
# input.
ENTRIES_PER_STATEMENT = 5000
_ENTRIES_WITH_LINES = """
    WITH given AS (
        SELECT * FROM unnest(
            %s::date[], %s::timestamptz[], %s::text[], %s::text[], %s::bigint[], %s::bigint[],
            %s::bigint[], %s::integer[]
        ) WITH ORDINALITY AS given (
            value_date, booked_at, memo, source, transaction_id, loan_id, office_id,
            created_by_id, n
        )
    ), entry AS (
        INSERT INTO {entries} (
            value_date, booked_at, memo, source, transaction_id, loan_id, office_id, created_by_id
        )
        SELECT value_date, booked_at, memo, source, transaction_id, loan_id, office_id,
            created_by_id
        FROM given ORDER BY n
        RETURNING id, value_date
    ), numbered AS (
        SELECT id, value_date, row_number() OVER (ORDER BY id) AS n FROM entry
    )
    INSERT INTO {lines} (entry_id, account_id, value_date, debit, credit)
    SELECT numbered.id, line.account_id, numbered.value_date, line.debit, line.credit
    FROM unnest(%s::bigint[], %s::bigint[], %s::numeric[], %s::numeric[])
        AS line (n, account_id, debit, credit)
    JOIN numbered ON numbered.n = line.n
"""


def _insert_entries_with_lines(entries: list[JournalEntry], nets: list[dict[int, Decimal]]) -> None:
    """What `bulk_create` of the entries and then of their lines writes, in one round trip."""
    sql = _ENTRIES_WITH_LINES.format(
        entries=JournalEntry._meta.db_table, lines=JournalLine._meta.db_table
    )
    columns: tuple[list[Any], ...] = ([], [], [], [], [], [], [], [])
    for entry in entries:
        values = (
            entry.value_date, entry.booked_at, entry.memo, entry.source, entry.transaction_id,
            entry.loan_id, entry.office_id, entry.created_by_id,
        )  # fmt: skip
        for column, value in zip(columns, values, strict=True):
            column.append(value)
    numbers: list[int] = []
    accounts: list[int] = []
    debits: list[Decimal] = []
    credits: list[Decimal] = []
    for n, lines in enumerate(nets, start=1):
        for account_id, amount in sorted(lines.items()):
            numbers.append(n)
            accounts.append(account_id)
            debits.append(amount if amount > 0 else ZERO)
            credits.append(-amount if amount < 0 else ZERO)
    with connection.cursor() as cursor:
        cursor.execute(sql, [*columns, numbers, accounts, debits, credits])


def check_accounts_take_entries(account_ids: list[int], *, field: str = "lines") -> None:
    """Every account exists, is active and is not a header account."""
    accounts = Account.objects.in_bulk(account_ids)
    for account_id in account_ids:
        account = accounts.get(account_id)
        if account is None or not account.is_active:
            name = account or f"Account {account_id}"
            raise ValidationError({field: f"{name} is not an active account."})
    headers = set(
        Account.objects.filter(parent_id__in=account_ids).values_list("parent_id", flat=True)
    )
    if headers:
        names = ", ".join(str(accounts[a]) for a in sorted(headers))
        raise ValidationError({field: f"Header accounts hold no entries: {names}."})


def books_close_record(*, through: date, user: User | None) -> BooksClosing:
    """Record that the books are closed through `through` and keep the totals of the days
    it closes (see `ledger.models`). The caller checks who may and audits it."""
    with transaction.atomic():
        # One closing at a time: the latest closing row is the lock's subject.
        last = BooksClosing.objects.select_for_update().order_by("-through").first()
        if last is not None and through <= last.through:
            raise ValidationError(
                {"through": f"The books are already closed through {last.through:%d %b %Y}."}
            )
        start = last.through if last is not None else None
        days = JournalLine.objects.filter(value_date__lte=through)
        if start is not None:
            days = days.filter(value_date__gt=start)
        AccountDayTotal.objects.bulk_create(
            [
                AccountDayTotal(
                    account_id=row["account_id"],
                    value_date=row["value_date"],
                    debit=row["debit"],
                    credit=row["credit"],
                )
                for row in days.values("account_id", "value_date")
                .order_by()
                .annotate(debit=Sum("debit"), credit=Sum("credit"))
            ],
            batch_size=1000,
        )
        return BooksClosing.objects.create(through=through, closed_by=user)
