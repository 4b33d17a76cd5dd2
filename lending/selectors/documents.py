"""What the documents printed for a borrower read: the next payment a receipt and a statement
announce, and a loan's statement (every transaction with the running balance). Each is a fixed
number of queries whatever the loan's length."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.shortcuts import get_object_or_404
from django.utils import timezone

from accounts.offices import get_scoped_or_404
from lending.models import ZERO, Installment, Loan, LoanTransaction
from lending.selectors.repayments import due_now


@dataclass(frozen=True)
class NextPayment:
    """The payment a borrower is asked for next. `overdue_since` is set when something is
    already late: the amount is then what is owed today (overdue and due today together)."""

    due_on: date
    amount: Decimal
    overdue_since: date | None = None


def next_payment(loan: Loan, today: date) -> NextPayment | None:
    """What the borrower pays next, as the books stand (one query); None when the loan is not
    active or nothing is left to pay."""
    if loan.status != Loan.Status.ACTIVE:
        return None
    unpaid = list(
        Installment.objects.filter(loan=loan)
        .exclude(status=Installment.Status.PAID)
        .order_by("due_date", "number")
    )
    if not unpaid:
        return None
    due = due_now(loan, unpaid, today)
    if due.overdue or due.due_today:
        late = unpaid[0].due_date if due.overdue else None
        return NextPayment(today, min(due.overdue + due.due_today, loan.outstanding), late)
    upcoming = due.next_installment
    if upcoming is None:
        return None
    return NextPayment(upcoming.due_date, min(upcoming.remaining, loan.outstanding))


@dataclass(frozen=True)
class StatementLine:
    """One transaction on a statement. `charged` and `paid` are what it added to or took off
    the balance (the change in what the loan owes, so the balance column always adds up); a
    reversed transaction is listed for the record, with neither and no balance."""

    on: date
    description: str
    detail: str = ""
    reference: str = ""
    charged: Decimal | None = None
    paid: Decimal | None = None
    balance: Decimal | None = None
    reversed_note: str = ""


@dataclass
class Statement:
    loan: Loan
    lines: list[StatementLine] = field(default_factory=list)
    total_charged: Decimal = ZERO
    total_paid: Decimal = ZERO
    balance: Decimal = ZERO
    next_payment: NextPayment | None = None


def _parts(txn: LoanTransaction) -> str:
    parts = [
        (name, getattr(txn, name))
        for name in ("principal", "interest", "fees", "penalties")
        if getattr(txn, name)
    ]
    return ", ".join(f"{name} {amount:,.2f}" for name, amount in parts)


def _describe(txn: LoanTransaction, change: Decimal) -> tuple[str, str, str]:
    """Description, detail and reference of a transaction as a borrower reads them."""
    Kind = LoanTransaction.Kind
    repayment = txn.repayment
    receipt = getattr(repayment, "receipt", None) if repayment is not None else None
    reference = receipt.number if receipt is not None else ""
    if txn.kind == Kind.DISBURSEMENT:
        scheduled = change - txn.amount
        detail = f"principal {txn.amount:,.2f}" + (
            f", interest on the schedule {scheduled:,.2f}" if scheduled else ""
        )
        if txn.fees:  # a fee deducted from the money handed over: paid at once
            detail += f"; paid out {txn.amount - txn.fees:,.2f}, fees deducted {txn.fees:,.2f}"
        return "Loan disbursed", detail, reference
    if txn.kind in (Kind.REPAYMENT, Kind.RECOVERY):
        if repayment is not None and repayment.is_settlement:
            title = "Early settlement"
        elif txn.kind == Kind.RECOVERY:
            title = "Recovery payment"
        else:
            title = "Payment"
        method = repayment.get_method_display() if repayment is not None else ""
        detail = ", ".join(x for x in (method, _parts(txn)) if x)
        return title, detail, reference
    if txn.kind == Kind.CHARGE:
        if txn.penalties:
            return "Late penalty", _parts(txn), reference
        return ("Fees" if txn.fees else "Charge"), "on the schedule, as approved", reference
    if txn.kind == Kind.WAIVER:
        if txn.repayment_id is None:  # an Admin's waiver
            return "Waived", _parts(txn), reference
        if txn.fees:
            detail = "interest not yet earned and fees of installments not yet due"
            return "Waived on settlement", f"{detail}: {_parts(txn)}", reference
        return "Interest waived", "interest not yet earned, forgiven on settlement", reference
    if txn.kind == Kind.CREDIT:
        detail = f"{-txn.interest:,.2f} of interest paid ahead, given back on settlement"
        return "Interest credited", detail, reference
    if txn.kind == Kind.WRITE_OFF:
        return "Written off", "", reference
    return str(txn.get_kind_display()), "", reference


def loan_statement(pk: int, today: date, user: Any = None) -> Statement:
    """A loan's statement: every transaction the borrower sees (interest accruals are the
    institution's bookkeeping, not a change in what is owed) in the replay's order with the
    running balance, and the payment due next. Three queries whatever the loan's length."""
    loans = Loan.objects.select_related("borrower", "product")
    # The pages pass the user: another office's loan is a 404 (no user: a command's read).
    loan = get_scoped_or_404(loans, user, pk=pk) if user else get_object_or_404(loans, pk=pk)
    statement = Statement(loan=loan)
    txns = (
        LoanTransaction.objects.filter(loan=loan)
        .exclude(kind=LoanTransaction.Kind.ACCRUAL)
        .select_related("repayment", "repayment__receipt", "reversed_by")
        .order_by("value_date", "end_of_day", "id")
    )
    balance = ZERO
    for txn in txns:
        if txn.reversed_at is not None:
            title, detail, reference = _describe(txn, ZERO)
            note = f"{txn.amount:,.2f} reversed on {timezone.localtime(txn.reversed_at):%d %b %Y}"
            if txn.reversal_reason:
                note += f": {txn.reversal_reason}"
            statement.lines.append(
                StatementLine(txn.value_date, title, detail, reference, reversed_note=note)
            )
            continue
        change = txn.outstanding_after - balance
        balance = txn.outstanding_after
        title, detail, reference = _describe(txn, change)
        line = StatementLine(
            txn.value_date,
            title,
            detail,
            reference,
            charged=change if change > 0 else None,
            paid=-change if change < 0 else None,
            balance=balance,
        )
        statement.total_charged += line.charged or ZERO
        statement.total_paid += line.paid or ZERO
        statement.lines.append(line)
    statement.balance = balance
    statement.next_payment = next_payment(loan, today)
    return statement
