"""Working days and holidays: the weekdays off (of all offices or of one), holidays added
and removed, and the rescheduling of the loans a new day off falls on (DESIGN.md, "Offices,
loan officers, holidays and origination").

Every change of the calendar is checked by the schedule engine's `WorkingCalendar` first: days
off that leave no working day are refused with a `ValidationError` on the field, nothing
stored. A day off entered later moves no stored schedule by itself: `loans_reschedule` does,
for every active loan at once, after the Admin has seen the same moves on the preview
(`reschedule_moves`), as one audited action.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.http import HttpRequest
from django.utils import timezone

from accounts.access import require
from accounts.head_office import HEAD_OFFICE_ID
from accounts.models import Office
from accounts.offices import check_office, check_office_choice, reaches_everything, scope
from ledger.services import closed_through
from lending.audit import audit_record
from lending.bulk import update_rows
from lending.models import AuditLog, Holiday, Installment, Loan, NonWorkingWeekday
from lending.schedule import (
    MAX_DAYS_OFF_IN_A_ROW,
    WEEKDAY_NAMES,
    CalendarError,
    DueDateRule,
    WorkingCalendar,
    move_due_date,
)
from lending.selectors.calendar import (
    HolidayRow,
    WeekdayRow,
    calendar_of,
    holiday_rows,
    weekday_rows,
)
from lending.services import transactions as books
from lending.services.loans import loan_close
from lending.signals import loan_changed

PERMISSION = "lending.manage_calendar"
REFUSED = "Your role does not allow changing the working days."
HOLIDAY_NAME_MAX = 100


def _check(weekdays: list[WeekdayRow], rows: list[HolidayRow], *, field: str) -> None:
    """Every office's calendar (all offices', and each office with days off of its own, which
    also has those of the offices above it) must leave working days."""
    paths = {None, *(of for _, of in rows if of), *(of for _, of in weekdays if of)}
    for path in sorted(paths, key=lambda p: p or ""):
        try:
            calendar_of(weekdays, rows, path)
        except CalendarError as exc:
            where = ""
            if path is not None:
                office = Office.objects.filter(path=path).values_list("name", flat=True).first()
                where = f" (in {office})"
            raise ValidationError({field: f"{exc}{where}"}) from exc


ALL_OFFICES_ONLY = (
    "The weekly days off and the holidays of all offices are set by a head-office Admin."
)


def _names(weekdays: Iterable[int]) -> list[str]:
    return [WEEKDAY_NAMES[day] for day in sorted(weekdays)]


def _lock_calendar() -> None:
    """Every change that adds a day off takes this one lock (the head office's row, FOR NO
    KEY UPDATE: it does not wait for the postings that merely reference the office): two
    Admins changing the calendars of nested offices at once cannot both pass the check that
    a working day is left, each against the other's old rows."""
    Office.objects.select_for_update(no_key=True).filter(pk=HEAD_OFFICE_ID).first()


@transaction.atomic
def weekdays_off_set(
    *,
    user: User,
    weekdays: Iterable[int],
    office: Office | None = None,
    request: HttpRequest | None = None,
) -> list[str]:
    """Make exactly `weekdays` (0 = Monday ... 6 = Sunday) the weekly days off of `office` and
    the offices under it, added to those of all offices (None: those of all offices, a
    head-office Admin only). Returns their names."""
    require(user.has_perm(PERMISSION), REFUSED)
    if office is None:
        require(reaches_everything(user), ALL_OFFICES_ONLY)
    else:
        check_office_choice(user, office.pk)
    wanted = set(weekdays)
    if any(not isinstance(day, int) or not 0 <= day <= 6 for day in wanted):
        raise ValidationError({"weekdays": "Choose days of the week from Monday to Sunday."})
    _lock_calendar()
    rows = NonWorkingWeekday.objects.select_for_update()
    own = rows.filter(office__isnull=True) if office is None else rows.filter(office=office)
    current = set(own.values_list("weekday", flat=True))
    path = office.path if office is not None else None
    others = [row for row in weekday_rows() if row[1] != path]
    _check([*others, *((day, path) for day in wanted)], holiday_rows(), field="weekdays")
    if wanted == current:
        return _names(wanted)
    own.filter(weekday__in=current - wanted).delete()
    NonWorkingWeekday.objects.bulk_create(
        [NonWorkingWeekday(weekday=day, office=office) for day in sorted(wanted - current)]
    )
    audit_record(
        action=AuditLog.Action.CALENDAR_CHANGED,
        user=user,
        details={
            "weekdays_off": {"before": _names(current), "after": _names(wanted)},
            "office": office.name if office is not None else "all offices",
        },
        request=request,
    )
    return _names(wanted)


@transaction.atomic
def holidays_add(
    *,
    user: User,
    first: date,
    name: str,
    last: date | None = None,
    office: Office | None = None,
    request: HttpRequest | None = None,
) -> list[Holiday]:
    """Add the holiday `name` on `first` (through `last`, for a holiday of several days), of
    `office` and the offices under it, or of all offices (None: a head-office Admin only)."""
    require(user.has_perm(PERMISSION), REFUSED)
    if office is None:
        require(reaches_everything(user), ALL_OFFICES_ONLY)
    else:
        check_office_choice(user, office.pk)
    name = (name or "").strip()
    errors: dict[str, str] = {}
    if not name:
        errors["name"] = "Give the holiday a name, such as New Year's Day."
    elif len(name) > HOLIDAY_NAME_MAX:
        errors["name"] = f"At most {HOLIDAY_NAME_MAX} characters."
    last = last or first
    if last < first:
        errors["last"] = "The last day must be on or after the first."
    elif (last - first).days >= MAX_DAYS_OFF_IN_A_ROW:
        errors["last"] = f"A holiday lasts at most {MAX_DAYS_OFF_IN_A_ROW} days."
    if errors:
        raise ValidationError(errors)
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    _lock_calendar()
    same_office = (
        Holiday.objects.select_for_update().filter(office__isnull=True)
        if office is None
        else Holiday.objects.select_for_update().filter(office=office)
    )
    taken = sorted(set(same_office.values_list("date", flat=True)).intersection(days))
    if taken:
        raise ValidationError(
            {"first": f"{taken[0]:%d %b %Y} is already a holiday: remove it first to rename it."}
        )
    path = office.path if office is not None else None
    _check(weekday_rows(), [*holiday_rows(), *((day, path) for day in days)], field="first")
    holidays = Holiday.objects.bulk_create(
        [Holiday(date=day, name=name, office=office, created_by=user) for day in days]
    )
    audit_record(
        action=AuditLog.Action.CALENDAR_CHANGED,
        user=user,
        details={
            "holidays_added": [{"date": day.isoformat(), "name": name} for day in days],
            "office": office.name if office is not None else "all offices",
        },
        request=request,
    )
    return holidays


@transaction.atomic
def holiday_remove(*, user: User, holiday: Holiday, request: HttpRequest | None = None) -> None:
    """Remove a holiday (a working day again; schedules already moved stay where they are)."""
    require(user.has_perm(PERMISSION), REFUSED)
    row = Holiday.objects.select_for_update().filter(pk=holiday.pk).first()
    if row is None:
        return
    if row.office_id is None:
        require(reaches_everything(user), ALL_OFFICES_ONLY)
    else:
        check_office(user, row.office_id)
    row.delete()
    audit_record(
        action=AuditLog.Action.CALENDAR_CHANGED,
        user=user,
        details={
            "holiday_removed": {
                "date": row.date.isoformat(),
                "name": row.name,
                "office": row.office_id,
            }
        },
        request=request,
    )


# --- rescheduling ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Move:
    """One installment's due date on a day off, and where its loan's rule moves it."""

    loan_id: int
    loan_number: str
    borrower: str
    rule: str
    installment_id: int
    number: int
    old: date
    new: date


@dataclass
class LoanMoves:
    loan_id: int
    loan_number: str
    borrower: str
    rule: str
    moves: list[Move] = field(default_factory=list)


def group_by_loan(moves: list[Move]) -> list[LoanMoves]:
    loans: dict[int, LoanMoves] = {}
    for move in moves:
        entry = loans.setdefault(
            move.loan_id, LoanMoves(move.loan_id, move.loan_number, move.borrower, move.rule)
        )
        entry.moves.append(move)
    return list(loans.values())


def fingerprint(moves: list[Move]) -> str:
    """A digest of the moves: the preview's, posted back, must equal the apply's."""
    text = json.dumps([(m.installment_id, m.old.isoformat(), m.new.isoformat()) for m in moves])
    return hashlib.sha256(text.encode()).hexdigest()


def reschedule_moves(*, loan_ids: Iterable[int] | None = None, user: Any = None) -> list[Move]:
    """The due dates of active loans that fall on a day off of the loan's office, and that
    their loan's rule moves (loans that keep their dates are left alone). Only installments
    not paid in full, and due after the books' closing date (a date in a closed period is
    history), are moved; a move that would land in a closed period is not made. With a user,
    only the loans of their offices (DESIGN.md "Offices"). Three queries."""
    weekdays = weekday_rows()
    holidays = holiday_rows()
    closed = closed_through()
    dates = {day for day, _ in holidays if closed is None or day > closed}
    days_off = Q(due_date__in=sorted(dates))
    if weekdays:
        # Any office's weekly days off (ISO weekdays: 1 = Monday ... 7 = Sunday); the loan's
        # office's calendar below leaves alone a date that is a working day there.
        days_off |= Q(due_date__iso_week_day__in=sorted({day + 1 for day, _ in weekdays}))
    rows = (
        Installment.objects.filter(days_off, loan__status=Loan.Status.ACTIVE)
        .exclude(loan__due_date_rule=DueDateRule.KEEP)
        .exclude(status=Installment.Status.PAID)
        .select_related("loan", "loan__borrower", "loan__office")
        .only(
            "id",
            "number",
            "due_date",
            "loan__id",
            "loan__number",
            "loan__due_date_rule",
            "loan__disbursement_date",
            "loan__borrower__full_name",
            "loan__office__path",
        )
        .order_by("loan__number", "number")
    )
    if closed is not None:
        rows = rows.filter(due_date__gt=closed)
    if loan_ids is not None:
        rows = rows.filter(loan_id__in=list(loan_ids))
    if user is not None:
        rows = scope(rows, user, "loan__office")
    calendars: dict[str, WorkingCalendar] = {}
    moves = []
    for inst in rows:
        loan = inst.loan
        path: str = loan.office.path  # type: ignore[attr-defined]
        if path not in calendars:
            calendars[path] = calendar_of(weekdays, holidays, path)
        calendar = calendars[path]
        new = move_due_date(inst.due_date, loan.due_date_rule, calendar, loan.disbursement_date)
        if new == inst.due_date or (closed is not None and new <= closed):
            continue
        moves.append(
            Move(
                loan_id=loan.pk,
                loan_number=loan.number,
                borrower=loan.borrower.full_name,
                rule=loan.due_date_rule,
                installment_id=inst.pk,
                number=inst.number,
                old=inst.due_date,
                new=new,
            )
        )
    return moves


@dataclass(frozen=True)
class RescheduleResult:
    loans: int
    installments: int
    penalties_taken_back: int
    penalties_added: int
    details: list[dict[str, Any]]


STALE = (
    "The loans or the days off changed since the preview: look at the new preview and "
    "apply it again."
)


@transaction.atomic
def loans_reschedule(
    *,
    user: User,
    expected: str | None = None,
    request: HttpRequest | None = None,
    today: date | None = None,
) -> RescheduleResult:
    """Move every due date `reschedule_moves` lists, as one audited action. `expected` is the
    preview's `fingerprint`: when the moves differ now (a loan paid, a day off changed), nothing
    is moved. Each loan is then replayed: a late penalty charged for a day that is no longer a
    penalty day under the new due date is taken back (and one now due, on a day the close has
    run, is charged), with its journal entries, as after a backdated payment."""
    require(user.has_perm(PERMISSION), REFUSED)
    today = today or timezone.localdate()
    first = reschedule_moves(user=user)
    loan_ids = sorted({m.loan_id for m in first})
    loans = {loan.pk: loan for loan in Loan.objects.select_for_update().filter(pk__in=loan_ids)}
    moves = reschedule_moves(loan_ids=loan_ids, user=user) if loan_ids else []
    if fingerprint(moves) != (expected if expected is not None else fingerprint(first)):
        raise ValidationError(STALE)
    if not moves:
        raise ValidationError("No active loan has a due date on a day off: nothing to move.")
    installments = Installment.objects.in_bulk([m.installment_id for m in moves])
    for move in moves:
        installments[move.installment_id].due_date = move.new
    update_rows(list(installments.values()), ["due_date"])

    details: list[dict[str, Any]] = []
    taken_back = added = 0
    reason = "due dates moved off days off"
    for entry in group_by_loan(moves):
        loan = loans[entry.loan_id]
        plan = books.plan_replay(loan=loan, today=today)
        books.store_replay(
            plan, user=user, reason=reason, accounts=books.accounts_for(loan), today=today
        )
        if loan.status == Loan.Status.ACTIVE and loan.outstanding == 0:
            # A penalty taken back can leave nothing owed (the borrower had paid it).
            loan_close(loan=loan, user=user, on=plan.book.closed_on or today, request=request)
        taken_back += len(plan.penalties_taken_back)
        added += len(plan.penalties_added)
        details.append(
            {
                "loan": loan.number,
                "rule": entry.rule,
                "moves": [[m.number, m.old.isoformat(), m.new.isoformat()] for m in entry.moves],
                **{
                    key: value
                    for key, value in plan.as_dict().items()
                    if key in ("penalties_taken_back", "penalties_added") and value
                },
            }
        )
    audit_record(
        action=AuditLog.Action.LOANS_RESCHEDULED,
        user=user,
        details={
            "loans": details,
            "installments": len(moves),
            "penalties_taken_back": taken_back,
            "penalties_added": added,
        },
        request=request,
    )
    for loan_id in loan_ids:
        loan_changed.send(sender=Loan, loan_id=loan_id, event="rescheduled")
    return RescheduleResult(len(loan_ids), len(moves), taken_back, added, details)
