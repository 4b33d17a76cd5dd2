"""Reminders leave through real transports, and nothing leaves the machine: Django's SMTP
backend against a local aiosmtpd server, and each SMS gateway adapter against a local fake
HTTP server (http.server in a thread) that checks the request its provider expects."""

from __future__ import annotations

import base64
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from aiosmtpd.controller import Controller
from pytest_django.fixtures import Settings as SettingsWrapper

from collecting.models import Reminder
from collecting.reminders import reminders_send
from collecting.sms import AfricasTalkingSms, OutboxSms, SmsError, TwilioSms, sms_backend
from lending.models import LoanProduct
from tests.factories import BorrowerFactory, LoanProductFactory
from tests.reporting.helpers import weekly_loan

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# --- a fake SMS gateway -------------------------------------------------------------------------


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    form: dict[str, list[str]]


@dataclass
class FakeGateway:
    """Answers each POST with the next (status, JSON) of `answers` (the last one repeats)."""

    answers: list[tuple[int, Any]]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def gateway() -> Iterator[FakeGateway]:
    fake = FakeGateway(answers=[])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = self.rfile.read(length).decode()
            fake.seen.append(Seen("POST", self.path, dict(self.headers.items()), parse_qs(body)))
            status, data = fake.answers.pop(0) if len(fake.answers) > 1 else fake.answers[0]
            payload = json.dumps(data).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    fake.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield fake
    server.shutdown()
    server.server_close()
    thread.join(5)


AT_SENT = {
    "SMSMessageData": {
        "Message": "Sent to 1/1 Total Cost: KES 0.8000",
        "Recipients": [
            {
                "statusCode": 101,
                "number": "+254700000001",
                "status": "Success",
                "cost": "KES 0.8000",
                "messageId": "ATXid_abc123",
            }
        ],
    }
}
AT_REFUSED = {
    "SMSMessageData": {
        "Message": "Sent to 0/1 Total Cost: 0",
        "Recipients": [
            {"statusCode": 403, "number": "+2547", "status": "InvalidPhoneNumber", "cost": "0"}
        ],
    }
}
TWILIO_SENT = {"sid": "SM0123456789abcdef", "status": "queued", "to": "+254700000001"}
TWILIO_REFUSED = {
    "code": 21211,
    "message": "The 'To' number +2547 is not a valid phone number.",
    "more_info": "https://www.twilio.com/docs/errors/21211",
    "status": 400,
}


def test_africas_talking_gets_the_form_and_key_it_expects(gateway: FakeGateway) -> None:
    gateway.answers = [(201, AT_SENT)]
    sms = AfricasTalkingSms(
        username="karo", api_key="at-key-1", sender="KARO", base_url=gateway.url
    )
    assert sms.send(to="+254700000001", text="Pay 10.00 by Friday") == "ATXid_abc123"
    [seen] = gateway.seen
    assert seen.path == "/version1/messaging"
    assert seen.headers["apiKey"] == "at-key-1"
    assert seen.headers["Accept"] == "application/json"
    assert seen.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert seen.form == {
        "username": ["karo"],
        "to": ["+254700000001"],
        "message": ["Pay 10.00 by Friday"],
        "from": ["KARO"],
    }


def test_africas_talking_refusals_are_errors_with_the_reason(gateway: FakeGateway) -> None:
    sms = AfricasTalkingSms(username="karo", api_key="k", sender="", base_url=gateway.url)
    gateway.answers = [(201, AT_REFUSED)]
    with pytest.raises(SmsError, match=r"refused it: InvalidPhoneNumber \(code 403\)"):
        sms.send(to="+2547", text="x")
    assert "from" not in gateway.seen[0].form  # no sender ID: the account's default
    gateway.answers = [(401, {"error": "The supplied authentication is invalid"})]
    with pytest.raises(SmsError, match=r"answered 401: .*authentication is invalid"):
        sms.send(to="+254700000001", text="x")


def test_twilio_gets_the_form_and_basic_auth_it_expects(gateway: FakeGateway) -> None:
    gateway.answers = [(201, TWILIO_SENT)]
    sms = TwilioSms(
        account_sid="AC123", auth_token="secret-token", sender="+15005550006", base_url=gateway.url
    )
    assert sms.send(to="+254700000001", text="Pay 10.00") == "SM0123456789abcdef"
    [seen] = gateway.seen
    assert seen.path == "/2010-04-01/Accounts/AC123/Messages.json"
    expected = base64.b64encode(b"AC123:secret-token").decode()
    assert seen.headers["Authorization"] == f"Basic {expected}"
    assert seen.form == {"To": ["+254700000001"], "From": ["+15005550006"], "Body": ["Pay 10.00"]}


def test_twilio_refusals_are_errors_with_its_code(gateway: FakeGateway) -> None:
    gateway.answers = [(400, TWILIO_REFUSED)]
    sms = TwilioSms(account_sid="AC1", auth_token="t", sender="+1", base_url=gateway.url)
    with pytest.raises(SmsError, match=r"answered 400: The 'To' number .* \(code 21211\)"):
        sms.send(to="+2547", text="x")


def test_an_unreachable_gateway_is_an_error() -> None:
    sms = TwilioSms(
        account_sid="AC1", auth_token="t", sender="+1", base_url=f"http://127.0.0.1:{free_port()}"
    )
    with pytest.raises(SmsError, match="could not be reached"):
        sms.send(to="+254700000001", text="x")


def test_settings_choose_the_gateway(settings: SettingsWrapper) -> None:
    assert isinstance(sms_backend(), OutboxSms)  # the default: nothing is sent
    settings.KARO_SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC9", "tok"
    settings.KARO_SMS_SENDER, settings.KARO_SMS_BASE_URL = "+1555", "http://gw.test"
    backend = sms_backend()
    assert isinstance(backend, TwilioSms)
    assert (backend.account_sid, backend.base_url) == ("AC9", "http://gw.test")
    settings.KARO_SMS_BACKEND = "africastalking"
    settings.AFRICASTALKING_USERNAME, settings.AFRICASTALKING_API_KEY = "karo", "key"
    assert isinstance(sms_backend(), AfricasTalkingSms)


# --- the run, through the gateway ---------------------------------------------------------------


@pytest.fixture
def sms_product() -> LoanProduct:
    return LoanProductFactory(name="By SMS", reminder_days_after="1", reminder_by_email=False)


def _use_twilio(settings: SettingsWrapper, url: str) -> None:
    settings.KARO_SMS_BACKEND = "twilio"
    settings.TWILIO_ACCOUNT_SID, settings.TWILIO_AUTH_TOKEN = "AC123", "secret-token"
    settings.KARO_SMS_SENDER, settings.KARO_SMS_BASE_URL = "+15005550006", url


def test_a_failed_sms_is_recorded_and_sent_by_the_rerun(
    gateway: FakeGateway, settings: SettingsWrapper, sms_product: LoanProduct
) -> None:
    _use_twilio(settings, gateway.url)
    loan = weekly_loan(disbursed_days_ago=30, product=sms_product)
    on = loan.schedule.get(number=1).due_date + timedelta(days=1)
    gateway.answers = [(500, {"message": "Internal error", "code": 20500}), (201, TWILIO_SENT)]

    first = reminders_send(on=on)
    assert (first.sent, first.failed) == (0, 1)
    reminder = Reminder.objects.get()
    assert reminder.status == Reminder.Status.FAILED
    assert reminder.error == "Twilio answered 500: Internal error (code 20500)"
    assert reminder.backend == "twilio"

    again = reminders_send(on=on)
    assert (again.sent, again.failed, again.already_sent) == (1, 0, 0)
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts, reminder.error) == ("sent", 2, "")
    assert reminder.provider_id == "SM0123456789abcdef"
    assert reminder.sent_at is not None
    assert [s.form["To"] for s in gateway.seen] == [[loan.borrower.phone]] * 2
    assert "was due on" in gateway.seen[-1].form["Body"][0]

    third = reminders_send(on=on)
    assert (third.sent, third.already_sent) == (0, 1)
    assert len(gateway.seen) == 2  # the sent one is never sent again


def test_africas_talking_through_the_run(
    gateway: FakeGateway, settings: SettingsWrapper, sms_product: LoanProduct
) -> None:
    settings.KARO_SMS_BACKEND = "africastalking"
    settings.AFRICASTALKING_USERNAME, settings.AFRICASTALKING_API_KEY = "karo", "at-key"
    settings.KARO_SMS_SENDER, settings.KARO_SMS_BASE_URL = "", gateway.url
    gateway.answers = [(201, AT_SENT)]
    loan = weekly_loan(disbursed_days_ago=30, product=sms_product)
    reminders_send(on=loan.schedule.get(number=1).due_date + timedelta(days=1))
    reminder = Reminder.objects.get()
    assert (reminder.status, reminder.backend, reminder.provider_id) == (
        "sent",
        "africastalking",
        "ATXid_abc123",
    )
    assert gateway.seen[0].form["to"] == [loan.borrower.phone]


# --- e-mail through SMTP ------------------------------------------------------------------------


class Inbox:
    def __init__(self) -> None:
        self.envelopes: list[Any] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_port() -> int:
    return free_port()


@pytest.fixture
def smtp_server(smtp_port: int) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    yield inbox
    controller.stop()


def _use_smtp(settings: SettingsWrapper, port: int) -> None:
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "reminders@karo.test"


@pytest.fixture
def email_product() -> LoanProduct:
    return LoanProductFactory(name="By e-mail", reminder_days_before="3", reminder_by_sms=False)


def test_email_reminders_go_through_smtp(
    smtp_server: Inbox, smtp_port: int, settings: SettingsWrapper, email_product: LoanProduct
) -> None:
    _use_smtp(settings, smtp_port)
    loans = [
        weekly_loan(disbursed_days_ago=30, product=email_product, borrower=BorrowerFactory())
        for _ in range(2)
    ]
    on = loans[0].schedule.get(number=1).due_date - timedelta(days=3)
    result = reminders_send(on=on)
    assert (result.sent, result.failed) == (2, 0)
    assert {r.backend for r in Reminder.objects.all()} == {"smtp"}
    assert sorted(e.rcpt_tos[0] for e in smtp_server.envelopes) == sorted(
        loan.borrower.email for loan in loans
    )
    message = message_from_bytes(smtp_server.envelopes[0].content)
    assert message["From"] == "reminders@karo.test"
    assert message["Subject"].startswith("Payment due on ")
    assert "is due on" in message.get_payload(decode=True).decode()

    reminders_send(on=on)
    assert len(smtp_server.envelopes) == 2  # nothing twice


def test_email_to_a_server_that_is_down_fails_and_the_rerun_sends_it(
    smtp_port: int, settings: SettingsWrapper, email_product: LoanProduct
) -> None:
    _use_smtp(settings, smtp_port)  # nothing listens on the port yet
    loan = weekly_loan(disbursed_days_ago=30, product=email_product)
    on = loan.schedule.get(number=1).due_date - timedelta(days=3)
    assert reminders_send(on=on).failed == 1
    reminder = Reminder.objects.get()
    assert reminder.status == Reminder.Status.FAILED
    assert reminder.error.startswith("ConnectionRefusedError")

    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    controller.start()
    try:
        assert reminders_send(on=on).sent == 1
    finally:
        controller.stop()
    assert [e.rcpt_tos for e in inbox.envelopes] == [[loan.borrower.email]]
    reminder.refresh_from_db()
    assert (reminder.status, reminder.attempts) == ("sent", 2)
