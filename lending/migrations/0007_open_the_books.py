"""Open the books: every existing loan's disbursement, repayments (with their allocations and
reversals), settlement waivers, late penalties and write-off become loan transactions, each
with its journal entry (cash basis, the default accounts), so that replaying a loan's
transactions gives exactly what it shows today and the ledger agrees with the loans.

Transactions are numbered in the order they were booked within each value date, which is
the replay's order. The journal rules are those of `lending.journal` (plain Python)."""

from collections import defaultdict
from datetime import datetime, time, timedelta
from decimal import Decimal

from django.db import migrations
from django.utils import timezone

from lending.journal import DEFAULT_ACCOUNT_CODES, postings
from lending.replay import Kind, Line, Parts, ScheduleRow, Txn, incremental_from, replay

COMPONENTS = ("principal", "interest", "fees", "penalties")

ZERO = Decimal("0.00")
KIND_ORDER = {"disbursement": 0, "charge": 1, "waiver": 2, "repayment": 3, "write_off": 4}
DISBURSEMENT_METHOD = "bank_transfer"  # approval recorded no method before the ledger


def _end_of(day):
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


def _parts(obj):
    return Parts(obj.principal, obj.interest, obj.fees, obj.penalties)


def default_accounts(apps):
    Account = apps.get_model("ledger", "Account")
    ProductAccount = apps.get_model("lending", "ProductAccount")
    by_code = dict(
        Account.objects.filter(code__in=DEFAULT_ACCOUNT_CODES.values()).values_list("code", "pk")
    )
    for role, code in DEFAULT_ACCOUNT_CODES.items():
        ProductAccount.objects.get_or_create(
            product=None, role=role, defaults={"account_id": by_code[code]}
        )
    return {role: by_code[code] for role, code in DEFAULT_ACCOUNT_CODES.items()}


def forward(apps, schema_editor):  # type: ignore[no-untyped-def]
    Loan = apps.get_model("lending", "Loan")
    Installment = apps.get_model("lending", "Installment")
    Repayment = apps.get_model("lending", "Repayment")
    Allocation = apps.get_model("lending", "Allocation")
    LoanTransaction = apps.get_model("lending", "LoanTransaction")
    AuditLog = apps.get_model("lending", "AuditLog")
    JournalEntry = apps.get_model("ledger", "JournalEntry")
    JournalLine = apps.get_model("ledger", "JournalLine")
    accounts = default_accounts(apps)

    written_off_at = {
        int(pk): at
        for pk, at in AuditLog.objects.filter(action="loan_written_off", object_type="loan")
        .order_by("created_at")
        .values_list("object_id", "created_at")
    }
    resplit = []
    loans = Loan.objects.exclude(disbursement_date=None).order_by("pk")
    for loan in loans.iterator(chunk_size=500):
        installments = list(Installment.objects.filter(loan_id=loan.pk))
        plans = []  # (sort key, fields, allocation rows or repayment id)
        plans.append(
            (
                (loan.disbursement_date, False, loan.decided_at or loan.submitted_at, 0),
                dict(
                    kind="disbursement",
                    value_date=loan.disbursement_date,
                    booked_at=loan.decided_at or loan.submitted_at,
                    booked_by_id=loan.decided_by_id,
                    amount=loan.principal,
                    principal=loan.principal,
                    method=DISBURSEMENT_METHOD,
                    outstanding_after=loan.total_repayable
                    - sum((i.penalties for i in installments), ZERO),
                ),
                [],
            )
        )
        for inst in installments:
            if inst.penalties > 0:
                day = inst.penalty_applied_on or inst.due_date + timedelta(days=1)
                plans.append(
                    (
                        (day, True, _end_of(day), 1),
                        dict(
                            kind="charge",
                            value_date=day,
                            booked_at=_end_of(day),
                            amount=inst.penalties,
                            penalties=inst.penalties,
                            end_of_day=True,
                        ),
                        [dict(installment_id=inst.pk, penalties=inst.penalties)],
                    )
                )
        repayments = Repayment.objects.filter(loan_id=loan.pk).order_by("recorded_at", "pk")
        for repayment in repayments:
            allocations = list(Allocation.objects.filter(repayment_id=repayment.pk))
            paid = sum((_parts(a) for a in allocations), Parts())
            reversal = dict(
                reversed_at=repayment.reversed_at,
                reversed_by_id=repayment.reversed_by_id,
                reversal_reason=repayment.reversal_reason,
            )
            waived = [a for a in allocations if a.interest_waived > 0]
            if waived:
                total = sum((a.interest_waived for a in waived), ZERO)
                plans.append(
                    (
                        (repayment.paid_on, False, repayment.recorded_at, 2),
                        dict(
                            kind="waiver",
                            value_date=repayment.paid_on,
                            booked_at=repayment.recorded_at,
                            booked_by_id=repayment.recorded_by_id,
                            amount=total,
                            interest=total,
                            repayment_id=repayment.pk,
                            **reversal,
                        ),
                        [
                            dict(installment_id=a.installment_id, interest=a.interest_waived)
                            for a in waived
                        ],
                    )
                )
            plans.append(
                (
                    (repayment.paid_on, False, repayment.recorded_at, 3),
                    dict(
                        kind="repayment",
                        value_date=repayment.paid_on,
                        booked_at=repayment.recorded_at,
                        booked_by_id=repayment.recorded_by_id,
                        amount=repayment.amount,
                        method=repayment.method,
                        repayment_id=repayment.pk,
                        outstanding_after=repayment.outstanding_after,
                        **paid.as_dict(),
                        **reversal,
                    ),
                    repayment.pk,
                )
            )
        if loan.status == "written_off":
            at = written_off_at.get(loan.pk) or loan.updated_at
            day = timezone.localdate(at)
            lines = []
            for inst in installments:
                left = Parts(
                    inst.principal - inst.principal_paid,
                    inst.interest - inst.interest_waived - inst.interest_paid,
                    inst.fees - inst.fees_paid,
                    inst.penalties - inst.penalties_paid,
                )
                if left.total:
                    lines.append(dict(installment_id=inst.pk, **left.as_dict()))
            split = sum(
                (
                    Parts(
                        row.get("principal", ZERO),
                        row.get("interest", ZERO),
                        row.get("fees", ZERO),
                        row.get("penalties", ZERO),
                    )
                    for row in lines
                ),
                Parts(),
            )
            if split.total > 0:
                plans.append(
                    (
                        (day, True, at, 4),
                        dict(
                            kind="write_off",
                            value_date=day,
                            booked_at=at,
                            end_of_day=True,
                            amount=split.total,
                            outstanding_after=loan.outstanding,
                            **split.as_dict(),
                        ),
                        lines,
                    )
                )
        plans.sort(key=lambda p: p[0])
        stored, live, given = [], [], {}
        for _key, fields, extra in plans:
            txn = LoanTransaction.objects.create(loan_id=loan.pk, **fields)
            if isinstance(extra, int):
                Allocation.objects.filter(repayment_id=extra).update(transaction_id=txn.pk)
            elif txn.kind in ("charge", "waiver"):
                given[txn.pk] = tuple(
                    Line(row["installment_id"], Parts(*(row.get(c, ZERO) for c in COMPONENTS)))
                    for row in extra
                )
                Allocation.objects.bulk_create(
                    [Allocation(transaction_id=txn.pk, **row) for row in extra]
                )
            stored.append(txn)
            if txn.reversed_at is None:
                live.append(
                    Txn(
                        txn.pk,
                        Kind(txn.kind),
                        txn.value_date,
                        txn.amount,
                        lines=given.get(txn.pk, ()),
                        end_of_day=txn.end_of_day,
                    )
                )
        if _store_replay(apps, loan, installments, stored, live):
            resplit.append(loan.number)
        for txn in stored:
            _journal(JournalEntry, JournalLine, accounts, loan, txn)
        loan.incremental_from = incremental_from(live)
        loan.save(update_fields=["incremental_from"])
    if resplit:
        print(  # noqa: T201 - a one-off migration reports what it changed
            f"\n  Opening the books re-split {len(resplit)} loans whose payments had been booked "
            f"out of date order: {', '.join(resplit[:20])}{' ...' if len(resplit) > 20 else ''}"
        )
    # A settlement's payment no longer carries its waiver: drop the rows that were only that.
    Allocation.objects.filter(
        principal=0, interest=0, fees=0, penalties=0, interest_waived__gt=0
    ).delete()


def _store_replay(apps, loan, installments, stored, live):  # type: ignore[no-untyped-def]
    """Replay the loan's transactions in value-date order and store what the replay gives:
    the same as before for a loan booked in date order; for one whose payments had been
    booked out of date order, its splits in date order (the rows as booked are kept,
    superseded). Returns True when anything changed."""
    Allocation = apps.get_model("lending", "Allocation")
    Installment = apps.get_model("lending", "Installment")
    schedule = [
        ScheduleRow(i.pk, i.number, i.due_date, i.principal, i.interest, i.fees)
        for i in installments
    ]
    result = replay(schedule, loan.disbursement_date, live)
    changed = False
    now = timezone.now()
    for txn in stored:
        effect = result.effects.get(txn.pk)
        if effect is None:
            continue
        txn.overpaid = effect.overpaid
        txn.outstanding_after = effect.outstanding_after
        if txn.kind in ("charge", "waiver"):
            txn.save(update_fields=["overpaid", "outstanding_after"])
            continue
        old = {
            (a.installment_id, Parts(a.principal, a.interest, a.fees, a.penalties))
            for a in Allocation.objects.filter(transaction_id=txn.pk)
            if a.principal or a.interest or a.fees or a.penalties
        }
        new = {(line.installment_id, line.parts) for line in effect.lines}
        if txn.kind != "disbursement" and old != new:
            changed = True
            Allocation.objects.filter(transaction_id=txn.pk).update(superseded_at=now)
            Allocation.objects.bulk_create(
                [
                    Allocation(
                        transaction_id=txn.pk,
                        installment_id=line.installment_id,
                        as_booked=False,
                        **line.parts.as_dict(),
                    )
                    for line in effect.lines
                ]
            )
        for name, value in effect.split.as_dict().items():
            setattr(txn, name, value)
        txn.save(update_fields=[*COMPONENTS, "overpaid", "outstanding_after"])
    book = result.book
    for inst in installments:
        row = book.row(inst.pk)
        status = "paid" if row.is_paid else ("partial" if row.paid.total > 0 else "due")
        values = {
            "penalties": row.due.penalties,
            "interest_waived": row.waived.interest,
            "principal_paid": row.paid.principal,
            "interest_paid": row.paid.interest,
            "fees_paid": row.paid.fees,
            "penalties_paid": row.paid.penalties,
            "status": status,
            "paid_on": row.paid_on if row.is_paid else None,
        }
        if any(getattr(inst, k) != v for k, v in values.items()):
            changed = True
            Installment.objects.filter(pk=inst.pk).update(**values)
    if loan.status in ("active", "closed"):
        days = book.days_past_due(timezone.localdate())
        if loan.days_past_due != days and changed:
            loan.days_past_due = days
            loan.save(update_fields=["days_past_due"])
    return changed


def _journal(JournalEntry, JournalLine, accounts, loan, txn):  # type: ignore[no-untyped-def]
    pairs = postings(
        txn.kind,
        Parts(txn.principal, txn.interest, txn.fees, txn.penalties),
        amount=txn.amount,
        overpaid=txn.overpaid,
        method=txn.method,
        basis="cash",
    )
    net = defaultdict(lambda: ZERO)
    for role, amount in pairs:
        net[accounts[role]] += amount
    net = {k: v for k, v in net.items() if v}
    if not net:
        return
    for source, sign in [("loan_transaction", 1)] + ([("reversal", -1)] if txn.reversed_at else []):
        entry = JournalEntry.objects.create(
            value_date=txn.value_date,
            booked_at=txn.booked_at if sign > 0 else txn.reversed_at,
            memo=f"{'Reversal of ' if sign < 0 else ''}{txn.kind.replace('_', ' ')} on {loan.number}",
            source=source,
            transaction_id=txn.pk,
            loan_id=loan.pk,
            created_by_id=txn.booked_by_id if sign > 0 else txn.reversed_by_id,
        )
        JournalLine.objects.bulk_create(
            [
                JournalLine(
                    entry_id=entry.pk,
                    account_id=account,
                    value_date=txn.value_date,
                    debit=amount * sign if amount * sign > 0 else ZERO,
                    credit=-amount * sign if amount * sign < 0 else ZERO,
                )
                for account, amount in sorted(net.items())
            ]
        )


class Migration(migrations.Migration):
    dependencies = [
        ("lending", "0006_loan_transactions"),
        ("ledger", "0002_chart_and_triggers"),
    ]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop)]
