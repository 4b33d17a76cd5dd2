"""Payment reminders (collecting.reminders): who is reminded on a day, each reminder sent once,
failures recorded and retried, the run audited, the product settings and the templates.

Loans are weekly and interest-free (tests.reporting.helpers.weekly_loan), disbursed 30 days
ago, so every day below is in the past whatever the clock says; due dates are read from the
schedule, never assumed.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest
from django.core import mail
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse

from collecting.messages import placeholders_in, render
from collecting.models import Reminder, ReminderTemplate
from collecting.reminders import reminders_due, reminders_send
from collecting.tasks import send_reminders
from lending.models import AuditLog, Installment, Loan, LoanProduct
from lending.services.borrowers import borrower_update
from lending.services.repayments import repayment_record
from tests.factories import BorrowerFactory, LoanProductFactory, OfficerFactory
from tests.reporting.helpers import D, cashier, today, weekly_loan

pytestmark = pytest.mark.django_db


@pytest.fixture
def product() -> LoanProduct:
    return LoanProductFactory(
        name="Reminded", reminder_days_before="3, 0", reminder_days_after="1,7"
    )


def _loan(product: LoanProduct | None, **borrower: Any) -> Loan:
    return weekly_loan(disbursed_days_ago=30, product=product, borrower=BorrowerFactory(**borrower))


def _first(loan: Loan) -> Installment:
    return loan.schedule.get(number=1)


def _keys(on: date) -> set[tuple[str, int, int, str]]:
    planned, _ = reminders_due(on)
    return {
        (p.installment.loan.number, p.installment.number, p.offset_days, p.channel) for p in planned
    }


# --- who is reminded on a day -------------------------------------------------------------------


def test_reminders_go_before_on_and_after_a_missed_due_date(product: LoanProduct) -> None:
    loan = _loan(product)
    due = _first(loan).due_date
    n = loan.number
    assert _keys(due - timedelta(days=3)) == {(n, 1, -3, "sms"), (n, 1, -3, "email")}
    assert _keys(due) == {(n, 1, 0, "sms"), (n, 1, 0, "email")}
    assert _keys(due + timedelta(days=1)) == {(n, 1, 1, "sms"), (n, 1, 1, "email")}
    # Day 7 after the first is also 0 days before the second (weekly): two reminders each.
    assert _keys(due + timedelta(days=7)) == {
        (n, 1, 7, "sms"), (n, 1, 7, "email"), (n, 2, 0, "sms"), (n, 2, 0, "email"),
    }  # fmt: skip
    for quiet in (-2, -1, 2, 3):
        assert all(key[1] != 1 for key in _keys(due + timedelta(days=quiet))), (
            f"installment 1 reminded {quiet} days from its due date"
        )


def test_the_amount_due_is_what_is_left_of_the_installment(product: LoanProduct) -> None:
    loan = _loan(product)
    first = _first(loan)
    repayment_record(
        loan=loan, user=cashier(), amount=D("40.00"), paid_on=first.due_date, method="cash"
    )
    planned, _ = reminders_due(first.due_date + timedelta(days=1))
    assert {p.amount_due for p in planned} == {first.total - D("40.00")}


def test_a_paid_installment_is_not_reminded(product: LoanProduct) -> None:
    loan = _loan(product)
    first = _first(loan)
    repayment_record(
        loan=loan,
        user=cashier(),
        amount=first.total,
        paid_on=first.due_date - timedelta(days=5),
        method="cash",
    )
    for offset in (-3, 0, 1, 7):
        assert all(key[1] != 1 for key in _keys(first.due_date + timedelta(days=offset)))


def test_an_opted_out_borrower_gets_nothing_and_the_change_is_audited(
    product: LoanProduct,
) -> None:
    loan = _loan(product)
    officer = OfficerFactory()
    borrower_update(borrower=loan.borrower, user=officer, reminders_opt_out=True)
    entry = AuditLog.objects.filter(action=AuditLog.Action.BORROWER_UPDATED).first()
    assert entry is not None
    assert entry.details["changes"] == {"reminders_opt_out": [False, True]}
    planned, skipped = reminders_due(_first(loan).due_date)
    assert planned == []
    assert skipped["opted_out"] == 1
    result = reminders_send(on=_first(loan).due_date)
    assert (result.sent, result.opted_out) == (0, 1)
    assert not Reminder.objects.exists()


def test_a_borrower_without_an_email_address_gets_sms_only(product: LoanProduct) -> None:
    loan = _loan(product, email="")
    planned, skipped = reminders_due(_first(loan).due_date)
    assert [p.channel for p in planned] == ["sms"]
    assert skipped["no_email"] == 1


def test_the_products_channels_and_days_decide(product: LoanProduct) -> None:
    silent = LoanProductFactory(name="Silent")  # no days: no reminders
    sms_only = LoanProductFactory(name="SMS only", reminder_days_after="1", reminder_by_email=False)
    for p in (product, silent, sms_only):
        _loan(p)
    due = Loan.objects.filter(product=silent).get().schedule.get(number=1).due_date
    by_product = {
        (p.installment.loan.product.name, p.channel)  # type: ignore[union-attr]
        for p in reminders_due(due + timedelta(days=1))[0]
    }
    assert by_product == {("Reminded", "sms"), ("Reminded", "email"), ("SMS only", "sms")}


def test_a_late_installment_within_the_arrears_tolerance_is_not_reminded() -> None:
    tolerant = LoanProductFactory(
        name="Tolerant", reminder_days_after="1", arrears_tolerance=D("5.00")
    )
    loan = _loan(tolerant)
    first = _first(loan)
    repayment_record(
        loan=loan, user=cashier(), amount=first.total - D("4.00"), paid_on=first.due_date,
        method="cash",
    )  # fmt: skip
    assert reminders_due(first.due_date + timedelta(days=1))[0] == []


def test_closed_and_pending_loans_are_not_reminded(product: LoanProduct) -> None:
    loan = _loan(product)
    repayment_record(
        loan=loan, user=cashier(), amount=loan.outstanding, paid_on=today(), method="cash"
    )
    loan.refresh_from_db()
    assert loan.status == Loan.Status.CLOSED
    assert reminders_due(_first(loan).due_date + timedelta(days=1))[0] == []


# --- sending once -------------------------------------------------------------------------------


def test_a_rerun_sends_nothing_twice(product: LoanProduct) -> None:
    loan = _loan(product)
    on = _first(loan).due_date - timedelta(days=3)
    first = reminders_send(on=on)
    assert (first.planned, first.sent, first.failed, first.already_sent) == (2, 2, 0, 0)
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == [loan.borrower.email]
    assert loan.number in message.subject
    assert loan.borrower.full_name in message.body
    sms = Reminder.objects.get(channel="sms")
    assert sms.status == Reminder.Status.SENT
    assert sms.backend == "outbox"
    assert sms.recipient == loan.borrower.phone
    assert f"USD {_first(loan).total:,.2f}" in sms.body
    assert f"{_first(loan).due_date:%d %b %Y}" in sms.body

    again = reminders_send(on=on)
    assert (again.sent, again.failed, again.already_sent) == (0, 0, 2)
    assert len(mail.outbox) == 1
    assert Reminder.objects.count() == 2
    assert set(Reminder.objects.values_list("attempts", flat=True)) == {1}
    runs = AuditLog.objects.filter(action=AuditLog.Action.REMINDERS_SENT).order_by("id")
    assert [(r.details["sent"], r.details["already_sent"]) for r in runs] == [(2, 0), (0, 2)]
    assert runs[0].details["on"] == on.isoformat()
    assert runs[0].details["sms_backend"] == "outbox"


def test_a_reminder_being_sent_by_another_run_is_not_sent_again(product: LoanProduct) -> None:
    loan = _loan(product, email="")
    on = _first(loan).due_date
    reminders_send(on=on)
    Reminder.objects.update(status=Reminder.Status.SENDING)  # a run that died mid-send
    result = reminders_send(on=on)
    assert (result.sent, result.in_doubt) == (0, 1)
    assert Reminder.objects.get().attempts == 1


def test_a_future_day_is_refused() -> None:
    with pytest.raises(ValidationError, match="future"):
        reminders_send(on=today() + timedelta(days=1))
    with pytest.raises(CommandError, match="future"):
        call_command("send_reminders", date=today() + timedelta(days=1))


def test_the_command_and_the_task_run_in_process_without_a_broker(
    product: LoanProduct, capsys: pytest.CaptureFixture[str]
) -> None:
    loan = _loan(product)
    on = _first(loan).due_date
    call_command("send_reminders", date=on)
    assert f"Reminders of {on}: 2 sent, 0 failed" in capsys.readouterr().out
    counts = send_reminders.delay(on.isoformat()).get()
    assert (counts["sent"], counts["already_sent"]) == (0, 2)


def test_the_command_rejects_a_bad_date() -> None:
    with pytest.raises(CommandError, match="--date must be a date"):
        call_command("send_reminders", "--date", "31/01/2026")


# --- templates ----------------------------------------------------------------------------------


def test_the_migration_made_a_template_of_each_kind_with_known_placeholders() -> None:
    kinds = set(ReminderTemplate.objects.values_list("kind", flat=True))
    assert kinds == {"upcoming", "overdue"}
    for template in ReminderTemplate.objects.all():
        template.full_clean()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Hello {name}", "Unknown placeholder {name}"),
        ("Hello {borrower.pk}", "Unknown placeholder {borrower.pk}"),
        ("Hello {borrower[0]}", "Unknown placeholder {borrower[0]}"),
        ("Hello {}", "Unknown placeholder {}"),
        ("Pay {amount_due:>20}", "without ':' or '!'"),
        ("Pay {amount_due!r}", "without ':' or '!'"),
        ("Pay {amount_due", "A brace is not closed"),
        ("Pay amount_due}", "A brace is not closed"),
    ],
)
def test_a_bad_placeholder_is_refused(text: str, message: str) -> None:
    with pytest.raises(ValidationError, match=message.replace("[", r"\[").replace("{", r"\{")):
        placeholders_in(text)
    template = ReminderTemplate.objects.get(kind="upcoming")
    template.sms_text = text
    with pytest.raises(ValidationError) as error:
        template.full_clean()
    assert "sms_text" in error.value.message_dict


def test_placeholders_are_filled_and_braces_escaped() -> None:
    values = {"borrower": "Amina", "loan": "L-1", "amount_due": "USD 1.00", "due_date": "x",
              "days": "3", "institution": "Ka-Ro"}  # fmt: skip
    assert render("{{ok}} {borrower} owes {amount_due}", values) == "{ok} Amina owes USD 1.00"


def test_an_admin_edits_a_template_in_the_admin_and_a_bad_one_is_not_saved(
    admin_client: Client,
) -> None:
    template = ReminderTemplate.objects.get(kind="overdue")
    url = reverse("admin:collecting_remindertemplate_change", args=[template.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    assert b"{amount_due}" in page.content  # the placeholders are listed
    form = {
        "sms_text": "Dear {borrower}, {amount_due} is late on {loan}. {nonsense}",
        "email_subject": template.email_subject,
        "email_body": template.email_body,
    }
    response = admin_client.post(url, form)
    assert response.status_code == 200
    assert b"Unknown placeholder {nonsense}" in response.content
    template.refresh_from_db()
    assert "nonsense" not in template.sms_text
    form["sms_text"] = "Dear {borrower}, {amount_due} is late on {loan}."
    response = admin_client.post(url, form)
    assert response.status_code == 302
    template.refresh_from_db()
    assert template.sms_text == form["sms_text"]
    entry = AuditLog.objects.filter(action=AuditLog.Action.SETTINGS_CHANGED).first()
    assert entry is not None
    assert entry.object_type == "remindertemplate"
    assert entry.details["changes"]["sms_text"][1] == form["sms_text"]


@pytest.mark.parametrize("role", ["officer", "accountant"])
def test_only_an_admin_edits_the_templates(role: str, request: pytest.FixtureRequest) -> None:
    client: Client = request.getfixturevalue(f"{role}_client")
    template = ReminderTemplate.objects.get(kind="overdue")
    url = reverse("admin:collecting_remindertemplate_change", args=[template.pk])
    assert client.get(url).status_code in (302, 403)


# --- product settings ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("reminder_days_before", "three", "whole numbers of days"),
        ("reminder_days_before", "3, 400", "from 0 to 365"),
        ("reminder_days_after", "0", "from 1 to 365"),
        ("reminder_days_after", "1,2,3,4,5,6", "At most 5"),
    ],
)
def test_bad_reminder_days_on_a_product_are_refused(field: str, value: str, message: str) -> None:
    product = LoanProductFactory(name="Checked")
    setattr(product, field, value)
    with pytest.raises(ValidationError) as error:
        product.full_clean()
    assert message in " ".join(error.value.message_dict[field])


def test_the_product_admin_shows_and_saves_the_reminder_settings(
    admin_client: Client, product: LoanProduct
) -> None:
    url = reverse("admin:lending_loanproduct_change", args=[product.pk])
    page = admin_client.get(url)
    assert b"Payment reminders" in page.content
    assert b'name="reminder_days_after"' in page.content
    assert b'name="reminder_by_sms"' in page.content


def test_the_run_reads_in_the_audit_log(admin_client: Client, product: LoanProduct) -> None:
    loan = _loan(product)
    reminders_send(on=_first(loan).due_date)
    entry = AuditLog.objects.get(action=AuditLog.Action.REMINDERS_SENT)
    assert entry.username == ""  # a run from cron has no staff member
    listing = admin_client.get("/admin/lending/auditlog/?action=reminders_sent")
    assert b"Payment reminders sent" in listing.content
    page = admin_client.get(f"/admin/lending/auditlog/{entry.pk}/change/")
    assert page.status_code == 200
    assert b"sms_backend" in page.content
