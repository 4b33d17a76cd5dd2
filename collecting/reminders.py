"""Payment reminders: who is reminded on a day, and the run that sends them, each once.

Who (`reminders_due`): on day D, an unpaid installment of an active loan whose product says so
(`LoanProduct.reminder_days_before` / `reminder_days_after`, read on the day, not frozen at
approval):
- D is a listed number of days before its due date (0: the due date itself), or
- D is a listed number of days after its due date and it is still owing more than the loan's
  arrears tolerance (not late otherwise, as for penalties).
By SMS to the borrower's phone and by e-mail when the borrower has an address, as the product's
channels say; a borrower who opted out (`Borrower.reminders_opt_out`) gets nothing. The day must
match exactly: a day with no run is not caught up later with words that would be wrong ("due in
3 days" sent a day late).

Once (`reminders_send`): each reminder is a `Reminder` row, unique per (installment, offset,
channel). A run creates the day's rows (a row that exists is not created again), then sends
each queued or failed one after claiming it (queued/failed -> sending, by one conditional
UPDATE, so two runs at once never both send it), and records sent or failed with the
gateway's error. A rerun therefore sends nothing twice and retries what failed; a reminder
whose installment has been paid since is not retried. Sending is outside any long
transaction: a gateway call never holds a database lock. Each run writes one REMINDERS_SENT
audit entry with its counts.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.core.mail import EmailMessage, get_connection
from django.db.models import F
from django.utils import timezone

from collecting.messages import render
from collecting.models import Reminder, ReminderTemplate
from collecting.sms import SmsBackend, SmsError, sms_backend
from lending.audit import audit_record
from lending.models import AuditLog, Installment, Loan, LoanProduct, reminder_days

CENTS = Decimal("0.01")
EMAIL_BACKEND_NAMES = {
    "django.core.mail.backends.smtp.EmailBackend": "smtp",
    "django.core.mail.backends.dummy.EmailBackend": "outbox",
    "django.core.mail.backends.locmem.EmailBackend": "locmem",
    "django.core.mail.backends.console.EmailBackend": "console",
    "django.core.mail.backends.filebased.EmailBackend": "file",
}


def email_backend_name() -> str:
    path = settings.EMAIL_BACKEND
    return EMAIL_BACKEND_NAMES.get(path, path.rsplit(".", 2)[-2] if "." in path else path)


@dataclass(frozen=True)
class ProductRule:
    before: frozenset[int]
    after: frozenset[int]
    channels: tuple[str, ...]


@dataclass(frozen=True)
class Planned:
    """One reminder a day calls for (not yet a row)."""

    installment: Installment  # with its loan and borrower
    offset_days: int
    channel: str
    recipient: str
    amount_due: Decimal

    @property
    def key(self) -> tuple[int, int, str]:
        return (self.installment.pk, self.offset_days, self.channel)

    @property
    def kind(self) -> str:
        return (
            ReminderTemplate.Kind.UPCOMING
            if self.offset_days <= 0
            else ReminderTemplate.Kind.OVERDUE
        )


@dataclass
class ReminderRunResult:
    on: date
    planned: int = 0
    sent: int = 0
    failed: int = 0
    already_sent: int = 0
    # Being sent by another run, or left `sending` by a run that died mid-send (not resent).
    in_doubt: int = 0
    opted_out: int = 0  # installments not reminded because their borrower opted out
    no_email: int = 0  # e-mail reminders not made: the borrower has no address

    def as_details(self) -> dict[str, Any]:
        return {**asdict(self), "on": self.on.isoformat()}


def _rules() -> dict[int, ProductRule]:
    rules = {}
    products = LoanProduct.objects.exclude(reminder_days_before="", reminder_days_after="")
    for product in products.only(
        "pk", "reminder_days_before", "reminder_days_after", "reminder_by_sms", "reminder_by_email"
    ):
        channels = tuple(
            channel
            for channel, on in (
                (Reminder.Channel.SMS, product.reminder_by_sms),
                (Reminder.Channel.EMAIL, product.reminder_by_email),
            )
            if on
        )
        if channels:
            rules[product.pk] = ProductRule(
                before=frozenset(reminder_days(product.reminder_days_before)),
                after=frozenset(reminder_days(product.reminder_days_after)),
                channels=channels,
            )
    return rules


def reminders_due(on: date) -> tuple[list[Planned], Counter[str]]:
    """The reminders day `on` calls for (see the module docstring), in due-date order, and
    how many were left out and why (`opted_out`, `no_email`). Two queries."""
    skipped: Counter[str] = Counter()
    rules = _rules()
    dates = {on + timedelta(days=d) for rule in rules.values() for d in rule.before} | {
        on - timedelta(days=d) for rule in rules.values() for d in rule.after
    }
    if not dates:
        return [], skipped
    installments = (
        Installment.objects.filter(
            due_date__in=dates, loan__status=Loan.Status.ACTIVE, loan__product_id__in=list(rules)
        )
        .exclude(status=Installment.Status.PAID)
        .select_related("loan", "loan__borrower")
        .order_by("due_date", "loan_id", "number")
    )
    planned = []
    for installment in installments:
        loan, borrower = installment.loan, installment.loan.borrower
        rule = rules[loan.product_id]  # type: ignore[index]
        offset = (on - installment.due_date).days
        if not (-offset in rule.before if offset <= 0 else offset in rule.after):
            continue
        amount = min(installment.remaining, loan.outstanding).quantize(CENTS)
        if amount <= 0 or (offset > 0 and amount <= loan.arrears_tolerance):
            continue
        if borrower.reminders_opt_out:
            skipped["opted_out"] += 1
            continue
        for channel in rule.channels:
            recipient = borrower.phone if channel == Reminder.Channel.SMS else borrower.email
            if not recipient:
                skipped["no_email" if channel == Reminder.Channel.EMAIL else "no_phone"] += 1
                continue
            planned.append(Planned(installment, offset, channel, recipient, amount))
    return planned, skipped


def _texts(
    plan: Planned, templates: dict[str, ReminderTemplate]
) -> tuple[str, str]:  # (subject, body)
    installment = plan.installment
    values = {
        "borrower": installment.loan.borrower.full_name,
        "loan": installment.loan.number,
        "amount_due": f"{settings.KARO_CURRENCY} {plan.amount_due:,.2f}",
        "due_date": f"{installment.due_date:%d %b %Y}",
        "days": str(abs(plan.offset_days)),
        "institution": settings.KARO_INSTITUTION_NAME,
    }
    template = templates[plan.kind]
    if plan.channel == Reminder.Channel.SMS:
        return "", render(template.sms_text, values)
    return render(template.email_subject, values), render(template.email_body, values)


def _templates() -> dict[str, ReminderTemplate]:
    templates = {t.kind: t for t in ReminderTemplate.objects.all()}
    missing = [label for kind, label in ReminderTemplate.Kind.choices if kind not in templates]
    if missing:
        raise ValidationError(
            f"The reminder template {', '.join(missing)!s} is missing: add it in the admin."
        )
    return templates


class _Mailer:
    """One SMTP connection for the run, opened at the first e-mail and reopened after a
    failure (a broken connection must not fail every e-mail after it)."""

    def __init__(self) -> None:
        self.connection: Any = None

    def send(self, *, to: str, subject: str, body: str) -> None:
        if self.connection is None:
            self.connection = get_connection(fail_silently=False)
        message = EmailMessage(
            subject, body, settings.DEFAULT_FROM_EMAIL, [to], connection=self.connection
        )
        try:
            message.send()
        except Exception:
            self.close()
            raise

    def close(self) -> None:
        if self.connection is not None:
            with contextlib.suppress(Exception):
                self.connection.close()
            self.connection = None


def _deliver(
    reminder: Reminder, plan: Planned, texts: tuple[str, str], sms: SmsBackend, mailer: _Mailer
) -> str:
    """Claim the reminder and send it: its new status, or "" when another run holds it."""
    subject, body = texts
    claimed = Reminder.objects.filter(
        pk=reminder.pk, status__in=[Reminder.Status.QUEUED, Reminder.Status.FAILED]
    ).update(
        status=Reminder.Status.SENDING,
        attempts=F("attempts") + 1,
        recipient=plan.recipient,
        subject=subject,
        body=body,
    )
    if not claimed:
        return ""
    backend = sms.name if plan.channel == Reminder.Channel.SMS else email_backend_name()
    try:
        if plan.channel == Reminder.Channel.SMS:
            provider_id = sms.send(to=plan.recipient, text=body)
        else:
            mailer.send(to=plan.recipient, subject=subject, body=body)
            provider_id = ""
    except SmsError as exc:
        return _failed(reminder, backend, str(exc))
    except Exception as exc:  # any refusal by the mail server is this reminder's failure
        return _failed(reminder, backend, f"{exc.__class__.__name__}: {exc}")
    Reminder.objects.filter(pk=reminder.pk).update(
        status=Reminder.Status.SENT,
        sent_at=timezone.now(),
        error="",
        backend=backend,
        provider_id=provider_id[:100],
    )
    return Reminder.Status.SENT


def _failed(reminder: Reminder, backend: str, error: str) -> str:
    Reminder.objects.filter(pk=reminder.pk).update(
        status=Reminder.Status.FAILED, error=error[:500], backend=backend
    )
    return Reminder.Status.FAILED


def reminders_send(*, on: date | None = None, user: User | None = None) -> ReminderRunResult:
    """Send day `on`'s reminders (default today), each once; retry those that failed. Refuses
    a future day (ValidationError, nothing sent). See the module docstring."""
    today = timezone.localdate()
    on = on or today
    if on > today:
        raise ValidationError({"date": "Reminders cannot be sent for a day in the future."})
    templates = _templates()
    planned, skipped = reminders_due(on)
    result = ReminderRunResult(
        on=on,
        planned=len(planned),
        opted_out=skipped["opted_out"],
        no_email=skipped["no_email"],
    )
    texts = {plan.key: _texts(plan, templates) for plan in planned}
    Reminder.objects.bulk_create(
        [
            Reminder(
                installment=plan.installment,
                loan=plan.installment.loan,
                borrower=plan.installment.loan.borrower,
                offset_days=plan.offset_days,
                channel=plan.channel,
                on=on,
                recipient=plan.recipient,
                subject=texts[plan.key][0],
                body=texts[plan.key][1],
            )
            for plan in planned
        ],
        ignore_conflicts=True,  # made by an earlier run (or one running now): kept as it is
    )
    rows = {
        (r.installment_id, r.offset_days, r.channel): r
        for r in Reminder.objects.filter(
            installment_id__in={plan.installment.pk for plan in planned}
        ).only("pk", "installment_id", "offset_days", "channel", "status")
    }
    sms, mailer = sms_backend(), _Mailer()
    try:
        for plan in planned:
            reminder = rows[plan.key]
            if reminder.status == Reminder.Status.SENT:
                result.already_sent += 1
            elif reminder.status == Reminder.Status.SENDING:
                result.in_doubt += 1
            else:
                status = _deliver(reminder, plan, texts[plan.key], sms, mailer)
                if status == Reminder.Status.SENT:
                    result.sent += 1
                elif status == Reminder.Status.FAILED:
                    result.failed += 1
                else:
                    result.in_doubt += 1
    finally:
        mailer.close()
    audit_record(
        action=AuditLog.Action.REMINDERS_SENT,
        user=user,
        details=result.as_details()
        | {"sms_backend": sms.name, "email_backend": email_backend_name()},
    )
    return result
