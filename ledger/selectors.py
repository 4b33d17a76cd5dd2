"""Reading the general ledger: trial balance, an account's ledger, a day's journal. Each
answers in a fixed number of queries whatever the size of the journal."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db.models import Prefetch, QuerySet, Sum
from django.db.models.functions import Coalesce

from accounts.models import Office
from accounts.offices import reaches_everything, scope
from ledger.models import Account, AccountDayTotal, BooksClosing, JournalEntry, JournalLine

ZERO = Decimal("0.00")
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Balance:
    account: Account
    debit: Decimal  # total debits through the date
    credit: Decimal

    @property
    def net(self) -> Decimal:
        """Debit balance (positive) or credit balance (negative)."""
        return self.debit - self.credit

    @property
    def debit_balance(self) -> Decimal:
        return self.net if self.net > 0 else ZERO

    @property
    def credit_balance(self) -> Decimal:
        return -self.net if self.net < 0 else ZERO


@dataclass
class TrialBalance:
    as_of: date
    rows: list[Balance]
    total_debit: Decimal = ZERO
    total_credit: Decimal = ZERO


def cents(amount: Decimal | None) -> Decimal:
    """A sum as an amount (SQLite adds decimals as floating point: 65123.3100000000)."""
    return (amount or ZERO).quantize(CENT)


def _sums(qs: QuerySet, by: str = "account_id") -> dict[int, tuple[Decimal, Decimal]]:
    return {
        row[by]: (cents(row["d"]), cents(row["c"]))
        for row in qs.values(by).order_by().annotate(d=Sum("debit"), c=Sum("credit"))
    }


@dataclass(frozen=True)
class Books:
    """Whose books: the user's office subtree (None: every office), narrowed to one office
    and the offices under it when `office` is given (DESIGN.md "Offices")."""

    user: Any = None
    office: Office | None = None

    @property
    def everything(self) -> bool:
        return self.office is None and (self.user is None or reaches_everything(self.user))

    def lines(self, lines: QuerySet[JournalLine]) -> QuerySet[JournalLine]:
        return self.entries_of(lines, "entry__office")

    def entries_of(self, qs: QuerySet[Any], field: str = "office") -> QuerySet[Any]:
        if self.user is not None:
            qs = scope(qs, self.user, field)
        if self.office is not None:
            subtree = Office.objects.filter(path__startswith=self.office.path).values("pk")
            qs = qs.filter(**{f"{field}__in": subtree})
        return qs


ALL_BOOKS = Books()


def balances(
    as_of: date, *, before: bool = False, books: Books = ALL_BOOKS
) -> dict[int, tuple[Decimal, Decimal]]:
    """Debits and credits per account id of everything dated on or before `as_of` (strictly
    before it with `before=True`). Closed days are read from their day totals, the rest from
    the lines (three queries). One office's books are read from their lines (the day totals
    are the institution's)."""
    lookup = "lt" if before else "lte"
    lines = JournalLine.objects.filter(**{f"value_date__{lookup}": as_of})
    if not books.everything:
        return _sums(books.lines(lines))
    through = BooksClosing.objects.order_by("-through").values_list("through", flat=True).first()
    totals: dict[int, tuple[Decimal, Decimal]] = {}
    if through is not None:
        closed = AccountDayTotal.objects.filter(**{f"value_date__{lookup}": as_of}).filter(
            value_date__lte=through
        )
        totals = _sums(closed)
        lines = lines.filter(value_date__gt=through)
    for account_id, (d, c) in _sums(lines).items():
        d0, c0 = totals.get(account_id, (ZERO, ZERO))
        totals[account_id] = (d0 + d, c0 + c)
    return totals


def trial_balance(as_of: date, *, books: Books = ALL_BOOKS) -> TrialBalance:
    """Every account that has entries, with its debit or credit balance as of the date (of
    the books given: an office's, or every office's)."""
    sums = balances(as_of, books=books)
    accounts = Account.objects.in_bulk(list(sums))
    result = TrialBalance(as_of=as_of, rows=[])
    for account_id, (d, c) in sorted(sums.items(), key=lambda kv: accounts[kv[0]].code):
        row = Balance(accounts[account_id], d, c)
        result.rows.append(row)
        result.total_debit += row.debit_balance
        result.total_credit += row.credit_balance
    return result


@dataclass
class LedgerLine:
    line: JournalLine
    balance: Decimal  # running balance after the line, debit positive


@dataclass
class AccountLedger:
    account: Account
    date_from: date
    date_to: date
    opening: Decimal  # debit positive
    lines: list[LedgerLine] = field(default_factory=list)
    closing: Decimal = ZERO
    total_debit: Decimal = ZERO
    total_credit: Decimal = ZERO
    truncated: bool = False


MAX_LEDGER_LINES = 5000


def account_ledger(
    account: Account, date_from: date, date_to: date, *, books: Books = ALL_BOOKS
) -> AccountLedger:
    """The account's opening balance, its lines in the range with a running balance, and
    the closing balance. A range with more lines than a page can hold says so (`truncated`);
    the CSV has them all."""
    d, c = balances(date_from, before=True, books=books).get(account.pk, (ZERO, ZERO))
    result = AccountLedger(account, date_from, date_to, opening=d - c)
    lines = (
        books.lines(
            JournalLine.objects.filter(
                account=account, value_date__gte=date_from, value_date__lte=date_to
            )
        )
        .select_related("entry")
        .order_by("value_date", "entry_id", "id")
    )
    running = result.opening
    for line in lines.iterator(chunk_size=2000):
        running += line.debit - line.credit
        result.total_debit += line.debit
        result.total_credit += line.credit
        if len(result.lines) < MAX_LEDGER_LINES:
            result.lines.append(LedgerLine(line, running))
        else:
            result.truncated = True
    result.closing = running
    return result


def entries(
    *,
    date_from: date | None = None,
    date_to: date | None = None,
    account: Account | None = None,
    loan_id: int | None = None,
    books: Books = ALL_BOOKS,
) -> QuerySet[JournalEntry]:
    """Journal entries with their lines and accounts (two queries when iterated)."""
    qs = books.entries_of(JournalEntry.objects.all())
    if date_from is not None:
        qs = qs.filter(value_date__gte=date_from)
    if date_to is not None:
        qs = qs.filter(value_date__lte=date_to)
    if account is not None:
        qs = qs.filter(lines__account=account).distinct()
    if loan_id is not None:
        qs = qs.filter(loan_id=loan_id)
    lines = JournalLine.objects.select_related("account").order_by("id")
    return (
        qs.select_related("created_by")
        .prefetch_related(Prefetch("lines", queryset=lines))
        .order_by("value_date", "id")
    )


def entry_totals(qs: QuerySet[JournalEntry]) -> tuple[Decimal, Decimal]:
    sums = JournalLine.objects.filter(entry__in=qs.values("pk")).aggregate(
        d=Coalesce(Sum("debit"), ZERO), c=Coalesce(Sum("credit"), ZERO)
    )
    return cents(sums["d"]), cents(sums["c"])
