"""The API's reads of a loan and its history, at the same cost whatever the history's length.

A loan read by a client (the loan, its schedule, a page of its repayments or transactions)
runs a fixed number of queries and reads plain rows (`values()`, only the columns an answer
shows) rather than model instances with their related objects; repayments and transactions
come a page at a time. A loan with 300 repayments costs what a new one does (guarded by
`tests/api/test_history_reads.py` and measured by `make bench`).

Loans answer with what DESIGN.md "Web API" promises of them: a pending application gives the
totals its terms would have if disbursed today (`projected: true`), never zeros, and an
approved loan's `first_due_date` is its first installment's due date when the terms left it
to the schedule.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import OuterRef, QuerySet, Subquery

from lending.charges import ChargeTerm
from lending.models import Allocation, Installment, Loan, LoanTransaction, Repayment
from lending.schedule import build_schedule
from lending.selectors.repayments import with_balance_after
from lending.services.loans import fees_for, projection_terms

# The loan's own columns an answer shows, as they are named in it.
LOAN_COLUMNS = (
    "id",
    "number",
    "borrower_id",
    "product_id",
    "status",
    "principal",
    "annual_interest_rate",
    "installments",
    "frequency",
    "interest_method",
    "amortization",
    "grace_periods",
    "first_due_date",
    "installment_multiple",
    "installment_rounding",
    "interest_period",
    "days_in_year",
    "purpose",
    "disbursement_date",
    "approved_amount",
    "approved_on",
    "expected_disbursement_date",
    "disbursement_reference",
    "total_repayable",
    "total_paid",
    "total_waived",
    "outstanding",
    "days_past_due",
    "officer_id",
    "prepayment_order",
    "submitted_at",
    "decided_at",
    "status_reason",
    "charges",
    "fees_deducted",
)


def loans_for_answers(loans: QuerySet[Loan]) -> QuerySet[Loan]:
    """Loans with what their answers name beside their own row (borrower's name, submitter's
    username, first installment's due date), in the same query, and nothing else."""
    first_due = (
        Installment.objects.filter(loan=OuterRef("pk")).order_by("number").values("due_date")[:1]
    )
    return (
        loans.select_related("borrower", "submitted_by", "product")
        .only(
            *LOAN_COLUMNS,
            "borrower__full_name",
            "submitted_by__username",
            "product__prepayment_order",
        )
        .annotate(first_installment_due=Subquery(first_due))
    )


def _charge_terms(loan: Loan) -> list[ChargeTerm]:
    """The fees a loan not disbursed yet is projected with: an approved loan's own (frozen at
    approval); a pending application's product's as they are now (prefetched by a list)."""
    if loan.status == Loan.Status.APPROVED or loan.product is None:
        return loan.charge_terms
    return [charge.term() for charge in loan.product.charges.all()]


def loan_answer(loan: Loan, *, today: date) -> dict[str, Any]:
    """A loan as the API answers it (`LoanOut`). A pending application's totals are its
    projection (the schedule engine, disbursed `today`, with its product's fees); terms that
    no longer give a schedule today (a first due date now past) leave the stored figures,
    `projected: false`."""
    answer = {name: getattr(loan, name) for name in LOAN_COLUMNS}
    answer["borrower_name"] = loan.borrower.full_name
    answer["submitted_by"] = loan.submitted_by.username
    answer["first_due_date"] = loan.first_due_date or getattr(loan, "first_installment_due", None)
    answer["projected"] = False
    answer["charge_terms"] = loan.charges
    if loan.status == Loan.Status.PENDING and loan.product_id is not None:
        # Frozen at approval: until then, the product's (what approval would copy).
        product = loan.product
        assert product is not None
        answer["prepayment_order"] = product.prepayment_order
    if loan.status in (Loan.Status.PENDING, Loan.Status.APPROVED):
        try:
            terms = projection_terms(loan, today)
            schedule = build_schedule(terms)
            # Its fees, as the projected schedule shows them: what the installments would owe
            # (a fee deducted from the money handed over is not repaid).
            fees = fees_for(_charge_terms(loan), terms.principal, terms.disbursement_date, schedule)
        except ValidationError:
            return answer
        total = schedule.total + fees.scheduled
        answer["total_repayable"] = total
        answer["outstanding"] = total - loan.total_waived - loan.total_paid
        answer["projected"] = True
    return answer


def money(value: Decimal) -> str:
    """An amount as the API writes it (`Money` in lending.api.schemas)."""
    return f"{value:.2f}"


# --- repayments -------------------------------------------------------------------------------

REPAYMENT_COLUMNS = (
    "id",
    "loan_id",
    "amount",
    "paid_on",
    "method",
    "reference",
    "recorded_at",
    "reversed_at",
    "balance_after",
    "receipt__number",
    "recorded_by__username",
)


def repayment_rows(repayments: QuerySet[Repayment]) -> QuerySet[Repayment, dict[str, Any]]:
    """Lean rows of repayments (newest first): one query, whatever joins the answer needs."""
    return (
        with_balance_after(repayments)
        .order_by("-paid_on", "-recorded_at", "-id")
        .values(*REPAYMENT_COLUMNS)
    )


def repayment_answers(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`RepaymentOut` answers for rows of `repayment_rows`, with each one's current split
    over the installments: one more query for all of them. Amounts are already the strings
    the API sends, so a page can be written out without a second pass over every field
    (`lending.api.common.json_answer`)."""
    split: dict[int, list[dict[str, Any]]] = defaultdict(list)
    allocations = (
        Allocation.objects.filter(
            transaction__repayment_id__in=[row["id"] for row in rows],
            transaction__kind=LoanTransaction.Kind.REPAYMENT,
            superseded_at=None,
        )
        .order_by("installment__number", "id")
        .values_list(
            "transaction__repayment_id",
            "installment__number",
            "principal",
            "interest",
            "fees",
            "penalties",
        )
    )
    if rows:  # an empty page needs no query
        for repayment_id, number, principal, interest, fees, penalties in allocations:
            split[repayment_id].append(
                {
                    "installment": number,
                    "principal": money(principal),
                    "interest": money(interest),
                    "fees": money(fees),
                    "penalties": money(penalties),
                    "total": money(principal + interest + fees + penalties),
                }
            )
    return [
        {
            "id": row["id"],
            "loan_id": row["loan_id"],
            "amount": money(row["amount"]),
            "paid_on": row["paid_on"],
            "method": row["method"],
            "reference": row["reference"],
            "receipt_number": row["receipt__number"],
            "allocations": split[row["id"]],
            "outstanding": money(row["balance_after"]),
            "recorded_by": row["recorded_by__username"],
            "recorded_at": row["recorded_at"],
            "reversed": row["reversed_at"] is not None,
        }
        for row in rows
    ]


def repayment_answer(pk: int) -> dict[str, Any]:
    """One repayment as the API answers it (after recording or reversing it)."""
    return repayment_answers(list(repayment_rows(Repayment.objects.filter(pk=pk))))[0]


# --- transactions -----------------------------------------------------------------------------

TRANSACTION_COLUMNS = (
    "id",
    "kind",
    "value_date",
    "booked_at",
    "amount",
    "principal",
    "interest",
    "fees",
    "penalties",
    "overpaid",
    "outstanding_after",
    "reversed_at",
)


def transaction_rows(loan_id: int) -> QuerySet[LoanTransaction, dict[str, Any]]:
    """A loan's transactions in value-date order (a day's penalties after its payments)."""
    return (
        LoanTransaction.objects.filter(loan_id=loan_id)
        .order_by("value_date", "end_of_day", "id")
        .values(*TRANSACTION_COLUMNS)
    )


TRANSACTION_AMOUNTS = (
    "amount",
    "principal",
    "interest",
    "fees",
    "penalties",
    "overpaid",
    "outstanding_after",
)


def transaction_answer(row: dict[str, Any]) -> dict[str, Any]:
    """A `TransactionOut` answer, amounts already written as the API sends them."""
    return {
        "id": row["id"],
        "type": row["kind"],
        "value_date": row["value_date"],
        "booked_at": row["booked_at"],
        **{name: money(row[name]) for name in TRANSACTION_AMOUNTS},
        "reversed": row["reversed_at"] is not None,
    }
