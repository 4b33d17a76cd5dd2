"""What the documents printed for a borrower read: the next payment a receipt and a statement
announce, and a loan's statement (every transaction with the running balance). Each is a fixed
number of queries whatever the loan's length."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal

from lending.models import Installment, Loan
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
