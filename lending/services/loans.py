"""Loan life cycle: submit, approve, disburse, reject, withdraw, write off, close, re-open, and
the undo of an approval, a disbursement and a write-off.

Each transition is one function, inside one transaction, that locks the loan row, refuses a
wrong starting state with `StateConflict` (nothing written), saves with `update_fields`,
writes exactly one audit entry and sends `loan_changed`. No other code changes `Loan.status`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Q, Sum
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import (
    can_approve,
    can_disburse,
    can_undo_decision,
    can_withdraw,
    can_write_off,
    require,
)
from accounts.offices import may_reach
from ledger.services import check_open
from lending.audit import audit_record
from lending.bulk import update_rows
from lending.charges import ChargeError, ChargeTerm, LoanFees, loan_fees
from lending.errors import StateConflict
from lending.models import (
    FROZEN_TERMS,
    AccountingBasis,
    AuditLog,
    Borrower,
    Installment,
    Loan,
    LoanProduct,
    LoanTransaction,
    PrepaymentOrder,
    ProductCharge,
    Repayment,
)
from lending.replay import Book, Kind, Line, Parts
from lending.schedule import (
    MAX_PRINCIPAL,
    DueDateRule,
    LoanTerms,
    Schedule,
    TermsError,
    WorkingCalendar,
    build_schedule,
)
from lending.selectors.calendar import working_calendar
from lending.services import transactions as books
from lending.services.numbers import next_loan_number
from lending.signals import loan_changed

TERM_FIELDS = [
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
]
Status = Loan.Status
ZERO = Decimal("0.00")
CENT = Decimal("0.01")
# Approval disburses at once and records no method: the money leaves the bank account.
DISBURSEMENT_METHOD = "bank_transfer"


def due_date_rule_for(product: LoanProduct | None) -> str:
    """Where a due date on a day off goes for a new loan: its product's rule, else `next`
    (DESIGN.md: the next working day)."""
    return product.due_date_rule if product is not None else DueDateRule.NEXT


def terms_for(
    loan: Loan, disbursement_date: date, *, due_date_rule: str = DueDateRule.KEEP
) -> LoanTerms:
    """The schedule engine's view of a loan's stored terms; due dates move by
    `due_date_rule` when the engine is given a calendar (the amounts never depend on it)."""
    try:
        return LoanTerms(
            disbursement_date=disbursement_date,
            due_date_rule=DueDateRule(due_date_rule),
            **{name: getattr(loan, name) for name in TERM_FIELDS},
        )
    except TermsError as exc:
        raise ValidationError({exc.field: exc.message}) from exc


def projection_terms(
    loan: Loan, today: date, *, due_date_rule: str = DueDateRule.KEEP
) -> LoanTerms:
    """The terms a loan not disbursed yet would be scheduled with: a pending application from
    today; an approved loan for its approved amount, from the later of today and the expected
    disbursement date, with its due-date rule frozen at approval."""
    if loan.status != Status.APPROVED:
        return terms_for(loan, today, due_date_rule=due_date_rule)
    start = max(today, loan.expected_disbursement_date or today)
    values = {name: getattr(loan, name) for name in TERM_FIELDS}
    values["principal"] = loan.approved_amount or loan.principal
    try:
        return LoanTerms(
            disbursement_date=start, due_date_rule=DueDateRule(loan.due_date_rule), **values
        )
    except TermsError as exc:
        raise ValidationError({exc.field: exc.message}) from exc


def _rate(value: Decimal) -> str:
    """A stored rate as people write it: 20, 12.5 (not 20.0000)."""
    return format(value.normalize(), "f")


# Custom terms (an application without a product) stay within these bounds (README, "Custom
# terms"): a principal of 100.00 to 10,000,000.00, a rate of 0 to 100 % a year, and at most
# 30 years of monthly, 10 years of bi-weekly or 5 years of weekly installments.
CUSTOM_MIN_PRINCIPAL = Decimal("100.00")
CUSTOM_MAX_PRINCIPAL = Decimal("10000000.00")
CUSTOM_MAX_RATE = Decimal("100")
CUSTOM_MAX_INSTALLMENTS = {"monthly": 360, "biweekly": 260, "weekly": 260}
_FREQUENCY_WORDS = {
    "monthly": ("monthly", "30 years"),
    "biweekly": ("bi-weekly", "10 years"),
    "weekly": ("weekly", "5 years"),
}


def check_custom_terms(terms: dict[str, Any]) -> None:
    """Terms without a product still have bounds; each breach is named on its field."""
    errors: dict[str, str] = {}
    principal = terms.get("principal")
    if principal is not None and not (CUSTOM_MIN_PRINCIPAL <= principal <= CUSTOM_MAX_PRINCIPAL):
        errors["principal"] = (
            f"Without a product, lend between {CUSTOM_MIN_PRINCIPAL:,.2f} and "
            f"{CUSTOM_MAX_PRINCIPAL:,.2f}."
        )
    rate = terms.get("annual_interest_rate")
    if rate is not None and not (ZERO <= rate <= CUSTOM_MAX_RATE):
        errors["annual_interest_rate"] = (
            f"Without a product, the annual rate is from 0 to {_rate(CUSTOM_MAX_RATE)} %."
        )
    n, frequency = terms.get("installments"), terms.get("frequency")
    most = CUSTOM_MAX_INSTALLMENTS.get(str(frequency))
    if n is not None and most is not None and n > most:
        word, years = _FREQUENCY_WORDS[str(frequency)]
        errors["installments"] = f"Without a product, at most {most} {word} installments ({years})."
    if errors:
        raise ValidationError(errors)


def check_product_limits(product: LoanProduct | None, terms: dict[str, Any]) -> None:
    """An application must fit its product's limits (or, without one, the custom bounds);
    each breach is named on its field."""
    if product is None:
        check_custom_terms(terms)
        return
    errors: dict[str, str] = {}
    if not product.is_active:
        errors["product"] = f"The product {product.name} is no longer offered."
    principal = terms.get("principal")
    if principal is not None and not (product.min_principal <= principal <= product.max_principal):
        errors["principal"] = (
            f"{product.name} lends between {product.min_principal:,.2f} and "
            f"{product.max_principal:,.2f}."
        )
    rate = terms.get("annual_interest_rate")
    if rate is not None and not (product.min_interest_rate <= rate <= product.max_interest_rate):
        errors["annual_interest_rate"] = (
            f"{product.name} allows an annual rate between {_rate(product.min_interest_rate)} % "
            f"and {_rate(product.max_interest_rate)} %."
        )
    n = terms.get("installments")
    if n is not None and not (product.min_installments <= n <= product.max_installments):
        errors["installments"] = (
            f"{product.name} allows between {product.min_installments} and "
            f"{product.max_installments} installments."
        )
    if errors:
        raise ValidationError(errors)


def check_installment_multiple(
    terms: dict[str, Any], schedule: Schedule, disbursement_date: date
) -> None:
    """A multiple larger than the installment it rounds does not round it: it turns the
    schedule into 0.00 installments or interest-only ones and a balloon at the end. Refuse it,
    naming the installment to compare with (unrounded, to the cent)."""
    multiple = terms.get("installment_multiple")
    if not isinstance(multiple, Decimal) or multiple <= CENT:
        return
    plain = build_schedule(
        LoanTerms(disbursement_date=disbursement_date, **{**terms, "installment_multiple": CENT})
    )
    # Grace periods repay no principal (0.00 at a 0 % rate): the multiple rounds the rest.
    grace = terms.get("grace_periods") or 0
    smallest = min(row.total for row in plain.installments[grace:] or plain.installments)
    empty = sum(1 for row in schedule.installments[grace:] if row.total <= ZERO)
    if multiple > smallest:
        raise ValidationError(
            {
                "installment_multiple": f"A multiple of {multiple:,} is larger than the "
                f"installment it rounds ({smallest:,}): choose a smaller multiple."
            }
        )
    if empty:
        raise ValidationError(
            {
                "installment_multiple": f"Rounding to a multiple of {multiple:,} repays the loan "
                f"early and leaves {empty} installment{'s' if empty > 1 else ''} at 0.00: "
                "choose a smaller multiple or fewer installments."
            }
        )


def projected_schedule(loan: Loan, today: date) -> Schedule:
    """What approving a pending application today would store: its product's due-date rule
    on today's working-day calendar. For an approved loan not disbursed yet: what disbursing
    its approved amount on the later of today and the expected date would store."""
    terms = projection_terms(loan, today, due_date_rule=due_date_rule_for(loan.product))
    return build_schedule(terms, working_calendar(loan.office_id))


def projected_fees(loan: Loan, schedule: Schedule, today: date) -> LoanFees:
    """The fees of `projected_schedule`: a pending application's product's fees as they are
    now; an approved loan's own, frozen at approval, on its approved amount. A fee that
    cannot apply (a date outside the term) is a ValidationError, as approving would be."""
    terms = projection_terms(loan, today)
    charges = (
        loan.charge_terms if loan.status == Status.APPROVED else product_charge_terms(loan.product)
    )
    return fees_for(charges, terms.principal, terms.disbursement_date, schedule)


def preview_schedule(
    terms: dict[str, Any],
    disbursement_date: date,
    *,
    due_date_rule: str = DueDateRule.NEXT,
    calendar: WorkingCalendar | None = None,
) -> Schedule:
    """Build a schedule from raw terms, turning engine errors into field ValidationErrors.
    With a `calendar`, due dates on days off move by `due_date_rule` (the amounts do not
    depend on it, so checking terms needs no calendar)."""
    try:
        schedule = build_schedule(
            LoanTerms(
                disbursement_date=disbursement_date,
                due_date_rule=DueDateRule(due_date_rule),
                **terms,
            ),
            calendar,
        )
    except TermsError as exc:
        raise ValidationError({exc.field: exc.message}) from exc
    except (InvalidOperation, TypeError) as exc:
        raise ValidationError("The terms could not be read: check every number.") from exc
    check_installment_multiple(terms, schedule, disbursement_date)
    if schedule.total > MAX_PRINCIPAL:
        # Amounts are stored in 14 digits; a loan whose total repayable would not fit is
        # refused here rather than failing at approval.
        raise ValidationError(
            {
                "principal": "These terms would make the total to repay larger than the system "
                f"can hold ({MAX_PRINCIPAL:,}): lower the principal, rate or term."
            }
        )
    return schedule


def _lock(loan: Loan) -> Loan:
    return Loan.objects.select_for_update().get(pk=loan.pk)


def _require_status(loan: Loan, *allowed: str, action: str) -> None:
    if loan.status not in allowed:
        raise StateConflict(
            f"Loan {loan.number} is {loan.get_status_display().lower()}; only "
            f"{' or '.join(Status(s).label.lower() for s in allowed)} loans can be {action}."
        )


def loan_submit(
    *,
    user: User,
    borrower: Borrower,
    product: LoanProduct | None = None,
    purpose: str = "",
    request: HttpRequest | None = None,
    **terms: Any,
) -> Loan:
    """Create a pending application. The terms are checked now (against today's date and the
    product); the schedule itself is built at approval, from the disbursement date."""
    unknown = set(terms) - set(TERM_FIELDS)
    if unknown:
        raise TypeError(f"Unknown loan terms: {sorted(unknown)}")
    require(user.has_perm("lending.add_loan"), "Your role does not allow loan applications.")
    if borrower is None or not may_reach(user, borrower.office_id):
        raise ValidationError({"borrower": "Choose the borrower the loan is for."})
    today = timezone.localdate()
    check_product_limits(product, terms)
    schedule = preview_schedule(terms, today)
    # The product's fees must apply to these terms (a fee date within the term, something
    # left to pay out); approval checks them again on the day it disburses.
    fees_for(product_charge_terms(product), terms.get("principal") or ZERO, today, schedule)
    loan = Loan(
        borrower=borrower,
        office_id=borrower.office_id,  # a loan is its borrower's office's
        product=product,
        purpose=purpose,
        submitted_by=user,
        officer=user,
        **terms,
    )
    loan.full_clean(exclude=["number", "submitted_by", "borrower", "product", "office"])
    with transaction.atomic():
        loan.number = next_loan_number(today.year)
        loan.save()
        audit_record(
            action=AuditLog.Action.LOAN_SUBMITTED,
            user=user,
            obj=loan,
            details={
                "after": {"status": loan.status, "borrower": borrower.number},
                "terms": {name: getattr(loan, name) for name in TERM_FIELDS},
            },
            request=request,
        )
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="submitted")
    return loan


def approvers_instead(loan: Loan, *, most: int = 5) -> str:
    """Who may decide `loan` when its submitter may not (four eyes), named for the refusal:
    "Ann Smith (ann), bob"; the first `most` by name, then how many more."""
    perm = Q(
        groups__permissions__codename="approve_loan",
        groups__permissions__content_type__app_label="lending",
    ) | Q(
        user_permissions__codename="approve_loan",
        user_permissions__content_type__app_label="lending",
    )
    users = (
        User.objects.filter(Q(is_superuser=True) | perm, is_active=True)
        .exclude(pk=loan.submitted_by_id)
        .distinct()
        .order_by("first_name", "last_name", "username")
    )
    names = []
    for user in users[: most + 1]:
        full = user.get_full_name()
        names.append(f"{full} ({user.username})" if full else user.username)
    if not names:
        return (
            "nobody else may approve loans yet: an administrator can give a colleague the "
            "Loan Officer role."
        )
    if len(names) > most:
        more = users.count() - most
        return f"{', '.join(names[:most])} and {more} more can decide it."
    return f"{', '.join(names)} can decide it."


def four_eyes_refusal(loan: Loan, verb: str = "approve") -> str:
    """The four-eyes refusal, naming who may decide instead (DESIGN.md, permission matrix)."""
    return (
        f"You submitted this application, so someone else must {verb} it: {approvers_instead(loan)}"
    )


def _disburse(
    loan: Loan, *, user: User, disbursement_date: date, amount: Decimal, method: str
) -> tuple[Book, int]:
    """Hand the money over (the loan is locked and its terms frozen): the schedule is built
    from the disbursement date on the working-day calendar and stored in one bulk insert; the
    disbursement is the loan's first transaction, with its journal entry (loan portfolio
    debited, the fund source of `method` credited, less any fee deducted), and the fees the
    installments owe are one charge on the same day. Returns the loan's book and its number of
    installments; the caller saves the loan (with `charges` and `fees_deducted`)."""
    loan.principal = amount
    terms = terms_for(loan, disbursement_date, due_date_rule=loan.due_date_rule)
    schedule = build_schedule(terms, working_calendar(loan.office_id))
    fees = fees_for(loan.charge_terms, amount, disbursement_date, schedule)
    per_installment = fees.by_installment()
    installments = Installment.objects.bulk_create(
        [
            Installment(
                loan=loan,
                number=row.number,
                due_date=row.due_date,
                principal=row.principal,
                interest=row.interest,
            )
            for row in schedule.installments
        ]
    )
    loan.status = Status.ACTIVE
    loan.disbursement_date = disbursement_date
    loan.fees_deducted = fees.deducted
    book = Book.open(
        [books.schedule_row(i) for i in installments], disbursement_date, loan.prepayment_order
    )
    accounts = books.accounts_for(loan)
    effect = book.apply(
        books.new_txn(Kind.DISBURSEMENT, disbursement_date, amount, deducted=fees.deducted)
    )
    books.store_in_order(
        loan=loan,
        installments=installments,
        book=book,
        effect=effect,
        fields={
            "kind": Kind.DISBURSEMENT,
            "value_date": disbursement_date,
            "amount": amount,
            "method": method,
        },
        user=user,
        accounts=accounts,
    )
    if per_installment:
        _charge_scheduled_fees(loan, installments, book, per_installment, user, accounts)
    return book, len(installments)


def _check_disbursement_date(disbursement_date: date, today: date) -> None:
    if disbursement_date > today:
        raise ValidationError(
            {"disbursement_date": "The disbursement date cannot be in the future."}
        )
    check_open(disbursement_date, field="disbursement_date")


def loan_approve(
    *,
    loan: Loan,
    user: User,
    disbursement_date: date | None = None,
    method: str = DISBURSEMENT_METHOD,
    approved_amount: Decimal | None = None,
    expected_disbursement_date: date | None = None,
    request: HttpRequest | None = None,
) -> Loan:
    """Approve an application. When its product disburses on approval (the default), the loan
    is disbursed at once (`disbursement_date`, default today) and is active. Otherwise it is
    `approved`: for `approved_amount` (at most the principal applied for; default all of it),
    expected to be disbursed on `expected_disbursement_date` (default today); an accountant
    disburses it with `loan_disburse`. The product's terms are frozen either way."""
    today = timezone.localdate()
    with transaction.atomic():
        loan = _lock(loan)
        _require_status(loan, Status.PENDING, action="approved")
        if not can_approve(user, loan):
            raise PermissionDenied(four_eyes_refusal(loan))
        if loan.product is not None and not loan.product.disburse_on_approval:
            return _approve_only(
                loan=loan,
                user=user,
                approved_amount=approved_amount,
                expected=expected_disbursement_date or today,
                today=today,
                request=request,
            )
        disbursement_date = disbursement_date or today
        _check_disbursement_date(disbursement_date, today)
        if approved_amount is not None and approved_amount != loan.principal:
            raise ValidationError(
                {
                    "approved_amount": f"{loan.product or 'This loan'} disburses on approval: "
                    f"approve the {loan.principal:,.2f} applied for, or reject the application."
                }
            )
        loan.decided_by = user  # type: ignore[assignment]
        loan.decided_at = timezone.now()
        loan.approved_amount = loan.principal
        loan.approved_on = today
        _freeze_terms(loan)
        book, count = _disburse(
            loan,
            user=user,
            disbursement_date=disbursement_date,
            amount=loan.principal,
            method=method,
        )
        loan.save(
            update_fields=[
                "status",
                "disbursement_date",
                "decided_by",
                "decided_at",
                "approved_amount",
                "approved_on",
                "accounting_basis",
                "charges",
                "fees_deducted",
                *FROZEN_TERMS,
            ]
        )
        _book_totals(loan, book, user)
        audit_record(
            action=AuditLog.Action.LOAN_APPROVED,
            user=user,
            obj=loan,
            details={
                "before": {"status": Status.PENDING},
                "after": {
                    "status": loan.status,
                    "disbursement_date": disbursement_date,
                    "total_repayable": loan.total_repayable,
                    "installments": count,
                    "frozen_terms": {name: getattr(loan, name) for name in FROZEN_TERMS},
                    **({"charges": loan.charges} if loan.charges else {}),
                    **({"fees_deducted": loan.fees_deducted} if loan.fees_deducted else {}),
                },
            },
            request=request,
        )
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="approved")
    return loan


def _book_totals(loan: Loan, book: Book, user: User) -> None:
    """After `_disburse` and the loan's save: its totals from its new schedule, and any
    penalty days already closed decided."""
    books.save_loan_totals(loan, book)
    _decide_past_penalties(loan, book, user=user)


# The latest an approver may expect the money to be handed over.
MAX_EXPECTED_DAYS = 365


def _approve_only(
    *,
    loan: Loan,
    user: User,
    approved_amount: Decimal | None,
    expected: date,
    today: date,
    request: HttpRequest | None,
) -> Loan:
    """Approve without disbursing (the loan is locked, pending, and `user` may decide it)."""
    if expected < today:
        raise ValidationError(
            {
                "expected_disbursement_date": "The expected disbursement date cannot be "
                "before today, the approval date."
            }
        )
    if (expected - today).days > MAX_EXPECTED_DAYS:
        raise ValidationError(
            {
                "expected_disbursement_date": "Expect the disbursement within "
                f"{MAX_EXPECTED_DAYS} days of the approval."
            }
        )
    amount = loan.principal if approved_amount is None else approved_amount
    if amount <= ZERO or amount > loan.principal:
        raise ValidationError(
            {
                "approved_amount": "Approve an amount above 0.00 and at most the "
                f"{loan.principal:,.2f} applied for."
            }
        )
    # The approved amount must still make a schedule (multiples, the largest total).
    terms = {name: getattr(loan, name) for name in TERM_FIELDS}
    try:
        preview_schedule({**terms, "principal": amount}, expected)
    except ValidationError as exc:
        raise ValidationError({"approved_amount": error_messages(exc)}) from exc
    loan.status = Status.APPROVED
    loan.approved_amount = amount
    loan.approved_on = today
    loan.expected_disbursement_date = expected
    loan.decided_by = user  # type: ignore[assignment]
    loan.decided_at = timezone.now()
    _freeze_terms(loan)
    loan.save(
        update_fields=[
            "status",
            "approved_amount",
            "approved_on",
            "expected_disbursement_date",
            "decided_by",
            "decided_at",
            "accounting_basis",
            "charges",
            "updated_at",
            *FROZEN_TERMS,
        ]
    )
    audit_record(
        action=AuditLog.Action.LOAN_APPROVED,
        user=user,
        obj=loan,
        details={
            "before": {"status": Status.PENDING, "principal": loan.principal},
            "after": {
                "status": loan.status,
                "approved_amount": amount,
                "expected_disbursement_date": expected,
                "frozen_terms": {name: getattr(loan, name) for name in FROZEN_TERMS},
            },
        },
        request=request,
    )
    loan_changed.send(sender=Loan, loan_id=loan.pk, event="approved")
    return loan


def error_messages(exc: ValidationError) -> str:
    return " ".join(str(m) for m in exc.messages)


METHODS = dict(Repayment.Method.choices)


def loan_disburse(
    *,
    loan: Loan,
    user: User,
    disbursement_date: date | None = None,
    amount: Decimal | None = None,
    method: str,
    reference: str = "",
    request: HttpRequest | None = None,
) -> Loan:
    """Hand an approved loan's money over (Accountant or Admin): at most the approved amount
    (default all of it), dated on or after the approval and not in the future, by `method`
    with the payment's `reference`. The schedule is built from this date; the disbursement is
    the loan's first transaction with its journal entry. The loan is active."""
    require(can_disburse(user), "Only an accountant or an administrator can disburse a loan.")
    today = timezone.localdate()
    disbursement_date = disbursement_date or today
    reference = (reference or "").strip()
    errors: dict[str, str] = {}
    if method not in METHODS:
        errors["method"] = (
            "Choose how the money was handed over: "
            + ", ".join(label.lower() for label in METHODS.values())
            + "."
        )
    if len(reference) > 100:
        errors["reference"] = "Keep the reference to 100 characters."
    if errors:
        raise ValidationError(errors)
    _check_disbursement_date(disbursement_date, today)
    with transaction.atomic():
        loan = _lock(loan)
        _require_status(loan, Status.APPROVED, action="disbursed")
        approved = loan.approved_amount or loan.principal
        amount = approved if amount is None else amount
        if amount <= ZERO:
            raise ValidationError({"amount": "Disburse an amount above 0.00."})
        if amount > approved:
            raise ValidationError(
                {
                    "amount": f"Loan {loan.number} is approved for {approved:,.2f}: "
                    f"disburse at most that, not {amount:,.2f}."
                }
            )
        if loan.approved_on and disbursement_date < loan.approved_on:
            raise ValidationError(
                {
                    "disbursement_date": f"Loan {loan.number} was approved on "
                    f"{loan.approved_on:%d/%m/%Y}: the disbursement cannot be dated before it."
                }
            )
        terms = {name: getattr(loan, name) for name in TERM_FIELDS}
        try:
            preview_schedule({**terms, "principal": amount}, disbursement_date)
        except ValidationError as exc:
            if hasattr(exc, "error_dict") and "first_due_date" in exc.error_dict:
                raise
            raise ValidationError({"amount": error_messages(exc)}) from exc
        before = {"status": loan.status, "principal": loan.principal}
        book, count = _disburse(
            loan, user=user, disbursement_date=disbursement_date, amount=amount, method=method
        )
        loan.disbursement_reference = reference
        loan.save(
            update_fields=[
                "status",
                "principal",
                "disbursement_date",
                "disbursement_reference",
                "fees_deducted",
                "incremental_from",
                "updated_at",
            ]
        )
        _book_totals(loan, book, user)
        audit_record(
            action=AuditLog.Action.LOAN_DISBURSED,
            user=user,
            obj=loan,
            details={
                "before": before,
                "after": {
                    "status": loan.status,
                    "principal": amount,
                    "disbursement_date": disbursement_date,
                    "method": method,
                    "reference": reference,
                    "total_repayable": loan.total_repayable,
                    "installments": count,
                },
            },
            request=request,
        )
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="disbursed")
    return loan


def loan_approval_undo(
    *, loan: Loan, user: User, reason: str, request: HttpRequest | None = None
) -> Loan:
    """Take an approval back before the money is handed over (Admin, reason): the loan is a
    pending application again, to be decided anew."""
    reason = _reason(reason, "undoing the approval")
    with transaction.atomic():
        loan = _lock(loan)
        _require_status(loan, Status.APPROVED, action="sent back to pending")
        require(can_undo_decision(user), "Only an administrator can undo an approval.")
        before = {
            "status": loan.status,
            "approved_amount": loan.approved_amount,
            "approved_on": loan.approved_on,
            "expected_disbursement_date": loan.expected_disbursement_date,
            "decided_by": loan.decided_by_id,
        }
        loan.status = Status.PENDING
        loan.approved_amount = None
        loan.approved_on = None
        loan.expected_disbursement_date = None
        loan.decided_by = None
        loan.decided_at = None
        loan.save(
            update_fields=[
                "status",
                "approved_amount",
                "approved_on",
                "expected_disbursement_date",
                "decided_by",
                "decided_at",
                "updated_at",
            ]
        )
        audit_record(
            action=AuditLog.Action.LOAN_APPROVAL_UNDONE,
            user=user,
            obj=loan,
            details={"before": before, "after": {"status": loan.status}, "reason": reason},
            request=request,
        )
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="approval_undone")
    return loan


def loan_disbursement_undo(
    *, loan: Loan, user: User, reason: str, request: HttpRequest | None = None
) -> Loan:
    """Take a disbursement back (Admin, reason) while it is the loan's only transaction
    (nothing repaid, charged or accrued since): the disbursement is marked reversed with the
    mirror of its journal entry (dated as it was), its schedule is removed and the loan is
    approved again, for the same approved amount, to be disbursed anew."""
    reason = _reason(reason, "undoing the disbursement")
    with transaction.atomic():
        loan = _lock(loan)
        _require_status(loan, Status.ACTIVE, action="taken back to approved")
        require(can_undo_decision(user), "Only an administrator can undo a disbursement.")
        txns = list(LoanTransaction.objects.filter(loan=loan).order_by("id"))
        live = [t for t in txns if t.reversed_at is None]
        if len(txns) != 1 or not live or live[0].kind != Kind.DISBURSEMENT:
            raise StateConflict(
                f"Loan {loan.number} has transactions after its disbursement (payments, "
                "charges or accruals): a disbursement can be undone only while it is the "
                "loan's only transaction."
            )
        disbursement = live[0]
        check_open(disbursement.value_date, field="reason")
        before = {
            "status": loan.status,
            "principal": loan.principal,
            "disbursement_date": loan.disbursement_date,
            "disbursement_reference": loan.disbursement_reference,
            "method": disbursement.method,
            "total_repayable": loan.total_repayable,
        }
        disbursement.reversed_at = timezone.now()
        disbursement.reversed_by = user  # type: ignore[assignment]
        disbursement.reversal_reason = reason
        disbursement.save(update_fields=["reversed_at", "reversed_by", "reversal_reason"])
        books.mirror_entries(
            [disbursement], loan=loan, accounts=books.accounts_for(loan), user=user
        )
        removed, _ = Installment.objects.filter(loan=loan).delete()
        loan.status = Status.APPROVED
        loan.disbursement_date = None
        loan.disbursement_reference = ""
        loan.incremental_from = None
        for name in ("total_repayable", "total_paid", "total_waived", "outstanding", "overpaid"):
            setattr(loan, name, ZERO)
        loan.days_past_due = 0
        loan.fees_deducted = ZERO
        if loan.approved_amount is None:  # approved before approval amounts were kept
            loan.approved_amount = loan.principal
        loan.save(
            update_fields=[
                "status",
                "disbursement_date",
                "disbursement_reference",
                "incremental_from",
                "total_repayable",
                "total_paid",
                "total_waived",
                "outstanding",
                "overpaid",
                "days_past_due",
                "fees_deducted",
                "approved_amount",
                "updated_at",
            ]
        )
        audit_record(
            action=AuditLog.Action.LOAN_DISBURSEMENT_UNDONE,
            user=user,
            obj=loan,
            details={
                "before": before,
                "after": {"status": loan.status, "approved_amount": loan.approved_amount},
                "installments_removed": removed,
                "reason": reason,
            },
            request=request,
        )
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="disbursement_undone")
    return loan


def _freeze_terms(loan: Loan) -> None:
    """Copy the product's terms onto the loan as they are at approval (DESIGN.md, "Charges,
    penalties and delinquency"): a later edit of the product leaves this loan alone. Without a
    product the loan charges no penalty or fee and has no tolerances."""
    product = loan.product
    source = product if product is not None else LoanProduct()
    for name in FROZEN_TERMS:
        setattr(loan, name, getattr(source, name))
    if product is None:  # no product, no promise: money paid ahead is spread in order
        loan.prepayment_order = PrepaymentOrder.IN_ORDER
    loan.accounting_basis = (
        product.accounting_basis if product is not None else AccountingBasis.CASH
    )
    loan.charges = [term.as_json() for term in product_charge_terms(product)]


def product_charge_terms(product: LoanProduct | None) -> list[ChargeTerm]:
    """The product's fees as they are now (a pending application is previewed with them)."""
    if product is None or product.pk is None:
        return []
    return [charge.term() for charge in ProductCharge.objects.filter(product=product)]


def fees_for(
    terms: list[ChargeTerm], principal: Decimal, disbursement_date: date, schedule: Schedule
) -> LoanFees:
    """The loan's fees on this schedule; a charge that cannot apply to it is a ValidationError
    on its field (nothing is written)."""
    try:
        return loan_fees(
            terms,
            principal=principal,
            disbursement_date=disbursement_date,
            schedule=schedule.installments,
        )
    except ChargeError as exc:
        field = "disbursement_date" if exc.field == "on_date" else exc.field
        raise ValidationError({field: exc.message}) from exc


def _charge_scheduled_fees(
    loan: Loan,
    installments: list[Installment],
    book: Book,
    per_installment: dict[int, Decimal],
    user: User,
    accounts: dict[str, int],
) -> None:
    """The fees the installments owe, as one charge on the disbursement date (its journal
    entry books the fee receivable under accrual basis, nothing under cash basis)."""
    by_number = {inst.number: inst for inst in installments}
    lines = tuple(
        Line(by_number[number].pk, Parts(fees=amount))
        for number, amount in sorted(per_installment.items())
    )
    total = sum((line.parts.total for line in lines), ZERO)
    day = loan.disbursement_date
    assert day is not None
    effect = book.apply(books.new_txn(Kind.CHARGE, day, total, lines))
    books.store_in_order(
        loan=loan,
        installments=installments,
        book=book,
        effect=effect,
        fields={"kind": Kind.CHARGE, "value_date": day, "amount": total},
        user=user,
        accounts=accounts,
    )


def _decide_past_penalties(loan: Loan, book: Book, *, user: User) -> None:
    """A loan disbursed with a date so far back that some penalty days are already closed:
    those days are decided now, by the rule the close and the replay apply (nothing is paid
    yet, so each such installment owes its penalty; a payment entered later with an earlier
    date replays the loan and takes back what it paid in time)."""
    penalties = books.penalties_for(loan)
    if penalties is None or not book.rows:
        return
    if min(penalties.days(row)[0] for row in book.rows) > penalties.closed_through:
        return
    plan = books.plan_replay(loan=loan, penalties=penalties)
    if plan.penalties_added:
        books.store_replay(
            plan,
            user=user,
            reason="disbursed with a date before the last day closed",
            accounts=books.accounts_for(loan),
        )


def _reason(reason: str, what: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": f"Give a reason for the {what}."})
    return reason


def loan_reject(*, loan: Loan, user: User, reason: str, request: HttpRequest | None = None) -> Loan:
    reason = _reason(reason, "rejection")
    with transaction.atomic():
        loan = _lock(loan)
        _require_status(loan, Status.PENDING, action="rejected")
        if not can_approve(user, loan):
            raise PermissionDenied(four_eyes_refusal(loan, "decide"))
        loan.status = Status.REJECTED
        loan.status_reason = reason
        loan.decided_by = user  # type: ignore[assignment]
        loan.decided_at = timezone.now()
        loan.save(
            update_fields=["status", "status_reason", "decided_by", "decided_at", "updated_at"]
        )
        audit_record(
            action=AuditLog.Action.LOAN_REJECTED,
            user=user,
            obj=loan,
            details={
                "before": {"status": Status.PENDING},
                "after": {"status": loan.status},
                "reason": reason,
            },
            request=request,
        )
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="rejected")
    return loan


def loan_withdraw(
    *, loan: Loan, user: User, reason: str = "", request: HttpRequest | None = None
) -> Loan:
    with transaction.atomic():
        loan = _lock(loan)
        _require_status(loan, Status.PENDING, action="withdrawn")
        if not can_withdraw(user, loan):
            raise PermissionDenied("Only the officer who submitted an application can withdraw it.")
        loan.status = Status.WITHDRAWN
        loan.status_reason = (reason or "").strip()
        loan.save(update_fields=["status", "status_reason", "updated_at"])
        audit_record(
            action=AuditLog.Action.LOAN_WITHDRAWN,
            user=user,
            obj=loan,
            details={
                "before": {"status": Status.PENDING},
                "after": {"status": loan.status},
                "reason": loan.status_reason,
            },
            request=request,
        )
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="withdrawn")
    return loan


def loan_write_off(
    *, loan: Loan, user: User, reason: str, request: HttpRequest | None = None
) -> Loan:
    """Stop collecting: everything left is written off as one transaction (by component),
    journalled as a loss; the outstanding stays on the loan as the amount written off."""
    reason = _reason(reason, "write-off")
    with transaction.atomic():
        loan = _lock(loan)
        _require_status(loan, Status.ACTIVE, action="written off")
        if not can_write_off(user):
            raise PermissionDenied("Only an administrator can write off a loan.")
        today = timezone.localdate()
        check_open(today, field="reason")
        installments = list(
            Installment.objects.filter(loan=loan).exclude(status=Installment.Status.PAID)
        )
        book = books.open_book(loan, installments)
        recognised = None
        if loan.accounting_basis == AccountingBasis.ACCRUAL:
            paid = Installment.objects.filter(loan=loan).aggregate(s=Sum("interest_paid"))["s"]
            recognised = loan.interest_accrued - (paid or ZERO)
        if loan.outstanding > 0:
            # Written off at the end of the day: after the day's payments and charges.
            effect = book.apply(books.new_txn(Kind.WRITE_OFF, today, loan.outstanding))
            books.store_in_order(
                loan=loan,
                installments=installments,
                book=book,
                effect=effect,
                fields={
                    "kind": Kind.WRITE_OFF,
                    "value_date": today,
                    "amount": loan.outstanding,
                    "end_of_day": True,
                },
                user=user,
                accounts=books.accounts_for(loan),
                interest_recognised=recognised,
            )
        loan.status = Status.WRITTEN_OFF
        loan.status_reason = reason
        loan.save(update_fields=["status", "status_reason", "incremental_from", "updated_at"])
        audit_record(
            action=AuditLog.Action.LOAN_WRITTEN_OFF,
            user=user,
            obj=loan,
            details={
                "before": {"status": Status.ACTIVE},
                "after": {"status": loan.status},
                "written_off": loan.outstanding,
                "reason": reason,
            },
            request=request,
        )
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="written_off")
    return loan


def loan_write_off_undo(
    *, loan: Loan, user: User, reason: str, request: HttpRequest | None = None
) -> Loan:
    """Take a write-off back while nothing was recovered: the write-off transaction is marked
    reversed with the mirror of its journal entry (dated as it was), the loan is replayed
    without it (penalties for the closed days since are decided as for any active loan) and
    is active again. Audited as the loan re-opened, with the reason and what came back.
    Refused (with nothing written) for a loan not written off, for money received since the
    write-off, and when the books are closed through the write-off's date."""
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason for undoing the write-off."})
    with transaction.atomic():
        loan = _lock(loan)
        _require_status(loan, Status.WRITTEN_OFF, action="taken back into collection")
        if not can_write_off(user):
            raise PermissionDenied("Only an administrator can undo a write-off.")
        live = list(LoanTransaction.objects.filter(loan=loan, reversed_at=None).order_by("id"))
        write_offs = [t for t in live if t.kind == Kind.WRITE_OFF]
        recovered = sum((t.amount for t in live if t.kind == Kind.RECOVERY), Decimal("0.00"))
        if recovered:
            raise StateConflict(
                f"{recovered:,.2f} was recovered on loan {loan.number} since its write-off; "
                "reverse the recoveries before undoing the write-off."
            )
        if write_offs and any(t.pk > write_offs[-1].pk for t in live):
            raise StateConflict(
                f"Money was booked on loan {loan.number} after its write-off; reverse it "
                "before undoing the write-off."
            )
        for t in write_offs:
            check_open(t.value_date, field="reason")
        before = {"status": loan.status, "outstanding": str(loan.outstanding)}
        written_off = sum((t.amount for t in write_offs), Decimal("0.00"))
        accounts = books.accounts_for(loan)
        plan = books.plan_replay(loan=loan, remove=[t.pk for t in write_offs])
        now = timezone.now()
        for t in write_offs:
            t.reversed_at = now
            t.reversed_by = user  # type: ignore[assignment]
            t.reversal_reason = reason
        update_rows(write_offs, ["reversed_at", "reversed_by", "reversal_reason"])
        recognised = None
        if loan.accounting_basis == AccountingBasis.ACCRUAL:
            # What the write-off's entry took out of the interest receivable: accrued and not
            # paid (nothing was booked since it, and the close accrues only active loans).
            paid = Installment.objects.filter(loan=loan).aggregate(s=Sum("interest_paid"))["s"]
            recognised = loan.interest_accrued - (paid or ZERO)
        books.mirror_entries(
            write_offs, loan=loan, accounts=accounts, user=user, interest_recognised=recognised
        )
        books.store_replay(plan, user=user, reason="write-off undone", accounts=accounts)
        loan.status = Status.CLOSED if loan.outstanding == 0 else Status.ACTIVE
        loan.status_reason = ""
        loan.save(update_fields=["status", "status_reason", "updated_at"])
        audit_record(
            action=AuditLog.Action.LOAN_REOPENED,
            user=user,
            obj=loan,
            details={
                "undone": "write-off",
                "reason": reason,
                "written_off": str(written_off),
                "before": before,
                "after": {"status": loan.status, "outstanding": str(loan.outstanding)},
                "replay": plan.as_dict(),
            },
            request=request,
        )
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="write_off_undone")
    return loan


def loan_close(
    *, loan: Loan, user: User | None, on: date, request: HttpRequest | None = None
) -> Loan:
    """Close a loan whose outstanding reached zero. Called by the repayment services inside
    their transaction, with the loan already locked and its totals saved."""
    assert transaction.get_connection().in_atomic_block
    _require_status(loan, Status.ACTIVE, action="closed")
    if loan.outstanding != Decimal("0"):
        raise StateConflict(f"Loan {loan.number} still has {loan.outstanding} outstanding.")
    loan.status = Status.CLOSED
    loan.closed_on = on
    loan.save(update_fields=["status", "closed_on", "updated_at"])
    books.accrue_on_closing(loan, on=on, user=user)
    audit_record(
        action=AuditLog.Action.LOAN_CLOSED,
        user=user,
        obj=loan,
        details={
            "before": {"status": Status.ACTIVE},
            "after": {"status": loan.status, "closed_on": on},
        },
        request=request,
    )
    loan_changed.send(sender=Loan, loan_id=loan.pk, event="closed")
    return loan


def loan_reopen(*, loan: Loan, user: User | None, request: HttpRequest | None = None) -> Loan:
    """Re-open a closed loan whose outstanding is above zero again (after a reversal).
    Called inside the reversal's transaction, with the loan locked and its totals saved."""
    assert transaction.get_connection().in_atomic_block
    _require_status(loan, Status.CLOSED, action="re-opened")
    loan.status = Status.ACTIVE
    loan.closed_on = None
    loan.save(update_fields=["status", "closed_on", "updated_at"])
    audit_record(
        action=AuditLog.Action.LOAN_REOPENED,
        user=user,
        obj=loan,
        details={
            "before": {"status": Status.CLOSED},
            "after": {"status": loan.status},
            "outstanding": loan.outstanding,
        },
        request=request,
    )
    loan_changed.send(sender=Loan, loan_id=loan.pk, event="reopened")
    return loan
