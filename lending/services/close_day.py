"""The daily close (`manage.py close_day`): days past due and late penalties, as of one date.

As of date D, an installment is overdue when its due date is before D and it is not paid in
full (the status needs no flag: it is derived from the due date wherever it is shown). The close:

- records on each active loan `days_past_due` = D - due date of its oldest installment past
  due and owing more than the loan's arrears tolerance (0 when none), and resets it to 0 on
  closed loans;
- charges each loan's late penalty by the rule the replay uses (`lending.replay.Penalties`),
  the loan's frozen copy of its product's rule: an installment still owing more than the
  loan's arrears tolerance at the end of a penalty day (due date + `penalty_grace_days` + 1,
  then every `penalty_repeat_days` days, `penalty_max_times` at most; a day before the first
  day the close ever ran falls on that day) owes a penalty for that day. A close decides the
  penalty days from the day after the previous close through D, so a close that skipped days
  catches up, and each day is decided once. The penalty is the flat amount, or the percent of
  the installment's unpaid principal + interest, rounded to cents with ROUND_HALF_EVEN; it is
  a charge transaction booked at the end of its day, added to `Installment.penalties` (later
  payments pay it first) and to the loan's totals. `Installment.penalty_applied_on` (the
  latest penalty day charged) is the guard that makes the close idempotent: running it twice
  for the same date changes nothing (each run still writes its own DAY_CLOSED audit entry).
- A loan with something booked after a penalty day (a payment typed before the close ran, a
  close run for a past day) cannot be decided on its stored state: it is replayed under its
  lock with the rule, which charges what was owed as of its day and re-splits what came after.
- books the day's interest accruals of accrual-basis loans.

Set-wise: loans are taken in batches (by id), each batch in its own short transaction that
locks the batch's loan rows with `select_for_update` (a cashier posting to one of them waits,
and vice versa, so no update is lost), reads their overdue installments in one query and
writes with set-wise statements (`lending.bulk.update_rows`, bulk inserts). A fixed number of
queries per batch, never one per loan or installment (loans that need a replay, rare in a daily
run, are replayed one by one). Batches commit one by one so cashiers are never
blocked for the whole run; a run that stops half way is completed by running it again.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from ledger.services import check_open, closed_through, journal_post_many
from lending import replay
from lending.audit import audit_checkpoint, audit_record
from lending.bulk import update_rows
from lending.models import (
    AccountingBasis,
    Allocation,
    AuditCheckpoint,
    AuditLog,
    DayClose,
    Installment,
    Loan,
    LoanProduct,
    LoanTransaction,
)
from lending.receivers import forget_portfolio
from lending.replay import Kind
from lending.services import transactions as books
from lending.signals import loans_changed

CENT = Decimal("0.01")
ZERO = Decimal("0.00")
DEFAULT_BATCH_SIZE = 1000
ONE_DAY = timedelta(days=1)

Progress = Callable[[int, int], None]


@dataclass
class DayCloseResult:
    """What one run did; also the details of its audit entry."""

    on: date
    loans_checked: int = 0
    loans_overdue: int = 0
    installments_overdue: int = 0
    days_past_due_updated: int = 0
    closed_loans_reset: int = 0
    penalties_applied: int = 0
    loans_penalised: int = 0
    penalty_total: Decimal = ZERO
    interest_accrued: Decimal = ZERO  # accrual-basis loans: interest recognised by this run
    batches: int = 0
    penalised_loan_ids: list[int] = field(default_factory=list, repr=False)


def penalty_for(rule: replay.PenaltyRule, installment: Installment) -> Decimal:
    """The late penalty `rule` charges on `installment` as it stands: the flat amount, or the
    percent of its unpaid principal + interest."""
    return rule.amount(books.row_of(installment))


@dataclass
class _Charge:
    """One late penalty the close books: an installment, its penalty day, the amount, and the
    loan's outstanding once it is added (in the replay's order: by day)."""

    installment: Installment
    day: date
    amount: Decimal
    outstanding_after: Decimal = ZERO


def _in_replay_order(charges: list[_Charge], by_id: dict[int, Loan]) -> list[_Charge]:
    """The charges by loan and day (the order the replay applies them, and so the order of
    their ids), each with the loan's outstanding after it."""
    ordered = sorted(charges, key=lambda c: (c.installment.loan_id, c.day))
    running = {loan_id: loan.outstanding for loan_id, loan in by_id.items()}
    for charge in charges:
        running[charge.installment.loan_id] -= charge.amount  # back to before the first
    for charge in ordered:
        running[charge.installment.loan_id] += charge.amount
        charge.outstanding_after = running[charge.installment.loan_id]
    return ordered


@dataclass(frozen=True)
class Window:
    """Which penalty days a close decides. An installment unpaid now whose penalty day is on
    or before the day it closes (`on`) and not decided yet is decided now (a loan disbursed
    with a past date has such days before the previous close). Installments paid after their
    penalty day are looked for only from the day after the previous close (`start`; None on
    the first close): earlier days were decided by earlier closes. `since` is the day the
    first close ever run closed (an installment late before it is decided on that day)."""

    on: date
    since: date
    start: date | None
    open_from: date | None = None  # the first day the books are open: earlier ones are final

    def decides(self, day: date) -> bool:
        return day <= self.on and (self.open_from is None or day >= self.open_from)

    def decides_paid(self, day: date) -> bool:
        return self.decides(day) and (self.start is None or day >= self.start)


def _window(on: date) -> Window:
    first, _last = books.days_closed()
    previous = DayClose.objects.filter(on__lt=on).aggregate(last=Max("on"))["last"]
    books_closed = closed_through()
    return Window(
        on=on,
        since=first or on,
        start=previous + ONE_DAY if previous else None,
        open_from=books_closed + ONE_DAY if books_closed else None,
    )


def _paid_late(
    by_id: dict[int, Loan], rules: dict[int, replay.PenaltyRule], window: Window
) -> set[int]:
    """Loans with an installment paid in full after one of its penalty days in the window
    that was not charged: it was late that day, so the penalty is owed, charged by replaying
    the loan."""
    if not rules:
        return set()
    longest = max(r.grace_days + 1 + r.repeat_days * (r.times - 1) for r in rules.values())
    # On the first close every penalty day is decided on the day closed (`since`), and
    # nothing was paid after it: the query finds nothing, but runs, so a close always costs
    # the same statements.
    start = window.start or window.on
    candidates = Installment.objects.filter(
        loan_id__in=list(rules),
        status=Installment.Status.PAID,
        due_date__gte=start - timedelta(days=longest),
        due_date__lt=window.on,
        paid_on__gt=F("due_date"),
    ).only("id", "loan_id", "due_date", "paid_on", "penalty_applied_on")
    late = set()
    for installment in candidates:
        paid_on = installment.paid_on
        assert paid_on is not None
        applied = installment.penalty_applied_on
        rule = rules[installment.loan_id]
        for day in replay.penalty_days(rule, installment.due_date, window.since):
            if (applied is None or day > applied) and window.decides_paid(day) and paid_on > day:
                late.add(installment.loan_id)
                break
    return late


def _replay_for_penalties(
    loans: list[Loan], window: Window, result: DayCloseResult, user: User | None
) -> list[dict[str, Any]]:
    """Loans whose penalties the close cannot decide on the stored state (something is
    booked after the penalty day): each is replayed under its lock with the penalty rule,
    which charges what was owed as of its day and re-splits what came after."""
    _first, last = books.days_closed()
    through = max(window.on, last) if last is not None else window.on
    replayed = []
    for loan in loans:
        rule = books.penalty_rule(loan)
        assert rule is not None
        before = loan.total_repayable
        penalties = replay.Penalties(rule, through, window.since, window.open_from)
        plan = books.plan_replay(loan=loan, penalties=penalties)
        books.store_replay(
            plan,
            user=user,
            reason=f"daily close of {window.on:%d %b %Y}",
            accounts=books.accounts_for(loan),
            today=window.on,  # days past due as of the day closed, like the other loans
        )
        added = plan.penalties_added
        result.penalties_applied += len(added)
        result.penalty_total += sum((t.amount for t in added), ZERO)
        if loan.total_repayable != before:
            result.penalised_loan_ids.append(loan.pk)
            result.loans_penalised += 1
        replayed.append({"loan": loan.number, **plan.as_dict()})
    return replayed


def _close_batch(
    loans: list[Loan],
    *,
    on: date,
    products: dict[int, LoanProduct] | None = None,
    result: DayCloseResult,
    user: User | None,
    window: Window | None = None,
) -> None:
    """Inside the batch's transaction, with `loans` locked. The penalties a batch charges are
    audited in that same transaction, one entry per batch listing each charge.

    Each loan's penalty rule and arrears tolerance are its own frozen copy of its product's
    (`books.penalty_rule`); `products` is no longer read and stays only so that callers that
    run the close in batches of their own keep working."""
    window = window or _window(on)
    by_id = {loan.pk: loan for loan in loans}
    rules = {pk: rule for pk, loan in by_id.items() if (rule := books.penalty_rule(loan))}
    booked_from = {loan.pk: loan.incremental_from for loan in loans}  # before this close
    to_replay = _paid_late(by_id, rules, window)
    overdue = (
        Installment.objects.filter(loan_id__in=list(by_id), due_date__lt=on)
        .exclude(status=Installment.Status.PAID)
        .only(
            "id",
            "loan_id",
            "number",
            "due_date",
            "principal",
            "interest",
            "fees",
            "penalties",
            "interest_waived",
            "principal_paid",
            "interest_paid",
            "fees_paid",
            "penalties_paid",
            "paid_on",
            "penalty_applied_on",
            "penalties_charged",
        )
        .order_by("loan_id", "due_date", "number")
    )
    oldest: dict[int, date] = {}
    charges: list[_Charge] = []
    penalised: dict[int, Installment] = {}
    money_changed: set[int] = set()
    for installment in overdue:
        loan = by_id[installment.loan_id]
        row = books.row_of(installment)
        late = row.remaining.total > loan.arrears_tolerance
        if late:
            result.installments_overdue += 1
            oldest.setdefault(loan.pk, installment.due_date)
        rule = rules.get(loan.pk)
        if rule is None or loan.pk in to_replay:
            continue
        applied = installment.penalty_applied_on
        # Days an earlier close decided "not late" (within tolerance) are not decided again.
        decides = window.decides if late else window.decides_paid
        pending = [
            day
            for day in replay.penalty_days(rule, installment.due_date, window.since)
            if (applied is None or day > applied) and decides(day)
        ]
        if not pending:
            continue
        if (booked_from[loan.pk] or pending[0]) > pending[0]:
            to_replay.add(loan.pk)  # booked after its penalty day: decided by a replay
            continue
        if not late:
            continue
        for day in pending:
            # Nothing is booked after `day`: the installment stands as it did then (a
            # penalty does not change the unpaid principal + interest it is counted on).
            amount = rule.amount(row)
            if amount <= 0:
                break
            row.due += replay.Parts(penalties=amount)
            installment.penalties += amount
            installment.penalty_applied_on = day
            installment.penalties_charged += 1
            penalised[installment.pk] = installment
            loan.total_repayable += amount
            loan.outstanding += amount
            money_changed.add(loan.pk)
            charges.append(_Charge(installment, day, amount))
            # Charged at the end of its day: a payment dated on or before it replays the loan.
            loan.incremental_from = max(filter(None, [loan.incremental_from, day + ONE_DAY]))
            result.penalties_applied += 1
            result.penalty_total += amount

    if charges:
        charges = _in_replay_order(charges, by_id)
        update_rows(
            list(penalised.values()), ["penalties", "penalty_applied_on", "penalties_charged"]
        )
        _book_charges(charges, by_id=by_id, user=user)
    # Accrued after the charges are booked: an accrual of a day counts after its charges (it
    # is booked later), and its balance after includes them.
    accrued = _accrue(loans, on=on, result=result, user=user)
    now = timezone.now()
    changed: list[Loan] = []
    for loan in loans:
        days = (on - oldest[loan.pk]).days if loan.pk in oldest else 0
        dpd_changed = days != loan.days_past_due
        if dpd_changed:
            loan.days_past_due = days
            result.days_past_due_updated += 1
        if loan.pk in to_replay:
            continue  # saved by its replay
        if dpd_changed or loan.pk in money_changed or loan.pk in accrued:
            loan.updated_at = now
            changed.append(loan)
    result.loans_checked += len(loans)
    result.loans_overdue += len(oldest)
    result.loans_penalised += len(money_changed)
    result.penalised_loan_ids.extend(sorted(money_changed))

    replayed = _replay_for_penalties([by_id[pk] for pk in sorted(to_replay)], window, result, user)
    if charges or replayed:
        audit_record(
            action=AuditLog.Action.PENALTIES_APPLIED,
            user=user,
            details={
                "on": on,
                "penalties": [
                    {
                        "loan": by_id[charge.installment.loan_id].number,
                        "installment_id": charge.installment.pk,
                        "due_date": charge.installment.due_date,
                        "day": charge.day,
                        "amount": str(charge.amount),
                    }
                    for charge in charges
                ],
                "replayed": replayed,
            },
        )
    update_rows(
        changed,
        [
            "days_past_due",
            "total_repayable",
            "outstanding",
            "interest_accrued",
            "incremental_from",
            "updated_at",
        ],
    )
    if money_changed:
        loans_changed.send(sender=Loan, loan_ids=sorted(money_changed), event="penalty")


def _accrue(loans: list[Loan], *, on: date, result: DayCloseResult, user: User | None) -> set[int]:
    """Accrual basis: book each loan's interest earned through `on` that is not yet
    recognised (one accrual per loan and close, so a close that skipped days catches up; a
    second run for the same day finds nothing to add). Returns the loans accrued."""
    accruing = {loan.pk: loan for loan in loans if loan.accounting_basis == AccountingBasis.ACCRUAL}
    if not accruing:
        return set()
    rows: dict[int, list[replay.Row]] = defaultdict(list)
    for inst in Installment.objects.filter(loan_id__in=list(accruing)).only(
        "id", "loan_id", "number", "due_date", "interest", "interest_waived"
    ):
        rows[inst.loan_id].append(
            replay.Row(
                id=inst.pk,
                number=inst.number,
                due_date=inst.due_date,
                due=replay.Parts(interest=inst.interest),
                waived=replay.Parts(interest=inst.interest_waived),
            )
        )
    # A loan with something booked after `on` (a close run late for a past day): the accrual
    # counts at the end of `on`, so its balance after is the loan's as of then, not today's
    # (what a replay gives it). One query, for those loans only.
    later = [
        pk
        for pk, loan in accruing.items()
        if loan.incremental_from is not None and loan.incremental_from > on + ONE_DAY
    ]
    balance_then: dict[int, Decimal] = {}
    if later:
        for loan_id, outstanding in (
            LoanTransaction.objects.filter(loan_id__in=later, reversed_at=None, value_date__lte=on)
            .order_by("loan_id", "-value_date", "-end_of_day", "-id")
            .values_list("loan_id", "outstanding_after")
        ):
            balance_then.setdefault(loan_id, outstanding)
    txns: list[LoanTransaction] = []
    for loan in accruing.values():
        assert loan.disbursement_date is not None
        earned = replay.interest_earned(rows[loan.pk], loan.disbursement_date, on)
        if earned != loan.interest_accrued:
            txn = books.accrual_txn(loan, on=on, amount=earned - loan.interest_accrued, user=user)
            txn.outstanding_after = balance_then.get(loan.pk, txn.outstanding_after)
            txns.append(txn)
    LoanTransaction.objects.bulk_create(txns)
    accounts: dict[int | None, dict[str, int]] = {}
    entries = []
    for txn in txns:
        loan = accruing[txn.loan_id]
        if loan.product_id not in accounts:
            accounts[loan.product_id] = books.accounts_for(loan)
        entries.append(
            books.entry_for(
                txn, books.stored_effect(txn), loan=loan, accounts=accounts[loan.product_id]
            )
        )
    journal_post_many(entries, user=user)
    result.interest_accrued += sum((t.amount for t in txns), ZERO)
    return {t.loan_id for t in txns}


def _book_charges(charges: list[_Charge], *, by_id: dict[int, Loan], user: User | None) -> None:
    """Each penalty is a loan transaction (a charge booked at the end of its penalty day) with
    its allocation and, for accrual-basis loans, its journal entry: in a fixed number of
    statements per batch."""
    txns = LoanTransaction.objects.bulk_create(
        [
            LoanTransaction(
                loan_id=charge.installment.loan_id,
                office_id=by_id[charge.installment.loan_id].office_id,
                kind=Kind.CHARGE,
                value_date=charge.day,
                booked_by=user,
                amount=charge.amount,
                penalties=charge.amount,
                end_of_day=True,
                outstanding_after=charge.outstanding_after,
            )
            for charge in charges
        ]
    )
    Allocation.objects.bulk_create(
        [
            Allocation(transaction=txn, installment_id=charge.installment.pk, penalties=txn.amount)
            for txn, charge in zip(txns, charges, strict=True)
        ]
    )
    accrual = [t for t in txns if by_id[t.loan_id].accounting_basis == AccountingBasis.ACCRUAL]
    accounts: dict[int | None, dict[str, int]] = {}
    entries = []
    for txn in accrual:
        loan = by_id[txn.loan_id]
        if loan.product_id not in accounts:
            accounts[loan.product_id] = books.accounts_for(loan)
        entries.append(
            books.entry_for(
                txn, books.stored_effect(txn), loan=loan, accounts=accounts[loan.product_id]
            )
        )
    journal_post_many(entries, user=user)


def day_close(
    *,
    on: date | None = None,
    user: User | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
) -> DayCloseResult:
    """Close the day `on` (default today): see the module docstring."""
    today = timezone.localdate()
    on = on or today
    if on > today:
        raise ValidationError({"date": "A day in the future cannot be closed."})
    if batch_size < 1:
        raise ValidationError({"batch_size": "The batch size must be at least 1."})
    check_open(on, field="date")
    result = DayCloseResult(on=on)
    window = _window(on)
    total = Loan.objects.filter(status=Loan.Status.ACTIVE).count()
    last_pk = 0
    while True:
        with transaction.atomic():
            loans = list(
                Loan.objects.select_for_update()
                .filter(status=Loan.Status.ACTIVE, pk__gt=last_pk)
                .order_by("pk")[:batch_size]
            )
            if not loans:
                break
            last_pk = loans[-1].pk
            _close_batch(loans, on=on, result=result, user=user, window=window)
        result.batches += 1
        if progress is not None:
            progress(result.loans_checked, max(total, result.loans_checked))

    day_close_finish(on=on, result=result, user=user)
    return result


def day_close_finish(*, on: date, result: DayCloseResult, user: User | None) -> None:
    """The end of a close once every loan is done (here, or by the chunks of
    `collecting.close` on workers): closed loans' days past due, the DAY_CLOSED entry and
    its checkpoint, the day recorded."""
    with transaction.atomic():
        # A closed loan owes nothing, so it is not past due whatever the last close recorded.
        result.closed_loans_reset = Loan.objects.filter(
            status=Loan.Status.CLOSED, days_past_due__gt=0
        ).update(days_past_due=0)
        details = asdict(result)
        details.pop("penalised_loan_ids")
        details["penalised_loans"] = result.penalised_loan_ids[:100]
        details["job"] = "close_day"
        audit_record(action=AuditLog.Action.DAY_CLOSED, user=user, details=details)
        # Sign the log's length and head as of this close, its own entry included.
        audit_checkpoint(kind=AuditCheckpoint.Kind.DAY_CLOSE, user=user, note=f"close of {on}")
        # One statement whether or not the day was closed before (a rerun keeps the first).
        DayClose.objects.bulk_create([DayClose(on=on)], ignore_conflicts=True)
        # Days past due moved on loans whose money did not (no signal per loan for those).
        forget_portfolio()
