"""Repayments: record, reverse, quote a payoff, settle early.

Every posting is one transaction that locks the loan row first (`select_for_update`), so two
cashiers posting on the same loan at once are serialised and can never lose an update. The
receipt counter and the audit chain head are two more row locks that every posting takes, held
until it commits (that is what keeps receipt numbers gapless and the chain unforked): a posting
takes them last, so postings on different loans wait for each other only that long.
The allocation rule itself lives in `lending.allocation` (pure Python, shared with the demo
seeder). The query count does not grow with the schedule length:
the unpaid installments are read in one query, allocations are inserted with `bulk_create`
and the installments saved with `bulk_update`.

Idempotency: a payment form (or an API call with an `Idempotency-Key` header) carries a
one-time key. The same key with the same request returns the repayment it created; the same
key with a different request is refused (`IdempotencyConflict`). The key is checked in the
statement that takes the loan lock, so two simultaneous submits of one form are serialised;
the second finds the first there, or (on PostgreSQL, when it waited for the lock: the rest
of that statement reads as of before the wait) at the key's unique index.

Waivers: settling waives the scheduled interest that is not yet earned and the unpaid
installment fees of the installments not yet due (one `waiver` transaction with a line per
installment: journalled like an Admin's waiver, so under accrual basis the fees leave fee
income and their receivable), and, when interest was paid ahead on installments
due after the settlement date, gives it back (an `interest_credit` transaction, right after
the waiver: that interest pays what the loan owes instead). Both belong to the settlement's
repayment, so reversing the settlement takes them back with it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field, fields
from datetime import date
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import can_record_repayment, can_reverse_repayment, require
from ledger.services import check_open
from lending import allocation, replay
from lending.audit import audit_record
from lending.bulk import update_rows
from lending.charges import installment_fees
from lending.errors import StateConflict
from lending.models import (
    Allocation,
    AuditLog,
    Installment,
    Loan,
    LoanTransaction,
    Receipt,
    Repayment,
)
from lending.replay import Kind
from lending.services import transactions as books
from lending.services.loans import loan_close, loan_reopen
from lending.services.numbers import receipt_issue
from lending.signals import loan_changed, repayment_recorded, repayment_reversed

ZERO = Decimal("0.00")
CENTS = Decimal("0.01")
PAID = Installment.Status.PAID
_PAID_FIELDS = ["penalties_paid", "fees_paid", "interest_paid", "principal_paid"]
_INSTALLMENT_FIELDS = [*_PAID_FIELDS, "status", "paid_on"]


class IdempotencyConflict(StateConflict):
    """The idempotency key was already used for a different request (another amount, date,
    loan...). Nothing is written; the client must send a new key for a new payment."""


@dataclass(frozen=True)
class PayoffQuote(allocation.Payoff):
    """A payoff quote for one loan: the breakdown of `lending.allocation.Payoff` plus what
    the loan owes in full today, so a page can show the saving."""

    loan_id: int = 0
    outstanding: Decimal = ZERO


def money(amount: Decimal) -> str:
    """An amount as staff read it in a message: "USD 1,234.56"."""
    return f"{settings.KARO_CURRENCY} {amount:,.2f}"


def request_fingerprint_for(**parts: Any) -> str:
    """A stable digest of what a request asked for; two submits of one form give the same."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# --- reading the schedule ---------------------------------------------------------------


def installment_due(inst: Installment) -> allocation.InstallmentDue:
    """What is still owed on an installment, per component."""
    return allocation.InstallmentDue(
        id=inst.pk,
        number=inst.number,
        due_date=inst.due_date,
        penalties=inst.penalties - inst.penalties_paid,
        fees=inst.fees - inst.fees_paid,
        interest=inst.interest - inst.interest_waived - inst.interest_paid,
        principal=inst.principal - inst.principal_paid,
    )


def _status_of(inst: Installment) -> str:
    if inst.remaining == 0:
        return Installment.Status.PAID
    if inst.paid > 0:
        return Installment.Status.PARTIAL
    return Installment.Status.DUE


def _days_past_due(oldest_unpaid_due: date | None, today: date) -> int:
    if oldest_unpaid_due is None or oldest_unpaid_due >= today:
        return 0
    return (today - oldest_unpaid_due).days


def _schedule_for_payoff(
    loan: Loan, installments: list[Installment]
) -> list[allocation.ScheduledInstallment]:
    # Each installment's own `installment` fees, from the loan's frozen terms on its schedule.
    per_installment = installment_fees(loan.charge_terms, installments)
    return [
        allocation.ScheduledInstallment(
            due=installment_due(inst),
            principal=inst.principal,
            interest=inst.interest - inst.interest_waived,
            installment_fees=per_installment.get(inst.number, ZERO),
        )
        for inst in installments
    ]


def _payoff_for(loan: Loan, installments: list[Installment], on: date) -> allocation.Payoff:
    assert loan.disbursement_date is not None
    return allocation.payoff(
        schedule=_schedule_for_payoff(loan, installments),
        on=on,
        disbursement_date=loan.disbursement_date,
        annual_rate=loan.annual_interest_rate,
        days_in_year=loan.days_in_year,
        flat=loan.interest_method == "flat",
        principal=loan.principal,
    )


# --- checks -----------------------------------------------------------------------------


def _lock(loan_id: int) -> Loan:
    return Loan.objects.select_for_update().get(pk=loan_id)


def _lock_for_key(
    loan_id: int, key: str | None, fingerprint: str
) -> tuple[books.PostingLock, Repayment | None]:
    """Lock the loan and, in the same statement, see whether the one-time key was spent (the
    repayment it created, when the request was the same): a posting pays no round trip of
    its own for its idempotency, nor for its accounts (`books.lock_for_posting`)."""
    locked = books.lock_for_posting(loan_id, key=key)
    return locked, _existing_for_key(key, fingerprint) if locked.key_spent else None


def _closed_through(locked: books.PostingLock, value_date: date) -> date | object | None:
    """The closed-books date to check `value_date` against. The one the lock's statement read
    is as of before any wait for the lock: good for a payment dated today (only days before
    today can be closed), read afresh (`...`: `check_open` reads it) for an earlier date."""
    return locked.closed_through if value_date >= timezone.localdate() else ...


def _require_active(loan: Loan, what: str) -> None:
    if loan.status != Loan.Status.ACTIVE:
        raise StateConflict(
            f"Loan {loan.number} is {loan.get_status_display().lower()}; {what} can only be "
            "recorded on active loans."
        )


def _check_date(loan: Loan, value: date, field: str) -> None:
    today = timezone.localdate()
    if value > today:
        raise ValidationError({field: "The payment date cannot be in the future."})
    if loan.disbursement_date is not None and value < loan.disbursement_date:
        raise ValidationError(
            {
                field: f"The payment date cannot be before the loan was disbursed "
                f"({loan.disbursement_date:%d %b %Y})."
            }
        )


def _check_payable(
    loan: Loan, amount: Decimal, paid_on: date, *, closed_through: date | object | None = ...
) -> None:
    """A payment of `amount` on `paid_on` fits the (locked) loan."""
    _require_active(loan, "payments")
    _check_date(loan, paid_on, "paid_on")
    check_open(paid_on, field="paid_on", through=closed_through)
    if amount > loan.outstanding:
        raise ValidationError(
            {
                "amount": "The amount is above the loan's outstanding balance of "
                f"{money(loan.outstanding)}."
            }
        )


def _check_method(method: str) -> None:
    if method not in Repayment.Method.values:
        choices = ", ".join(label for label in Repayment.Method.labels)
        raise ValidationError({"method": f"Choose a payment method: {choices}."})


def _clean_reference(reference: str) -> str:
    reference = (reference or "").strip()
    max_length = Repayment._meta.get_field("reference").max_length or 100
    if len(reference) > max_length:
        raise ValidationError(
            {"reference": f"The reference can be at most {max_length} characters."}
        )
    return reference


def _clean_amount(amount: Any) -> Decimal:
    if isinstance(amount, float) or not isinstance(amount, Decimal | int | str):
        raise TypeError(f"amount must be a Decimal, not {type(amount).__name__}")
    try:
        value = Decimal(amount)
    except ArithmeticError:
        raise ValidationError({"amount": "Enter the amount as a number."}) from None
    if not value.is_finite():
        raise ValidationError({"amount": "Enter the amount as a number."})
    if value != value.quantize(CENTS):
        raise ValidationError({"amount": "The amount must be in whole cents."})
    if value <= 0:
        raise ValidationError({"amount": "The amount must be more than zero."})
    return value.quantize(CENTS)


def _existing_for_key(key: str | None, fingerprint: str) -> Repayment | None:
    """The repayment an earlier submit with this key created, if the request was the same."""
    if not key:
        return None
    existing = Repayment.objects.filter(idempotency_key=key).first()
    if existing is not None and existing.request_fingerprint != fingerprint:
        raise IdempotencyConflict(
            "This payment form was already submitted with different details. "
            "Open a new form to record another payment."
        )
    return existing


# --- posting ------------------------------------------------------------------------------


@dataclass
class _Posted:
    repayment: Repayment
    receipt: Receipt
    allocations: list[Allocation]
    before: dict[str, str]
    replayed: books.Plan | None = None  # set when the payment was backdated
    installments: list[Installment] = field(default_factory=list)  # in order: the unpaid ones


def _new_repayment(
    *,
    loan: Loan,
    user: User,
    amount: Decimal,
    paid_on: date,
    method: str,
    reference: str,
    idempotency_key: str | None,
    fingerprint: str,
    outstanding_after: Decimal,
    is_settlement: bool = False,
) -> Repayment:
    return Repayment.objects.create(
        loan=loan,
        amount=amount,
        paid_on=paid_on,
        method=method,
        reference=reference,
        is_settlement=is_settlement,
        outstanding_after=outstanding_after,
        recorded_by=user,
        idempotency_key=idempotency_key or None,
        request_fingerprint=fingerprint,
    )


def _issue_receipt(repayment: Repayment) -> Receipt:
    """The receipt takes the next number of a counter every posting shares, locked until the
    transaction commits: a posting in date order issues it last, just before its audit entry
    (the other shared lock), so cashiers on different loans wait for each other only that
    long."""
    return receipt_issue(repayment)


def _refuse_overpayment(plan: books.Plan, *, amount: Decimal, paid_on: date) -> None:
    """Dated earlier, a payment can pay an installment in time, so its late penalty is taken
    back and the loan owes less than its balance says today: never take more than it owes."""
    above = plan.book.overpaid - plan.loan.overpaid
    if above > 0:
        raise ValidationError(
            {
                "amount": f"Dated {paid_on:%d %b %Y}, the loan owes {money(above)} less (a "
                f"late penalty is taken back): the payment can be at most {money(amount - above)}."
            }
        )


def _post(
    *,
    loan: Loan,
    user: User,
    amount: Decimal,
    paid_on: date,
    method: str,
    reference: str,
    idempotency_key: str | None,
    fingerprint: str,
    installments: list[Installment] | None = None,
    waivers: dict[int, replay.Parts] | None = None,
    credit: Decimal = ZERO,
    accounts: dict[str, int] | None = None,
) -> _Posted:
    """Book a payment (and a settlement's waivers) on the locked loan: in order onto the
    stored state, or, when it is dated before something the loan has booked, by replaying
    the loan. Writes everything a posting writes except the audit entry."""
    accounts = accounts if accounts is not None else books.accounts_for(loan)
    before = {"total_paid": str(loan.total_paid), "outstanding": str(loan.outstanding)}
    if not books.is_in_order(loan, paid_on):
        plan = books.plan_replay(loan=loan, add=books.new_txn(Kind.REPAYMENT, paid_on, amount))
        effect = plan.new_effect
        assert effect is not None
        _refuse_overpayment(plan, amount=amount, paid_on=paid_on)
        repayment = _new_repayment(
            loan=loan,
            user=user,
            amount=amount,
            paid_on=paid_on,
            method=method,
            reference=reference,
            outstanding_after=effect.outstanding_after,
            idempotency_key=idempotency_key,
            fingerprint=fingerprint,
        )
        receipt = _issue_receipt(repayment)  # its number names the replay's reason
        txn = books.store_replay(
            plan,
            user=user,
            reason=f"backdated payment {receipt.number} of {paid_on:%d %b %Y}",
            accounts=accounts,
            new_fields={
                "kind": Kind.REPAYMENT,
                "value_date": paid_on,
                "amount": amount,
                "method": method,
                "repayment": repayment,
            },
        )
        allocations = list(Allocation.objects.filter(transaction=txn))
        return _Posted(repayment, receipt, allocations, before, replayed=plan)

    if installments is None:
        installments = books.unpaid_installments(loan)
    book = books.open_book(loan, installments)
    waiver_effect = credit_effect = None
    if waivers:
        lines = tuple(replay.Line(pk, v) for pk, v in waivers.items() if v.total)
        waiver = books.new_txn(
            Kind.WAIVER, paid_on, sum((v.total for v in waivers.values()), ZERO), lines
        )
        waiver_effect = book.apply(waiver)
    if credit > 0:  # interest paid ahead, beyond what the waiver left: given back
        credit_effect = book.apply(books.new_txn(Kind.CREDIT, paid_on, credit))
        if credit_effect.overpaid:  # the quote covers this by construction; never book it
            raise StateConflict("The interest credit is above what the loan owes.")
    try:
        effect = book.apply(books.new_txn(Kind.REPAYMENT, paid_on, amount))
    except ValueError as exc:
        raise ValidationError({"amount": str(exc)}) from exc
    if effect.overpaid:  # the checks before make this impossible; never book it
        raise ValidationError({"amount": "The payment is above what the loan owes."})
    repayment = _new_repayment(
        loan=loan,
        user=user,
        amount=amount,
        paid_on=paid_on,
        method=method,
        reference=reference,
        outstanding_after=effect.outstanding_after,
        is_settlement=bool(waivers),
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
    )
    if waiver_effect is not None:
        books.store_in_order(
            loan=loan,
            installments=[],
            book=book,
            effect=waiver_effect,
            fields={
                "kind": Kind.WAIVER,
                "value_date": paid_on,
                "amount": waiver_effect.split.total,
                "repayment": repayment,
            },
            user=user,
            accounts=accounts,
        )
    if credit_effect is not None:
        books.store_in_order(
            loan=loan,
            installments=[],
            book=book,
            effect=credit_effect,
            fields={
                "kind": Kind.CREDIT,
                "value_date": paid_on,
                "amount": credit,
                "repayment": repayment,
            },
            user=user,
            accounts=accounts,
        )
    booked = books.store_in_order(
        loan=loan,
        installments=installments,
        book=book,
        effect=effect,
        fields={
            "kind": Kind.REPAYMENT,
            "value_date": paid_on,
            "amount": amount,
            "method": method,
            "repayment": repayment,
        },
        user=user,
        accounts=accounts,
    )
    books.save_loan_totals(loan, book)
    receipt = _issue_receipt(repayment)
    return _Posted(repayment, receipt, booked.allocations, before, installments=installments)


def _allocation_details(posted: _Posted, installments: list[Installment]) -> list[dict[str, Any]]:
    numbers = {inst.pk: inst.number for inst in installments}
    return [
        {
            "installment": numbers.get(a.installment_id, a.installment_id),
            **{c: str(getattr(a, c)) for c in allocation.COMPONENTS},
        }
        for a in posted.allocations
    ]


def _numbers_of(posted: _Posted) -> list[Installment]:
    if posted.replayed is not None:
        return posted.replayed.installments
    if posted.installments:
        return posted.installments
    return list(
        Installment.objects.filter(pk__in=[a.installment_id for a in posted.allocations]).only(
            "id", "number"
        )
    )


def _replay_details(posted: _Posted) -> dict[str, Any]:
    """A backdated payment's audit entry lists every split it changed, old -> new."""
    if posted.replayed is None:
        return {}
    return {"backdated": True, "replay": posted.replayed.as_dict()}


def _finish(
    *,
    loan: Loan,
    user: User,
    posted: _Posted,
    event: str,
    request: HttpRequest | None,
) -> None:
    """Close a loan that reached zero, then tell whoever listens."""
    if loan.outstanding == 0:
        on = posted.repayment.paid_on
        if posted.replayed is not None:
            on = posted.replayed.book.closed_on or on
        loan_close(loan=loan, user=user, on=on, request=request)
    repayment_recorded.send(sender=Repayment, repayment=posted.repayment, loan_id=loan.pk)
    loan_changed.send(sender=Loan, loan_id=loan.pk, event=event)


def _replay_after_race(key: str | None, fingerprint: str) -> Repayment | None:
    """After a unique-key clash (two submits of one key both got past the first check), the
    winner's row is the answer when the request was the same."""
    return _existing_for_key(key, fingerprint) if key else None


def repayment_record(
    *,
    loan: Loan,
    user: User,
    amount: Decimal,
    paid_on: date,
    method: str,
    reference: str = "",
    idempotency_key: str | None = None,
    request_fingerprint: str = "",
    request: HttpRequest | None = None,
) -> Repayment:
    """Record money received against an active loan, allocate it, issue its receipt, and
    close the loan when nothing is left. Refuses (ValidationError on the field, StateConflict
    for the loan's state) with nothing written."""
    require(can_record_repayment(user), "Your role does not allow recording repayments.")
    value = _clean_amount(amount)
    reference = _clean_reference(reference)
    _check_method(method)
    fingerprint = request_fingerprint or request_fingerprint_for(
        action="repayment",
        loan=loan.pk,
        amount=str(value),
        paid_on=paid_on.isoformat(),
        method=method,
        reference=reference,
    )
    try:
        with transaction.atomic():
            locked, existing = _lock_for_key(loan.pk, idempotency_key, fingerprint)
            if existing is not None:
                return existing
            loan = locked.loan
            try:
                through = _closed_through(locked, paid_on)
                _check_payable(loan, value, paid_on, closed_through=through)
            except ValidationError:
                # A repeated submit that waited for the lock behind the first one and did
                # not see it yet: refused because the first closed the loan or took its
                # balance, it is answered with the first. (Accepted, it meets the first at
                # the key's unique index: see below.)
                existing = _existing_for_key(idempotency_key, fingerprint)
                if existing is not None:
                    return existing
                raise
            posted = _post(
                loan=loan,
                user=user,
                amount=value,
                paid_on=paid_on,
                method=method,
                reference=reference,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                accounts=locked.accounts,
            )
            audit_record(
                action=AuditLog.Action.REPAYMENT_RECORDED,
                user=user,
                obj=posted.repayment,
                details={
                    "loan": loan.number,
                    "receipt": posted.receipt.number,
                    "amount": str(value),
                    "paid_on": paid_on,
                    "method": method,
                    "reference": reference,
                    "before": posted.before,
                    "after": {
                        "total_paid": str(loan.total_paid),
                        "outstanding": str(loan.outstanding),
                    },
                    "allocations": _allocation_details(posted, _numbers_of(posted)),
                    **_replay_details(posted),
                },
                request=request,
            )
            _finish(
                loan=loan, user=user, posted=posted, event="repayment_recorded", request=request
            )
            return posted.repayment
    except IntegrityError:
        replay = _replay_after_race(idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay


def payoff_quote(*, loan: Loan, on: date) -> PayoffQuote:
    """What settling `loan` on `on` would cost, with its breakdown (one query). Quotes may be
    for a future date too; settling is only possible up to today."""
    _require_active(loan, "settlements")
    assert loan.disbursement_date is not None
    if on < loan.disbursement_date:
        raise ValidationError(
            {
                "on": "Choose a date on or after the disbursement "
                f"({loan.disbursement_date:%d %b %Y})."
            }
        )
    installments = list(Installment.objects.filter(loan=loan).order_by("due_date", "number"))
    payoff = _payoff_for(loan, installments, on)
    return PayoffQuote(
        **{f.name: getattr(payoff, f.name) for f in fields(payoff)},
        loan_id=loan.pk,
        outstanding=loan.outstanding,
    )


def _settlement_waivers(quote: allocation.Payoff) -> dict[int, replay.Parts]:
    """What the settlement's waiver forgives per installment: the interest not earned and the
    installment fees of the installments not yet due."""
    ids = sorted(set(quote.waivers) | set(quote.fee_waivers))
    return {
        pk: replay.Parts(interest=quote.waivers.get(pk, ZERO), fees=quote.fee_waivers.get(pk, ZERO))
        for pk in ids
    }


def loan_settle(
    *,
    loan: Loan,
    user: User,
    on: date,
    method: str,
    reference: str = "",
    idempotency_key: str | None = None,
    expected_amount: Decimal | None = None,
    request: HttpRequest | None = None,
) -> Repayment:
    """Early settlement: record the payoff amount as of `on` (a settlement repayment), waive
    the scheduled interest not yet earned and the installment fees of the installments not yet
    due, and close the loan. `expected_amount` is the figure the cashier quoted and collected:
    if the payoff differs once the loan is locked (a payment or a penalty came in since the
    quote), nothing is recorded."""
    require(can_record_repayment(user), "Your role does not allow recording repayments.")
    reference = _clean_reference(reference)
    _check_method(method)
    fingerprint = request_fingerprint_for(
        action="settlement",
        loan=loan.pk,
        on=on.isoformat(),
        method=method,
        reference=reference,
    )
    try:
        with transaction.atomic():
            locked, existing = _lock_for_key(loan.pk, idempotency_key, fingerprint)
            if existing is not None:
                return existing
            loan = locked.loan
            _require_active(loan, "settlements")
            _check_date(loan, on, "on")
            check_open(on, field="on", through=_closed_through(locked, on))
            if not books.is_in_order(loan, on):
                assert loan.incremental_from is not None
                raise ValidationError(
                    {
                        "on": "Something was booked on this loan after that date: settle as of "
                        f"{loan.incremental_from:%d %b %Y} or later."
                    }
                )
            everything = list(Installment.objects.filter(loan=loan).order_by("due_date", "number"))
            quote = _payoff_for(loan, everything, on)
            if expected_amount is not None and quote.total != expected_amount:
                raise ValidationError(
                    {
                        "expected_amount": "The payoff changed since the quote: it is now "
                        f"{money(quote.total)}. Check it and settle again."
                    }
                )
            if quote.total <= 0 and quote.interest_credited > 0:
                # Settling would owe the borrower money back: a refund is not built (it needs
                # money out of the institution, not a repayment).
                raise ValidationError(
                    {
                        "on": f"The interest paid ahead ({money(quote.interest_credited)}) is "
                        "more than everything else this loan owes: settling would refund "
                        f"{money(-quote.total)}, which cannot be booked here. Ask an "
                        "accountant to settle it by hand."
                    }
                )
            if quote.total <= 0:
                raise ValidationError(
                    {
                        "on": "Nothing but future interest is left on this loan; record the "
                        f"remaining {money(loan.outstanding)} as a payment instead."
                    }
                )
            # Every installment: the credit gives back interest paid on paid ones too.
            posted = _post(
                loan=loan,
                user=user,
                installments=everything,
                amount=quote.total,
                paid_on=on,
                method=method,
                reference=reference,
                idempotency_key=idempotency_key,
                fingerprint=fingerprint,
                waivers=_settlement_waivers(quote),
                credit=quote.interest_credited,
                accounts=locked.accounts,
            )
            if loan.outstanding != 0:  # the quote covers everything by construction
                raise StateConflict(
                    f"Settling would leave {money(loan.outstanding)}; nothing was recorded."
                )
            audit_record(
                action=AuditLog.Action.LOAN_SETTLED,
                user=user,
                obj=loan,
                details={
                    "repayment": posted.repayment.pk,
                    "receipt": posted.receipt.number,
                    "on": on,
                    "method": method,
                    "reference": reference,
                    "amount": str(quote.total),
                    "breakdown": {
                        "past_due": str(quote.past_due),
                        "principal_not_due": str(quote.principal_not_due),
                        "accrued_interest": str(quote.accrued_interest),
                        "penalties_and_fees": str(quote.penalties_and_fees),
                    },
                    "interest_waived": str(quote.interest_waived),
                    "waivers": {str(pk): str(v) for pk, v in quote.waivers.items()},
                    "interest_credited": str(quote.interest_credited),
                    "credits": {str(pk): str(v) for pk, v in quote.credits.items()},
                    "fees_waived": str(quote.fees_waived),
                    "fee_waivers": {str(pk): str(v) for pk, v in quote.fee_waivers.items()},
                    "before": posted.before,
                    "after": {
                        "total_paid": str(loan.total_paid),
                        "total_waived": str(loan.total_waived),
                        "outstanding": str(loan.outstanding),
                    },
                    "allocations": _allocation_details(posted, everything),
                },
                request=request,
            )
            _finish(loan=loan, user=user, posted=posted, event="settled", request=request)
            return posted.repayment
    except IntegrityError:
        replay = _replay_after_race(idempotency_key, fingerprint)
        if replay is None:
            raise
        return replay


# --- reversal -----------------------------------------------------------------------------


def _check_reversible(repayment: Repayment, loan: Loan) -> None:
    if repayment.is_reversed:
        assert repayment.reversed_at is not None
        raise StateConflict(
            f"This repayment was already reversed on {repayment.reversed_at:%d %b %Y}."
        )
    if repayment.is_recovery:
        # A recovery is reversed while its loan stays written off (`lending.services.recoveries`).
        if loan.status != Loan.Status.WRITTEN_OFF:
            raise StateConflict(f"Loan {loan.number} is no longer written off.")
    elif loan.status not in (Loan.Status.ACTIVE, Loan.Status.CLOSED):
        raise StateConflict(
            f"Loan {loan.number} is {loan.get_status_display().lower()}; its repayments "
            "can no longer be reversed."
        )
    check_open(repayment.paid_on, field="reason")


def _plan_reversal(repayment: Repayment, loan: Loan) -> tuple[books.Plan, list[LoanTransaction]]:
    txns = list(LoanTransaction.objects.filter(repayment=repayment, reversed_at=None))
    # A written-off loan is replayed with its charges as booked: the daily close charges only
    # active loans, so no penalty is decided again behind its write-off.
    penalties = books.penalties_as_booked(loan) if repayment.is_recovery else None
    return books.plan_replay(loan=loan, remove=[t.pk for t in txns], penalties=penalties), txns


def repayment_reverse_preview(*, repayment: Repayment, user: User) -> books.Plan:
    """What reversing `repayment` would change (later splits, penalties, days past due, the
    loan closing or re-opening), without storing anything: the reversal page and the API's
    dry run show it. Refuses what `repayment_reverse` would refuse."""
    require(can_reverse_repayment(user), "Your role does not allow reversing repayments.")
    with transaction.atomic():
        loan = _lock(repayment.loan_id)
        repayment = Repayment.objects.get(pk=repayment.pk)
        _check_reversible(repayment, loan)
        plan, _txns = _plan_reversal(repayment, loan)
    return plan


def repayment_preview(
    *, loan: Loan, user: User, amount: Decimal, paid_on: date
) -> books.Plan | None:
    """What a payment dated `paid_on` would change on the loan's later transactions when it is
    backdated (None when it would be booked in order and changes nothing already booked)."""
    require(can_record_repayment(user), "Your role does not allow recording repayments.")
    value = _clean_amount(amount)
    with transaction.atomic():
        loan = _lock(loan.pk)
        _check_payable(loan, value, paid_on)
        if books.is_in_order(loan, paid_on):
            return None
        plan = books.plan_replay(loan=loan, add=books.new_txn(Kind.REPAYMENT, paid_on, value))
        _refuse_overpayment(plan, amount=value, paid_on=paid_on)
        return plan


def repayment_reverse(
    *,
    repayment: Repayment,
    user: User,
    reason: str,
    request: HttpRequest | None = None,
) -> Repayment:
    """Reverse a repayment: its transactions (a settlement's waiver too) are marked reversed
    with mirror journal entries, the loan is replayed without them (later payments re-split,
    penalties decided again, each change journalled and audited), its receipt is voided, and
    the loan re-opens if it was closed. The repayment row stays, marked reversed."""
    require(can_reverse_repayment(user), "Your role does not allow reversing repayments.")
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": "Give a reason for the reversal."})
    with transaction.atomic():
        loan = _lock(repayment.loan_id)
        repayment = Repayment.objects.select_for_update().get(pk=repayment.pk)
        repayment.loan = loan  # the locked row: its number names the entry, no second read
        _check_reversible(repayment, loan)
        plan, txns = _plan_reversal(repayment, loan)
        accounts = books.accounts_for(loan)
        before = {
            "total_paid": str(loan.total_paid),
            "total_waived": str(loan.total_waived),
            "outstanding": str(loan.outstanding),
            "status": loan.status,
        }
        now = timezone.now()
        for t in txns:
            t.reversed_at = now
            t.reversed_by = user  # type: ignore[assignment]
            t.reversal_reason = reason
        update_rows(txns, ["reversed_at", "reversed_by", "reversal_reason"])
        books.mirror_entries(txns, loan=loan, accounts=accounts, user=user)
        receipt_number = (
            Receipt.objects.filter(repayment=repayment).values_list("number", flat=True).first()
        )
        books.store_replay(
            plan,
            user=user,
            reason=f"reversal of {receipt_number or repayment.pk}",
            accounts=accounts,
        )
        repayment.reversed_at = now
        repayment.reversed_by = user  # type: ignore[assignment]
        repayment.reversal_reason = reason
        repayment.save(update_fields=["reversed_at", "reversed_by", "reversal_reason"])
        Receipt.objects.filter(repayment=repayment).update(voided_at=now)
        waivers = [t for t in txns if t.kind == Kind.WAIVER]
        waived = sum((t.interest for t in waivers), ZERO)
        fees_restored = sum((t.fees for t in waivers), ZERO)
        audit_record(
            action=AuditLog.Action.REPAYMENT_REVERSED,
            user=user,
            obj=repayment,
            details={
                "loan": loan.number,
                "receipt": receipt_number,
                "amount": str(repayment.amount),
                "paid_on": repayment.paid_on,
                "settlement": repayment.is_settlement,
                "recovery": repayment.is_recovery,
                "interest_restored": str(waived),
                **({"fees_restored": str(fees_restored)} if fees_restored else {}),
                "reason": reason,
                "before": before,
                "after": {
                    "total_paid": str(loan.total_paid),
                    "total_waived": str(loan.total_waived),
                    "outstanding": str(loan.outstanding),
                },
                "replay": plan.as_dict(),
            },
            request=request,
        )
        if loan.status == Loan.Status.CLOSED and loan.outstanding > 0:
            loan_reopen(loan=loan, user=user, request=request)
        elif loan.status == Loan.Status.ACTIVE and loan.outstanding == 0:
            on = plan.book.closed_on or repayment.paid_on
            loan_close(loan=loan, user=user, on=on, request=request)
        repayment_reversed.send(sender=Repayment, repayment=repayment, loan_id=loan.pk)
        loan_changed.send(sender=Loan, loan_id=loan.pk, event="repayment_reversed")
    return repayment
