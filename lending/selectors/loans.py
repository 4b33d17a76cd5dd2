"""Loan reads: the filtered list, one loan with its schedule, repayments and history.

Lists and the detail page read the totals kept on the loan row (`total_repayable`,
`outstanding`) and never sum installments per row; the detail page loads the schedule in one
query and totals it in Python from the rows it shows anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import cache
from django.db.models import Count, Q, QuerySet, Sum
from django.shortcuts import get_object_or_404

from accounts.offices import get_scoped_or_404, scope
from karo.caching import with_generations
from lending.models import ZERO, AuditLog, Installment, Loan, LoanTransaction, Repayment
from lending.phones import phone_search_digits
from lending.receivers import (
    PORTFOLIO_GENERATION_KEY,
    STAFF_GENERATION_KEY,
    portfolio_and_staff_generations,
)
from lending.selectors.repayments import with_balance_after


def loan_list(
    *,
    query: str = "",
    status: str = "",
    officer: User | None = None,
    product_id: int | None = None,
    borrower_id: int | None = None,
    submitted_from: date | None = None,
    submitted_to: date | None = None,
) -> QuerySet[Loan]:
    """Loans newest first, with what a list row shows joined in (borrower, product, officer).
    `officer` is the loan officer the loan is assigned to (its portfolio)."""
    loans = Loan.objects.select_related("borrower", "product", "officer")
    query = query.strip()
    if query:
        match = (
            Q(number__icontains=query)
            | Q(borrower__full_name__icontains=query)
            | Q(borrower__number__icontains=query)
            | Q(borrower__phone__icontains=query)
        )
        # Phones are stored in E.164: "0712 345 678" finds "+254712345678", as on the borrower
        # list and the repayments page's "Find a loan" (lending.phones).
        phone_digits = phone_search_digits(query)
        if phone_digits:
            match |= Q(borrower__phone__icontains=phone_digits)
        loans = loans.filter(match)
    if status:
        loans = loans.filter(status=status)
    if officer is not None:
        loans = loans.filter(officer=officer)
    if product_id is not None:
        loans = loans.filter(product_id=product_id)
    if borrower_id is not None:
        loans = loans.filter(borrower_id=borrower_id)
    if submitted_from is not None:
        loans = loans.filter(submitted_at__date__gte=submitted_from)
    if submitted_to is not None:
        loans = loans.filter(submitted_at__date__lte=submitted_to)
    return loans.order_by("-submitted_at", "-id")


def loan_officers(*, user: Any = None) -> QuerySet[User]:
    """Everyone with a loan of the user's offices in their portfolio: the choices of the list's
    officer filter."""
    loans = Loan.objects.all() if user is None else scope(Loan.objects.all(), user)
    return (
        User.objects.filter(pk__in=loans.values("officer_id"))
        .only("id", "username", "first_name", "last_name")
        .order_by("first_name", "last_name", "username")
    )


# How long a loan's row is kept (it is read again as soon as the portfolio generation moves on).
LOAN_ROW_SECONDS = 3600


def loan_with_generations(pk: int) -> tuple[Loan, str, str]:
    """One loan's own row (or 404) and the portfolio and staff generations its page's sections
    are kept under, in one cache round trip: the row is kept beside the portfolio generation it
    was read under, which every service that changes a loan renews, so a loan page whose
    sections are cached reads no table. Kept only in a cache every worker shares
    (KARO_CACHE_ACCESS, on with Redis): a worker's own memory would not see another worker's
    renewal."""
    if not settings.KARO_CACHE_ACCESS:
        portfolio, staff = portfolio_and_staff_generations()
        return get_object_or_404(Loan, pk=pk), portfolio, staff
    key = loan_row_key(pk)
    kept, (portfolio, staff) = with_generations(key, PORTFOLIO_GENERATION_KEY, STAFF_GENERATION_KEY)
    if kept is not None and kept[0] == portfolio:
        return kept[1], portfolio, staff
    loan = get_object_or_404(Loan, pk=pk)
    cache.set(key, (portfolio, loan), LOAN_ROW_SECONDS)
    return loan, portfolio, staff


def loan_row_key(pk: int) -> str:
    """Where `loan_with_generations` keeps a loan's row (a release reads rows in its own
    shape); the loan page reads it ahead, with the access check."""
    return f"loan:{settings.KARO_RELEASE}:{pk}"


def loan_for_page(pk: int, user: Any) -> Loan:
    """One loan with the people and records its page names, or 404 (also when it is another
    office's)."""
    return get_scoped_or_404(
        Loan.objects.select_related("borrower", "product", "submitted_by", "decided_by"),
        user,
        pk=pk,
    )


@dataclass
class ScheduleTotals:
    principal: Decimal = ZERO
    interest: Decimal = ZERO
    fees: Decimal = ZERO
    penalties: Decimal = ZERO
    total: Decimal = ZERO
    interest_waived: Decimal = ZERO
    paid: Decimal = ZERO
    remaining: Decimal = ZERO
    overdue: int = 0
    # Paid on installments not yet due (today): principal and interest paid ahead.
    paid_ahead_principal: Decimal = ZERO
    paid_ahead_interest: Decimal = ZERO

    @property
    def paid_ahead(self) -> Decimal:
        return self.paid_ahead_principal + self.paid_ahead_interest


# A schedule longer than this shows the rows around today on the loan page, the rest on request:
# the last few settled rows, every unpaid row due by today and the next upcoming ones.
SCHEDULE_WINDOW_OVER = 60
SETTLED_ROWS_SHOWN = 3
UPCOMING_ROWS_SHOWN = 12


@dataclass
class LoanSchedule:
    rows: list[Installment] = field(default_factory=list)
    totals: ScheduleTotals = field(default_factory=ScheduleTotals)
    # The rows a page shows (all of them unless windowed) and how many are left out around them.
    shown: list[Installment] = field(default_factory=list)
    hidden_before: int = 0
    hidden_after: int = 0

    @property
    def windowed(self) -> bool:
        return bool(self.hidden_before or self.hidden_after)

    @property
    def long(self) -> bool:
        """Long enough for a page to show only the rows around today."""
        return len(self.rows) > SCHEDULE_WINDOW_OVER


def _window(rows: list[Installment], today: date) -> tuple[int, int]:
    """The slice of a long schedule around today: it is contiguous because payments settle
    installments oldest first."""
    first_unpaid = next(
        (i for i, row in enumerate(rows) if row.status != Installment.Status.PAID), len(rows)
    )
    due_by_today = max((i for i, row in enumerate(rows) if row.due_date <= today), default=-1)
    start = max(0, first_unpaid - SETTLED_ROWS_SHOWN)
    end = min(len(rows), max(due_by_today + 1, first_unpaid) + UPCOMING_ROWS_SHOWN)
    return start, end


def loan_schedule(*, loan: Loan, today: date, window: bool = False) -> LoanSchedule:
    """The stored installments in order, each marked `overdue` (unpaid past its due date as of
    `today`) or `written_off` (unpaid on a written-off loan), and their totals; `totals.overdue`
    counts the overdue rows of a loan still collected (one query whatever the number of
    installments). With `window`, a schedule of more than SCHEDULE_WINDOW_OVER rows shows only
    the rows around today (`shown`); the totals are always the whole schedule's."""
    schedule = LoanSchedule(rows=list(Installment.objects.filter(loan=loan).order_by("number")))
    start, end = (
        _window(schedule.rows, today) if window and schedule.long else (0, len(schedule.rows))
    )
    schedule.shown = schedule.rows[start:end]
    schedule.hidden_before, schedule.hidden_after = start, len(schedule.rows) - end
    written_off = loan.status == Loan.Status.WRITTEN_OFF
    t = schedule.totals
    for row in schedule.rows:
        row.overdue = row.is_overdue(today)  # type: ignore[attr-defined]
        row.written_off = written_off and row.status != Installment.Status.PAID  # type: ignore[attr-defined]
        t.principal += row.principal
        t.interest += row.interest
        t.fees += row.fees
        t.penalties += row.penalties
        t.total += row.total
        t.interest_waived += row.interest_waived
        t.paid += row.paid
        t.remaining += row.remaining
        t.overdue += 1 if row.overdue and not written_off else 0  # type: ignore[attr-defined]
        if row.due_date > today:
            t.paid_ahead_principal += row.principal_paid
            t.paid_ahead_interest += row.interest_paid
    return schedule


LOAN_PAGE_REPAYMENTS = 20


def loan_repayments(*, loan: Loan, limit: int | None = LOAN_PAGE_REPAYMENTS) -> list[Repayment]:
    """A loan's latest repayments (all with `limit=None`), newest first, with their receipt
    and who recorded them. The loan page shows the latest few: a loan paid weekly for years
    must not make its page slower; the repayments list has them all."""
    qs = (
        with_balance_after(Repayment.objects.filter(loan=loan))
        .select_related("receipt", "recorded_by")
        .order_by("-paid_on", "-recorded_at", "-id")
    )
    return list(qs if limit is None else qs[:limit])


# The audit entry that put a loan in a state its row does not date or sign.
_STATUS_ACTIONS = {
    Loan.Status.WRITTEN_OFF: AuditLog.Action.LOAN_WRITTEN_OFF,
    Loan.Status.WITHDRAWN: AuditLog.Action.LOAN_WITHDRAWN,
}


def loan_status_change(*, loan: Loan) -> AuditLog | None:
    """When and by whom a loan was written off or withdrawn (None in other states)."""
    action = _STATUS_ACTIONS.get(Loan.Status(loan.status))
    if action is None:
        return None
    entries = AuditLog.objects.filter(object_type="loan", object_id=str(loan.pk), action=action)
    return entries.select_related("user").order_by("-id").first()


@dataclass
class HistoryEvent:
    """One line of a loan's history: when, what, by whom, and its details as label/value
    pairs; `receipt` is the receipt number of a payment or reversal (linked on the page for
    those who may read receipts)."""

    at: datetime
    what: str
    who: str
    summary: list[tuple[str, Any]]
    kind: str = ""
    receipt: str = ""


def _person(user: User | None, username: str = "") -> str:
    if user is not None:
        return user.get_full_name() or user.get_username()
    return username or "the system"


def _payment_summary(repayment: Repayment) -> tuple[str, str, str]:
    receipt = getattr(repayment, "receipt", None)
    number = receipt.number if receipt is not None else ""
    amount = f"{settings.KARO_CURRENCY} {repayment.amount:,}"
    return number, amount, repayment.paid_on.strftime("%d %b %Y")


def _payment_event(repayment: Repayment) -> HistoryEvent:
    """A repayment as the history tells it when it was recorded."""
    number, amount, paid_on = _payment_summary(repayment)
    summary: list[tuple[str, Any]] = [("amount", amount), ("paid on", paid_on)]
    summary.append(("method", repayment.get_method_display()))
    if repayment.reference:
        summary.append(("reference", repayment.reference))
    return HistoryEvent(
        at=repayment.recorded_at,
        what="Settlement received" if repayment.is_settlement else "Payment received",
        who=_person(repayment.recorded_by),
        summary=summary,
        kind="payment",
        receipt=number,
    )


def _reversal_event(repayment: Repayment) -> HistoryEvent:
    """A reversed repayment's reversal, with the reason, when it was reversed."""
    assert repayment.reversed_at is not None
    number, amount, paid_on = _payment_summary(repayment)
    reversal: list[tuple[str, Any]] = [("amount", amount), ("paid on", paid_on)]
    if repayment.reversal_reason:
        reversal.append(("reason", repayment.reversal_reason))
    return HistoryEvent(
        at=repayment.reversed_at,
        what="Payment reversed",
        who=_person(repayment.reversed_by),
        summary=reversal,
        kind="reversal",
        receipt=number,
    )


def _audit_event(entry: AuditLog) -> HistoryEvent:
    return HistoryEvent(
        at=entry.created_at,
        what=entry.get_action_display(),
        who=_person(entry.user, entry.username),
        summary=describe_audit(entry),
        kind=entry.action,
    )


LOAN_PAGE_HISTORY = 30


@dataclass
class LoanHistory:
    events: list[HistoryEvent]  # oldest first
    more: bool  # older events exist beyond the ones shown


def loan_history(*, loan: Loan, limit: int | None = LOAN_PAGE_HISTORY) -> LoanHistory:
    """The loan's story, oldest first: its latest `limit` events (all with `limit=None`) from
    its audit entries (submitted, approved, closed, written off...) and its repayments, each a
    payment when recorded and, once reversed, a reversal (with its receipt, who recorded or
    reversed it, and why). Like its transactions, a loan paid weekly for years must not make
    its page slower: three queries whatever their number, each of at most `limit` + 1 rows
    (the latest audit entries, payments and reversals: a payment recorded long ago may have
    been reversed lately), merged by time."""
    entries = AuditLog.objects.filter(object_type="loan", object_id=str(loan.pk))
    entries = entries.select_related("user").order_by("-created_at", "-id")
    repayments = Repayment.objects.filter(loan=loan).select_related("receipt")
    payments = repayments.select_related("recorded_by").order_by("-recorded_at", "-id")
    reversals = (
        repayments.filter(reversed_at__isnull=False)
        .select_related("reversed_by")
        .order_by("-reversed_at", "-recorded_at", "-id")
    )
    rows = None if limit is None else limit + 1
    audit, paid, reversed_ = list(entries[:rows]), list(payments[:rows]), list(reversals[:rows])
    # Same-instant events keep the order they always had: audit entries first (by id), then
    # each repayment's payment and its reversal, repayments in the order they were recorded.
    # Only the events shown are built (an audit entry's details are put in words).
    keyed: list[tuple[tuple[Any, ...], Callable[[Any], HistoryEvent], Any]] = [
        *(((e.created_at, 0, e.id), _audit_event, e) for e in audit),
        *(((r.recorded_at, 1, r.recorded_at, r.id, 0), _payment_event, r) for r in paid),
        *(((r.reversed_at, 1, r.recorded_at, r.id, 1), _reversal_event, r) for r in reversed_),
    ]
    keyed.sort(key=lambda item: item[0])
    more = limit is not None and len(keyed) > limit
    shown = keyed[len(keyed) - limit :] if more and limit is not None else keyed
    return LoanHistory([build(row) for _, build, row in shown], more)


MONEY_DETAILS = {
    "principal", "total_repayable", "written_off", "outstanding", "amount", "total_paid",
    "total_waived", "interest_restored", "principal_not_due", "penalties_and_fees",
    "penalties", "past_due", "accrued_interest", "interest", "fees", "interest_waived",
    "interest_credited", "approved_amount",
}  # fmt: skip


def _status_label(value: str) -> str:
    return str(Loan.Status(value).label) if value in Loan.Status.values else value


def _detail_text(key: str, value: Any) -> Any:
    """A stored detail as staff read it: amounts with separators and currency, dates day
    first (details keep the ISO text they were written with)."""
    if key in MONEY_DETAILS:
        try:
            return f"{settings.KARO_CURRENCY} {Decimal(str(value)):,}"
        except InvalidOperation:
            return value
    if isinstance(value, str) and len(value) == 10:
        try:
            return date.fromisoformat(value).strftime("%d %b %Y")
        except ValueError:
            return value
    return value


def describe_audit(entry: AuditLog) -> list[tuple[str, Any]]:
    """An entry's details as short label/value pairs for the history list."""
    details = entry.details or {}
    out: list[tuple[str, Any]] = []
    before, after = details.get("before") or {}, details.get("after") or {}
    if before.get("status") and after.get("status"):
        out.append(
            ("status", f"{_status_label(before['status'])} → {_status_label(after['status'])}")
        )
    elif after.get("status"):
        out.append(("status", _status_label(after["status"])))
    for key, value in after.items():
        if key != "status":
            text = _in_words(key, value) if isinstance(value, dict | list) else value
            out.append((key.replace("_", " "), _detail_text(key, text)))
    for key in ("reason", "written_off", "outstanding"):
        if details.get(key) not in (None, ""):
            out.append((key.replace("_", " "), _detail_text(key, details[key])))
    return out


def _in_words(key: str, value: Any) -> str:
    if isinstance(value, dict):
        return "; ".join(f"{k.replace('_', ' ')} {_in_words(k, v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_in_words(key, v) for v in value) or "none"
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if key == "status":
        return _status_label(str(value))
    if key == "method" and value in Repayment.Method.values:
        return str(Repayment.Method(value).label)
    return str(_detail_text(key, value))


def audit_details_in_words(details: Any, change: str = "Change") -> list[tuple[str, str]]:
    """Every stored detail of an entry as a label and a line of text, for the audit viewer:
    before/after pairs and changes as "old → new", amounts with currency, dates day first.
    `change` labels a before/after that is not field by field (a user's roles)."""
    if not isinstance(details, dict):
        return [("Details", _in_words("details", details))] if details else []
    before, after = details.get("before"), details.get("after")
    out: list[tuple[str, str]] = []
    if not (isinstance(before or {}, dict) and isinstance(after or {}, dict)):
        # Not field by field (a user's roles are stored as lists of names).
        out.append((change, f"{_in_words('before', before)} → {_in_words('after', after)}"))
        before = after = {}
    before, after = before or {}, after or {}
    for key in dict.fromkeys([*before, *after]):
        label = key.replace("_", " ").capitalize()
        if key in before and key in after:
            out.append((label, f"{_in_words(key, before[key])} → {_in_words(key, after[key])}"))
        else:
            out.append((label, _in_words(key, after.get(key, before.get(key)))))
    changes = details.get("changes") or {}
    if not isinstance(changes, dict):
        out.append(("Changes", _in_words("changes", changes)))
        changes = {}
    for key, pair in changes.items():
        old, new = pair if isinstance(pair, list) and len(pair) == 2 else (None, pair)
        out.append(
            (key.replace("_", " ").capitalize(), f"{_in_words(key, old)} → {_in_words(key, new)}")
        )
    for key, value in details.items():
        if key in ("before", "after", "changes"):
            continue
        if key == "allocations" and isinstance(value, list):
            lines = [
                f"installment {a.get('installment')}: "
                + ", ".join(
                    f"{c} {_in_words(c, a[c])}"
                    for c in a
                    if c != "installment" and str(a[c]) not in ("0", "0.00")
                )
                for a in value
                if isinstance(a, dict)
            ]
            out.append(("Allocations", "; ".join(lines) or "none"))
            continue
        out.append((key.replace("_", " ").capitalize(), _in_words(key, value)))
    return out


@dataclass
class Adjustments:
    """What a loan had forgiven, written off and recovered (the non-reversed waivers,
    write-off and recoveries), by component: the loan page's "Waived, written off and
    recovered" section."""

    waived: dict[str, Decimal] = field(default_factory=dict)
    written_off: dict[str, Decimal] = field(default_factory=dict)
    recovered: Decimal = ZERO
    recoveries: int = 0

    @property
    def waived_total(self) -> Decimal:
        return sum(self.waived.values(), ZERO)

    @property
    def written_off_total(self) -> Decimal:
        return sum(self.written_off.values(), ZERO)

    @property
    def any(self) -> bool:
        return bool(self.waived_total or self.written_off_total or self.recoveries)


ADJUSTMENT_PARTS = ("principal", "interest", "fees", "penalties")


def loan_adjustments(*, loan: Loan) -> Adjustments:
    """One query: the loan's live waivers, write-off and recoveries summed by kind."""
    rows = (
        LoanTransaction.objects.filter(
            loan=loan, reversed_at=None, kind__in=["waiver", "write_off", "recovery"]
        )
        .values("kind")
        .annotate(n=Count("id"), amount=Sum("amount"), **{c: Sum(c) for c in ADJUSTMENT_PARTS})
        .order_by("kind")
    )
    result = Adjustments(
        waived=dict.fromkeys(ADJUSTMENT_PARTS, ZERO),
        written_off=dict.fromkeys(ADJUSTMENT_PARTS, ZERO),
    )

    def cents(value: Decimal | None) -> Decimal:  # SQLite sums come back as 25, not 25.00
        return Decimal(value or ZERO).quantize(Decimal("0.01"))

    for row in rows:
        if row["kind"] == "recovery":
            result.recovered, result.recoveries = cents(row["amount"]), row["n"]
            continue
        target = result.waived if row["kind"] == "waiver" else result.written_off
        for c in ADJUSTMENT_PARTS:
            target[c] = cents(row[c])
    return result
