"""Booking loan transactions: the imperative shell around `lending.replay`.

Every money service (disbursement, repayment, settlement, reversal, write-off, the daily
close) books through here, inside its own transaction with the loan row locked:

- `post_in_order` applies one transaction to the stored state, when it is dated on or after
  everything the loan has booked (`Loan.incremental_from`): the common, fast case;
- `plan_replay` replays the whole loan with a transaction added or taken away and says what
  would change (the pages and the API show it before anything is stored, `dry_run`), and
  `store_replay` writes it: the new split of every later transaction, penalties added or
  taken back, installments, totals, and one journal entry per changed transaction for the
  difference.

Each transaction's journal entry is booked in the same database transaction
(`lending.journal` says which accounts, `ProductAccount` which account plays each role). A
fixed number of queries either way, whatever the loan's history.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from django.contrib.auth.models import User
from django.db import connection
from django.db.models import Exists, Max, Q, Subquery, Sum
from django.utils import timezone

from karo import rows
from ledger.models import BooksClosing
from ledger.services import EntrySpec, Posting, closed_through, journal_post_many
from lending import journal, replay
from lending.bulk import update_rows
from lending.models import (
    AccountingBasis,
    Allocation,
    DayClose,
    Installment,
    Loan,
    LoanTransaction,
    PenaltyType,
    ProductAccount,
    Repayment,
)
from lending.replay import Book, Effect, Kind, Line, Parts, Row, Txn

ZERO = Decimal("0.00")
PAID = Installment.Status.PAID
SPLIT_FIELDS = ["principal", "interest", "fees", "penalties"]
INSTALLMENT_FIELDS = [
    "penalties",
    "fees",
    "interest_waived",
    "principal_paid",
    "interest_paid",
    "fees_paid",
    "penalties_paid",
    "status",
    "paid_on",
    "penalty_applied_on",
    "penalties_charged",
]
LOAN_FIELDS = [
    "total_repayable",
    "total_paid",
    "total_waived",
    "outstanding",
    "overpaid",
    "days_past_due",
    "incremental_from",
    "interest_accrued",  # a daily close's accrual is saved with a replay it runs
    "updated_at",
]


# --- rows <-> replay ---------------------------------------------------------------------


def row_of(inst: Installment) -> Row:
    """The replay's view of a stored installment."""
    return Row(
        id=inst.pk,
        number=inst.number,
        due_date=inst.due_date,
        due=Parts(inst.principal, inst.interest, inst.fees, inst.penalties),
        paid=Parts(inst.principal_paid, inst.interest_paid, inst.fees_paid, inst.penalties_paid),
        waived=Parts(interest=inst.interest_waived),
        paid_on=inst.paid_on,
        penalised_on=inst.penalty_applied_on,
        penalties_charged=inst.penalties_charged,
    )


def schedule_row(inst: Installment) -> replay.ScheduleRow:
    """The installment as scheduled: charges (penalties) come from transactions."""
    return replay.ScheduleRow(
        id=inst.pk,
        number=inst.number,
        due_date=inst.due_date,
        principal=inst.principal,
        interest=inst.interest,
    )


def status_of(row: Row) -> str:
    if row.is_paid:
        return Installment.Status.PAID
    if row.paid.total > 0:
        return Installment.Status.PARTIAL
    return Installment.Status.DUE


def store_row(inst: Installment, row: Row) -> bool:
    """Copy a replayed row onto its installment; True when anything changed."""
    values = {
        "penalties": row.due.penalties,
        "fees": row.due.fees,
        "interest_waived": row.waived.interest,
        "principal_paid": row.paid.principal,
        "interest_paid": row.paid.interest,
        "fees_paid": row.paid.fees,
        "penalties_paid": row.paid.penalties,
        "status": status_of(row),
        "paid_on": row.paid_on if row.is_paid else None,
        "penalty_applied_on": row.penalised_on,
        "penalties_charged": row.penalties_charged,
    }
    changed = any(getattr(inst, k) != v for k, v in values.items())
    for k, v in values.items():
        setattr(inst, k, v)
    return changed


def txn_of(t: LoanTransaction, lines: Iterable[Allocation] = ()) -> Txn:
    """The replay's view of a stored transaction (charges and waivers carry their lines)."""
    return Txn(
        id=t.pk,
        kind=Kind(t.kind),
        value_date=t.value_date,
        amount=t.amount,
        lines=tuple(Line(a.installment_id, replay.parts_of(a)) for a in lines),
        end_of_day=t.end_of_day,
        penalty=t.is_penalty,
        deducted=t.fees if t.kind == Kind.DISBURSEMENT else ZERO,
        # An Admin's waiver (a settlement's comes with its repayment).
        reserved=t.kind == Kind.WAIVER and t.repayment_id is None,
    )


GIVEN_LINES = (Kind.CHARGE, Kind.WAIVER)  # whose lines are facts, not the replay's answer


# --- accounts and the journal ------------------------------------------------------------


def accounts_for(loan: Loan) -> dict[str, int]:
    """Role -> account id for the loan's product (its own mapping over the defaults)."""
    return posting_setup(loan)[0]


def posting_setup(loan: Loan) -> tuple[dict[str, int], date | None]:
    """What a posting needs from the ledger, in one query: the loan's accounts by role (its
    product's own mapping over the defaults) and the date the books are closed through."""
    closed = BooksClosing.objects.order_by("-through").values("through")[:1]
    mapping = (
        ProductAccount.objects.filter(Q(product=None) | Q(product_id=loan.product_id))
        .annotate(closed=Subquery(closed))
        .order_by()  # not the admin's order by product name: no join, no sort
        .values_list("role", "account_id", "product_id", "closed")
    )
    ordered = sorted(mapping, key=lambda r: r[2] is not None)  # defaults, then the product's
    accounts = {role: account_id for role, account_id, _product, _closed in ordered}
    return accounts, ordered[0][3] if ordered else None


@dataclass(frozen=True)
class PostingLock:
    """The locked loan and what a posting on it needs besides."""

    loan: Loan
    key_spent: bool  # a repayment already carries the posting's one-time key
    accounts: dict[str, int]
    closed_through: date | None


@cache
def _lock_for_posting_sql() -> str:
    quote = connection.ops.quote_name
    loan, repayment = quote(Loan._meta.db_table), quote(Repayment._meta.db_table)
    closings, mapping = quote(BooksClosing._meta.db_table), quote(ProductAccount._meta.db_table)
    # The mapping's rows as "role=account", the defaults first, so the product's own come
    # last and win when read into a dict.
    return (
        f"SELECT {rows.columns(Loan)}, "  # noqa: S608 (names from the models)
        f"EXISTS (SELECT 1 FROM {repayment} WHERE idempotency_key = %s), "
        f"(SELECT MAX(through) FROM {closings}), "
        f"(SELECT string_agg(role || '=' || account_id, ',' ORDER BY product_id NULLS FIRST) "
        f"FROM {mapping} WHERE product_id IS NULL OR product_id = {loan}.product_id) "
        f"FROM {loan} WHERE {loan}.id = %s FOR UPDATE OF {loan}"
    )


def lock_for_posting(loan_id: int, *, key: str | None) -> PostingLock:
    """Lock the loan for a posting and read, in the same statement on PostgreSQL, whether the
    posting's one-time key was spent, the loan's accounts and the date the books are closed
    through (elsewhere: the lock, then `posting_setup`). Every payment starts here.

    On PostgreSQL the statement's subqueries read as of before any wait for the lock: a key
    spent by the posting it waited for is found at the key's unique index instead, and a
    backdated posting reads the closed-books date again (see `lending.services.repayments`);
    an accounts mapping changed during the wait is one changed just after this posting."""
    if connection.vendor != "postgresql":
        spent = Exists(Repayment.objects.filter(idempotency_key=key or ""))
        loan = Loan.objects.select_for_update().annotate(key_spent=spent).get(pk=loan_id)
        return PostingLock(loan, bool(key) and loan.key_spent, *posting_setup(loan))
    with connection.cursor() as cursor:
        cursor.execute(_lock_for_posting_sql(), [key or "", loan_id])
        row = cursor.fetchone()
    if row is None:
        raise Loan.DoesNotExist(f"No loan {loan_id}.")
    *values, spent, through, mapping = row
    accounts = {}
    for pair in (mapping or "").split(","):
        if pair:
            role, account_id = pair.split("=")
            accounts[role] = int(account_id)
    return PostingLock(rows.from_row(Loan, values), bool(key) and spent, accounts, through)


def _postings(
    t: LoanTransaction | Txn,
    effect: Effect,
    accounts: dict[str, int],
    loan: Loan,
    sign: int,
    interest_recognised: Decimal | None = None,
) -> tuple[Posting, ...]:
    method = t.method if isinstance(t, LoanTransaction) else ""
    pairs = journal.postings(
        t.kind,
        effect.split,
        amount=t.amount,
        overpaid=effect.overpaid,
        method=method,
        basis=loan.accounting_basis,
        interest_recognised=interest_recognised,
    )
    return tuple(Posting(accounts[role], sign * amount) for role, amount in pairs if amount)


def _memo(t: LoanTransaction, loan: Loan, prefix: str = "") -> str:
    return f"{prefix}{t.get_kind_display()} on {loan.number}"


def entry_for(
    t: LoanTransaction,
    effect: Effect,
    *,
    loan: Loan,
    accounts: dict[str, int],
    source: str = "loan_transaction",
    sign: int = 1,
    prefix: str = "",
    interest_recognised: Decimal | None = None,
) -> EntrySpec:
    return EntrySpec(
        value_date=t.value_date,
        memo=_memo(t, loan, prefix),
        postings=_postings(t, effect, accounts, loan, sign, interest_recognised),
        source=source,
        transaction_id=t.pk,
        loan_id=loan.pk,
        office_id=t.office_id,
    )


def stored_effect(t: LoanTransaction) -> Effect:
    return Effect(t.split, (), t.overpaid, t.outstanding_after)


# --- checks ------------------------------------------------------------------------------


def penalty_rule(loan: Loan) -> replay.PenaltyRule | None:
    """The loan's late-penalty rule: its own copy of its product's rule as approved (None when
    it charges none). A product edited since does not change it."""
    if loan.penalty_type == PenaltyType.FLAT:
        if loan.penalty_amount <= 0:
            return None
        amounts: dict[str, Decimal] = {"flat": loan.penalty_amount}
    elif loan.penalty_type == PenaltyType.PERCENT:
        if loan.penalty_rate <= 0:
            return None
        amounts = {"percent": loan.penalty_rate}
    else:
        return None
    return replay.PenaltyRule(
        **amounts,
        grace_days=loan.penalty_grace_days,
        repeat_days=loan.penalty_repeat_days,
        max_times=loan.penalty_max_times,
        tolerance=loan.arrears_tolerance,
    )


def penalties_as_booked(loan: Loan) -> replay.Penalties | None:
    """A penalty rule that decides no day: the loan's charges stay as booked."""
    rule = penalty_rule(loan)
    return None if rule is None else replay.Penalties(rule, date.min)


def days_closed() -> tuple[date | None, date | None]:
    """The day penalties began (the day the first close ever run closed: closing an earlier
    day later does not move it) and the last day closed."""
    first = DayClose.objects.order_by("id").values_list("on", flat=True).first()
    return first, DayClose.objects.aggregate(last=Max("on"))["last"]


def penalties_for(
    loan: Loan, *, through: date | None = None, since: date | None = None
) -> replay.Penalties | None:
    """How a replay of `loan` decides its late penalties (None: its product charges none or
    no close has run yet). The daily close passes the day it closes and the first day closed."""
    rule = penalty_rule(loan)
    if rule is None:
        return None
    if through is None or since is None:
        first, last = days_closed()
        through = through or last
        since = since or first
    if through is None:
        return None
    books_closed = closed_through()
    open_from = books_closed + timedelta(days=1) if books_closed else None
    return replay.Penalties(rule, through, since, open_from)


# --- posting in order --------------------------------------------------------------------


@dataclass
class Booked:
    """A transaction stored by `post_in_order` with what it did."""

    txn: LoanTransaction
    effect: Effect
    allocations: list[Allocation]


def is_in_order(loan: Loan, value_date: date) -> bool:
    return loan.incremental_from is None or value_date >= loan.incremental_from


@cache
def _unpaid_sql() -> str:
    quote = connection.ops.quote_name
    table = quote(Installment._meta.db_table)
    return (
        f"SELECT {rows.columns(Installment)} FROM {table} "  # noqa: S608 (names from the models)
        f"WHERE loan_id = %s AND status <> %s ORDER BY due_date, number"
    )


def unpaid_installments(loan: Loan) -> list[Installment]:
    """The loan's installments not paid in full, in the order a payment pays them: all that a
    payment in date order can touch (`open_book`)."""
    with connection.cursor() as cursor:
        cursor.execute(_unpaid_sql(), [loan.pk, PAID])
        return [rows.from_row(Installment, values) for values in cursor.fetchall()]


def open_book(loan: Loan, installments: list[Installment]) -> Book:
    """The loan's stored state as a replay book (only the rows given: the unpaid ones are
    all a payment in order can touch)."""
    return Book(
        rows=[row_of(inst) for inst in installments],
        total_repayable=loan.total_repayable,
        total_paid=loan.total_paid,
        total_waived=loan.total_waived,
        overpaid=loan.overpaid,
        order=loan.prepayment_order,
    )


def new_txn(
    kind: Kind,
    value_date: date,
    amount: Decimal,
    lines: tuple[Line, ...] = (),
    *,
    deducted: Decimal = ZERO,
) -> Txn:
    """A transaction not stored yet, as the replay sees it (it sorts after the stored ones)."""
    return Txn(replay.NEW_ID, kind, value_date, amount, lines, deducted=deducted)


def store_in_order(
    *,
    loan: Loan,
    installments: list[Installment],
    book: Book,
    effect: Effect,
    fields: dict[str, Any],
    user: User | None,
    accounts: dict[str, int],
    interest_recognised: Decimal | None = None,
) -> Booked:
    """Store a transaction `book.apply` just applied in order (the book was built from
    `installments` by `open_book`): its row, allocations, the installments it changed and its
    journal entry. The caller saves the loan (`save_loan_totals`) once its action is booked."""
    stored = LoanTransaction.objects.create(
        loan=loan,
        office_id=loan.office_id,
        booked_by=user,
        **fields,
        **effect.split.as_dict(),
        overpaid=effect.overpaid,
        outstanding_after=effect.outstanding_after,
    )
    allocations = Allocation.objects.bulk_create(
        [
            Allocation(
                transaction=stored, installment_id=line.installment_id, **line.parts.as_dict()
            )
            for line in effect.lines
        ]
    )
    changed = [inst for inst in installments if store_row(inst, book.row(inst.pk))]
    if len(changed) == 1:  # the usual case; a bulk update costs more than a save
        changed[0].save(update_fields=INSTALLMENT_FIELDS)
    else:
        update_rows(changed, INSTALLMENT_FIELDS)
    entry = entry_for(
        stored, effect, loan=loan, accounts=accounts, interest_recognised=interest_recognised
    )
    journal_post_many([entry], user=user)
    day = stored.value_date + timedelta(days=1 if stored.end_of_day else 0)
    if loan.incremental_from is None or day > loan.incremental_from:
        loan.incremental_from = day
    return Booked(stored, effect, allocations)


def accrual_txn(loan: Loan, *, on: date, amount: Decimal, user: User | None) -> LoanTransaction:
    """An accrual (accrual basis): interest recognised as income at the end of `on` (negative:
    recognised before and taken back). Not saved; the caller stores it with its entry."""
    loan.interest_accrued += amount
    day = on + timedelta(days=1)
    if loan.incremental_from is None or day > loan.incremental_from:
        loan.incremental_from = day
    return LoanTransaction(
        loan=loan,
        office_id=loan.office_id,
        kind=Kind.ACCRUAL,
        value_date=on,
        booked_by=user,
        amount=amount,
        interest=amount,
        end_of_day=True,
        outstanding_after=loan.outstanding,
    )


def accrue_on_closing(loan: Loan, *, on: date, user: User | None) -> None:
    """An accrual-basis loan that closes has earned exactly the interest it paid: the accrual
    is trued up to it (early settlement waives interest the daily close had not accrued yet,
    or had accrued ahead of the payoff's day count)."""
    if loan.accounting_basis != AccountingBasis.ACCRUAL:
        return
    paid = Installment.objects.filter(loan=loan).aggregate(s=Sum("interest_paid"))["s"] or ZERO
    if paid == loan.interest_accrued:
        return
    txn = accrual_txn(loan, on=on, amount=paid - loan.interest_accrued, user=user)
    txn.save()
    journal_post_many([entry_for(txn, stored_effect(txn), loan=loan, accounts=accounts_for(loan))])
    loan.save(update_fields=["interest_accrued", "incremental_from", "updated_at"])


def save_loan_totals(loan: Loan, book: Book, *, today: date | None = None) -> None:
    """The loan row after its book changed (status changes go through the transitions)."""
    loan.total_repayable = book.total_repayable
    loan.total_paid = book.total_paid
    loan.total_waived = book.total_waived
    loan.outstanding = book.outstanding
    loan.overpaid = book.overpaid
    loan.days_past_due = book.days_past_due(today or timezone.localdate(), loan.arrears_tolerance)
    loan.save(update_fields=LOAN_FIELDS)


# --- replaying ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """A stored transaction whose split the replay changes (its allocation lines too when
    `lines_changed`; a later payment often keeps its lines and only owes a different balance
    after it)."""

    txn: LoanTransaction
    before: Effect
    after: Effect
    lines_changed: bool = False

    def as_dict(self) -> dict[str, Any]:
        def split(e: Effect) -> dict[str, str]:
            return {
                **{k: str(v) for k, v in e.split.as_dict().items()},
                "overpaid": str(e.overpaid),
                "outstanding_after": str(e.outstanding_after),
            }

        return {
            "transaction_id": self.txn.pk,
            "kind": self.txn.kind,
            "value_date": self.txn.value_date.isoformat(),
            "before": split(self.before),
            "after": split(self.after),
        }


@dataclass
class Plan:
    """What replaying a loan with one transaction added or taken away would change; stored
    by `store_replay` or shown as it is (dry run)."""

    loan: Loan
    installments: list[Installment]
    stored: list[LoanTransaction]  # the non-reversed transactions before the action
    lines: dict[int, list[Allocation]]
    replayed: replay.Replayed
    removed: set[int]
    new: Txn | None
    changes: list[Change] = field(default_factory=list)
    loan_before: dict[str, Any] = field(default_factory=dict)
    loan_after: dict[str, Any] = field(default_factory=dict)

    @property
    def book(self) -> Book:
        return self.replayed.book

    @property
    def new_effect(self) -> Effect | None:
        return self.replayed.effects.get(replay.NEW_ID) if self.new else None

    @property
    def penalties_added(self) -> list[Txn]:
        return self.replayed.penalties_added

    @property
    def penalties_taken_back(self) -> list[LoanTransaction]:
        back = set(self.replayed.penalties_taken_back)
        return [t for t in self.stored if t.pk in back]

    def as_dict(self) -> dict[str, Any]:
        return {
            "changes": [c.as_dict() for c in self.changes],
            "loan_before": self.loan_before,
            "loan_after": self.loan_after,
            "penalties_added": [
                {
                    "installment_id": t.lines[0].installment_id,
                    "value_date": t.value_date.isoformat(),
                    "amount": str(t.amount),
                }
                for t in self.penalties_added
            ],
            "penalties_taken_back": [
                {
                    "transaction_id": t.pk,
                    "value_date": t.value_date.isoformat(),
                    "amount": str(t.amount),
                }
                for t in self.penalties_taken_back
            ],
        }


def _loan_view(
    *,
    outstanding: Decimal,
    total_paid: Decimal,
    total_repayable: Decimal,
    overpaid: Decimal,
    days_past_due: int,
    status: str,
) -> dict[str, Any]:
    return {
        "status": status,
        "total_repayable": str(total_repayable),
        "total_paid": str(total_paid),
        "outstanding": str(outstanding),
        "overpaid": str(overpaid),
        "days_past_due": days_past_due,
    }


def status_after(loan: Loan, book: Book) -> str:
    if loan.status in (Loan.Status.ACTIVE, Loan.Status.CLOSED):
        return Loan.Status.CLOSED if book.outstanding == 0 else Loan.Status.ACTIVE
    return loan.status


def plan_replay(
    *,
    loan: Loan,
    add: Txn | None = None,
    remove: Iterable[int] = (),
    today: date | None = None,
    penalties: replay.Penalties | None = None,
) -> Plan:
    """Replay the (locked) loan with `add` (id `replay.NEW_ID`) booked and the stored
    transactions `remove` taken away, deciding late penalties again (by `penalties`, default
    `penalties_for(loan)`). Reads in a fixed number of queries."""
    today = today or timezone.localdate()
    removed = set(remove)
    installments = list(Installment.objects.filter(loan=loan).order_by("due_date", "number"))
    stored = list(
        LoanTransaction.objects.filter(loan=loan, reversed_at=None).order_by(
            "value_date", "end_of_day", "id"
        )
    )
    lines: dict[int, list[Allocation]] = defaultdict(list)
    current = Allocation.objects.filter(
        transaction__loan=loan, transaction__reversed_at=None, superseded_at=None
    )
    for a in current:
        lines[a.transaction_id].append(a)
    txns = [
        txn_of(t, lines[t.pk] if t.kind in GIVEN_LINES else ())
        for t in stored
        if t.pk not in removed
    ]
    if add is not None:
        txns.append(add)
    assert loan.disbursement_date is not None
    result = replay.replay(
        [schedule_row(i) for i in installments],
        loan.disbursement_date,
        txns,
        penalties=penalties or penalties_for(loan),
        order=loan.prepayment_order,
    )
    plan = Plan(loan, installments, stored, lines, result, removed, add)
    for t in stored:
        after = result.effects.get(t.pk)
        if after is None:
            continue
        before = stored_effect(t)
        lines_changed = _lines_changed(t, after, lines)
        if lines_changed or (after.split, after.overpaid, after.outstanding_after) != (
            before.split,
            before.overpaid,
            before.outstanding_after,
        ):
            plan.changes.append(Change(t, before, after, lines_changed))
    plan.loan_before = _loan_view(
        outstanding=loan.outstanding,
        total_paid=loan.total_paid,
        total_repayable=loan.total_repayable,
        overpaid=loan.overpaid,
        days_past_due=loan.days_past_due,
        status=loan.status,
    )
    book = result.book
    plan.loan_after = _loan_view(
        outstanding=book.outstanding,
        total_paid=book.total_paid,
        total_repayable=book.total_repayable,
        overpaid=book.overpaid,
        days_past_due=book.days_past_due(today, loan.arrears_tolerance) if book.outstanding else 0,
        status=status_after(loan, book),
    )
    return plan


def _lines_changed(t: LoanTransaction, after: Effect, lines: dict[int, list[Allocation]]) -> bool:
    if t.kind in GIVEN_LINES:
        return False
    old = {(a.installment_id, replay.parts_of(a)) for a in lines.get(t.pk, [])}
    return old != {(line.installment_id, line.parts) for line in after.lines}


def store_replay(
    plan: Plan,
    *,
    user: User | None,
    reason: str,
    accounts: dict[str, int],
    new_fields: dict[str, Any] | None = None,
    today: date | None = None,
) -> LoanTransaction | None:
    """Write what `plan` replayed: the new transaction (from `new_fields`), the changed
    splits with a journal entry each for the difference, penalties added and taken back, the
    installments and the loan's totals. The caller has marked the removed transactions
    reversed (and books their mirror entries with `mirror_entries`)."""
    loan = plan.loan
    now = timezone.now()
    entries: list[EntrySpec] = []
    new_row: LoanTransaction | None = None
    new_allocations: list[Allocation] = []
    if plan.new is not None and new_fields is not None:
        effect = plan.new_effect
        assert effect is not None
        new_row = LoanTransaction.objects.create(
            loan=loan,
            office_id=loan.office_id,
            booked_by=user,
            **new_fields,
            **effect.split.as_dict(),
            overpaid=effect.overpaid,
            outstanding_after=effect.outstanding_after,
        )
        new_allocations += [
            Allocation(
                transaction=new_row, installment_id=line.installment_id, **line.parts.as_dict()
            )
            for line in effect.lines
        ]
        entries.append(entry_for(new_row, effect, loan=loan, accounts=accounts))

    for change in plan.changes:
        t = change.txn
        difference = Effect(
            change.after.split - change.before.split,
            (),
            change.after.overpaid - change.before.overpaid,
            ZERO,
        )
        for name, value in change.after.split.as_dict().items():
            setattr(t, name, value)
        t.overpaid = change.after.overpaid
        t.outstanding_after = change.after.outstanding_after
        t.split_changed_at = now
        t.split_change_reason = reason[:300]
        if change.lines_changed:
            new_allocations += [
                Allocation(
                    transaction=t,
                    installment_id=line.installment_id,
                    as_booked=False,  # the receipt keeps printing the split as booked
                    **line.parts.as_dict(),
                )
                for line in change.after.lines
            ]
        if difference.split == Parts() and not difference.overpaid:
            continue  # only the balance after it moved: no money moves between accounts
        entries.append(
            EntrySpec(
                value_date=t.value_date,
                memo=f"Replay: {t.get_kind_display().lower()} on {loan.number} re-split ({reason})",
                postings=_difference_postings(t, difference, accounts, loan),
                source="replay",
                transaction_id=t.pk,
                loan_id=loan.pk,
                office_id=t.office_id,
            )
        )
    rewritten = [c.txn.pk for c in plan.changes if c.lines_changed]
    if rewritten:
        Allocation.objects.filter(transaction_id__in=rewritten, superseded_at=None).update(
            superseded_at=now
        )
    update_rows(
        [c.txn for c in plan.changes],
        [*SPLIT_FIELDS, "overpaid", "outstanding_after", "split_changed_at", "split_change_reason"],
    )

    taken_back = plan.penalties_taken_back
    for t in taken_back:
        t.reversed_at = now
        t.reversed_by = user  # type: ignore[assignment]
        t.reversal_reason = f"Taken back by the replay: {reason}"[:300]
        entries.append(
            entry_for(
                t,
                stored_effect(t),
                loan=loan,
                accounts=accounts,
                source="reversal",
                sign=-1,
                prefix="Reversal of ",
            )
        )
    update_rows(taken_back, ["reversed_at", "reversed_by", "reversal_reason"])

    if plan.penalties_added:
        added = LoanTransaction.objects.bulk_create(
            [
                LoanTransaction(
                    loan=loan,
                    office_id=loan.office_id,
                    kind=Kind.CHARGE,
                    value_date=t.value_date,
                    booked_by=user,
                    amount=t.amount,
                    penalties=t.amount,
                    end_of_day=True,
                    outstanding_after=plan.replayed.effects[t.id].outstanding_after,
                )
                for t in plan.penalties_added
            ]
        )
        for charge, penalty in zip(added, plan.penalties_added, strict=True):
            new_allocations.append(
                Allocation(
                    transaction=charge,
                    installment_id=penalty.lines[0].installment_id,
                    penalties=penalty.amount,
                )
            )
            effect = plan.replayed.effects[penalty.id]
            entries.append(entry_for(charge, effect, loan=loan, accounts=accounts))
    Allocation.objects.bulk_create(new_allocations, batch_size=1000)
    journal_post_many(entries, user=user)

    book = plan.book
    changed = [inst for inst in plan.installments if store_row(inst, book.row(inst.pk))]
    update_rows(changed, INSTALLMENT_FIELDS)
    live = [
        txn_of(t)
        for t in [*plan.stored, *([new_row] if new_row else [])]
        if t.pk not in plan.removed and t.pk not in {b.pk for b in taken_back}
    ]
    live += plan.penalties_added
    loan.incremental_from = replay.incremental_from(live)
    save_loan_totals(loan, book, today=today)
    return new_row


def _difference_postings(
    t: LoanTransaction, difference: Effect, accounts: dict[str, int], loan: Loan
) -> tuple[Posting, ...]:
    """The entry that turns the booked split into the replayed one: the money in or out is
    unchanged (it nets to zero on the fund account), only its components move."""
    pairs = journal.postings(
        t.kind,
        difference.split,
        amount=difference.split.total + difference.overpaid,
        overpaid=difference.overpaid,
        method=t.method,
        basis=loan.accounting_basis,
    )
    return tuple(Posting(accounts[role], amount) for role, amount in pairs if amount)


def mirror_entries(
    txns: Iterable[LoanTransaction],
    *,
    loan: Loan,
    accounts: dict[str, int],
    user: User | None,
    interest_recognised: Decimal | None = None,
) -> None:
    """Book the mirror of each reversed transaction's entry, as it stands (its own entry plus
    any replay corrections), dated on its value date. `interest_recognised`: for an
    accrual-basis write-off, the interest its entry wrote off (see `journal.postings`)."""
    journal_post_many(
        [
            entry_for(
                t,
                stored_effect(t),
                loan=loan,
                accounts=accounts,
                source="reversal",
                sign=-1,
                prefix="Reversal of ",
                interest_recognised=interest_recognised,
            )
            for t in txns
        ],
        user=user,
    )


def replay_differences(loan: Loan) -> list[str]:
    """Where the stored state of `loan` differs from a fresh replay of its transactions
    (empty when they agree): the one definition of a loan's state, checked by the tests and
    by `check_money --replay`."""
    installments = list(Installment.objects.filter(loan=loan).order_by("due_date", "number"))
    stored = list(LoanTransaction.objects.filter(loan=loan, reversed_at=None))
    lines: dict[int, list[Allocation]] = defaultdict(list)
    for a in Allocation.objects.filter(
        transaction__loan=loan, transaction__reversed_at=None, superseded_at=None
    ):
        lines[a.transaction_id].append(a)
    if loan.disbursement_date is None:
        return [f"{loan.number}: has transactions but no disbursement"] if stored else []
    result = replay.replay(
        [schedule_row(i) for i in installments],
        loan.disbursement_date,
        [txn_of(t, lines[t.pk] if t.kind in GIVEN_LINES else ()) for t in stored],
        order=loan.prepayment_order,
    )
    book, problems = result.book, []
    for inst in installments:
        row = book.row(inst.pk)
        expected = Installment(pk=inst.pk)
        for name in INSTALLMENT_FIELDS:
            setattr(expected, name, getattr(inst, name))
        if store_row(expected, row):
            problems.append(f"{loan.number} installment {inst.number}: stored differs from replay")
    for t in stored:
        effect = result.effects[t.pk]
        if (effect.split, effect.overpaid, effect.outstanding_after) != (
            t.split,
            t.overpaid,
            t.outstanding_after,
        ) or _lines_changed(t, effect, lines):
            problems.append(f"{loan.number} transaction {t.pk} ({t.kind}): split differs")
    totals = {
        "total_repayable": book.total_repayable,
        "total_paid": book.total_paid,
        "total_waived": book.total_waived,
        "outstanding": book.outstanding,
        "overpaid": book.overpaid,
    }
    for name, value in totals.items():
        if getattr(loan, name) != value:
            problems.append(f"{loan.number} {name}: stored {getattr(loan, name)}, replay {value}")
    open_or_closed = loan.status in (Loan.Status.ACTIVE, Loan.Status.CLOSED)
    if open_or_closed and (loan.status == Loan.Status.CLOSED) != (book.outstanding == 0):
        problems.append(f"{loan.number}: status {loan.status}, replay owes {book.outstanding}")
    accrued = sum((t.amount for t in stored if t.kind == Kind.ACCRUAL), ZERO)
    if accrued != loan.interest_accrued:
        problems.append(f"{loan.number}: interest_accrued {loan.interest_accrued} != {accrued}")
    if loan.incremental_from != replay.incremental_from(txn_of(t) for t in stored):
        problems.append(f"{loan.number}: incremental_from {loan.incremental_from} is stale")
    return problems
