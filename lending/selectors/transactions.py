"""A loan's transactions for its page, with their journal entries: two queries whatever the
loan's history (the transactions; the entries' lines with their entries and accounts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ledger.models import JournalEntry, JournalLine
from lending.models import Loan, LoanTransaction


@dataclass
class EntryLines:
    entry: JournalEntry
    lines: list[JournalLine] = field(default_factory=list)


@dataclass
class TransactionRow:
    txn: LoanTransaction
    entries: list[EntryLines] = field(default_factory=list)


LOAN_PAGE_TRANSACTIONS = 25


@dataclass
class LoanTransactions:
    rows: list[TransactionRow]
    more: bool  # older transactions exist beyond the ones shown


def loan_transactions(
    *, loan: Loan, with_entries: bool, limit: int | None = LOAN_PAGE_TRANSACTIONS
) -> LoanTransactions:
    """The loan's latest transactions (all with `limit=None`) in value-date order (the
    replay's order: same day, the daily close's end-of-day charges after the payments, then
    booking order), each with the journal entries booked for it (its own, its reversal's, any
    replay corrections) when asked. Like its repayments, a loan paid weekly for years must
    not make its page slower: two queries, of at most `limit` transactions' rows."""
    latest = LoanTransaction.objects.filter(loan=loan).order_by("-value_date", "-end_of_day", "-id")
    found = list(latest if limit is None else latest[: limit + 1])
    more = limit is not None and len(found) > limit
    rows = [TransactionRow(t) for t in reversed(found[:limit] if limit is not None else found)]
    if not (with_entries and rows):
        return LoanTransactions(rows, more)
    # One query: every line of the shown transactions' entries, with its entry and account.
    lines = (
        JournalLine.objects.filter(entry__transaction_id__in=[row.txn.pk for row in rows])
        .select_related("entry", "account")
        .order_by("entry__value_date", "entry_id", "id")
    )
    by_entry: dict[int, EntryLines] = {}
    for line in lines:
        by_entry.setdefault(line.entry_id, EntryLines(line.entry)).lines.append(line)
    by_txn: dict[int, list[EntryLines]] = {}
    for item in by_entry.values():
        if item.entry.transaction_id is not None:
            by_txn.setdefault(item.entry.transaction_id, []).append(item)
    for row in rows:
        row.entries = by_txn.get(row.txn.pk, [])
    return LoanTransactions(rows, more)
