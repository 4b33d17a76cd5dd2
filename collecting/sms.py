"""SMS gateways: one small adapter per HTTP gateway, chosen by `KARO_SMS_BACKEND`.

- `outbox` (the default): nothing leaves the machine; the message is kept in the reminders
  outbox page only, as sent by "outbox".
- `africastalking`: Africa's Talking's SMS API (`POST {base}/version1/messaging`, form fields
  `username`, `to`, `message`, optional `from`; header `apiKey`). A recipient's `statusCode`
  100/101/102 (processed, sent, queued) is a success, anything else a failure with its status.
- `twilio`: Twilio's Messages API (`POST {base}/2010-04-01/Accounts/{sid}/Messages.json`, form
  fields `To`, `From`, `Body`, HTTP basic auth with the account SID and auth token). A 2xx
  answer is a success (its `sid` is kept), anything else a failure with Twilio's code and
  message.

The base URL is configurable (`KARO_SMS_BASE_URL`) so that tests point an adapter at a local
fake server, and a sandbox can be used. `send` returns the gateway's message id, or raises
`SmsError` with a sentence that the outbox shows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import requests
from django.conf import settings

SUCCESS_CODES_AFRICASTALKING = {100, 101, 102}


class SmsError(Exception):
    """The gateway refused or could not be reached; the message says why."""


class SmsBackend(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, *, to: str, text: str) -> str: ...


class OutboxSms:
    """Development and demo: keeps the message in the outbox, sends nothing."""

    name = "outbox"

    def send(self, *, to: str, text: str) -> str:
        return ""


def _post(url: str, **kwargs: Any) -> requests.Response:
    try:
        return requests.post(url, timeout=settings.KARO_SMS_TIMEOUT_SECONDS, **kwargs)
    except requests.RequestException as exc:
        raise SmsError(f"The SMS gateway could not be reached: {exc.__class__.__name__}.") from exc


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        data = None
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class AfricasTalkingSms:
    username: str
    api_key: str
    sender: str
    base_url: str
    name: str = "africastalking"

    def send(self, *, to: str, text: str) -> str:
        form = {"username": self.username, "to": to, "message": text}
        if self.sender:
            form["from"] = self.sender
        response = _post(
            f"{self.base_url}/version1/messaging",
            data=form,
            headers={"apiKey": self.api_key, "Accept": "application/json"},
        )
        data = _json(response)
        if not response.ok:
            said = response.text.strip()[:200] or response.reason
            raise SmsError(f"Africa's Talking answered {response.status_code}: {said}")
        recipients = data.get("SMSMessageData", {}).get("Recipients") or []
        if not recipients:
            said = data.get("SMSMessageData", {}).get("Message", "no recipient accepted")
            raise SmsError(f"Africa's Talking sent nothing: {said}")
        first = recipients[0]
        if first.get("statusCode") not in SUCCESS_CODES_AFRICASTALKING:
            raise SmsError(
                f"Africa's Talking refused it: {first.get('status', 'unknown')} "
                f"(code {first.get('statusCode')})."
            )
        return str(first.get("messageId", ""))


@dataclass(frozen=True)
class TwilioSms:
    account_sid: str
    auth_token: str
    sender: str
    base_url: str
    name: str = "twilio"

    def send(self, *, to: str, text: str) -> str:
        response = _post(
            f"{self.base_url}/2010-04-01/Accounts/{self.account_sid}/Messages.json",
            data={"To": to, "From": self.sender, "Body": text},
            auth=(self.account_sid, self.auth_token),
            headers={"Accept": "application/json"},
        )
        data = _json(response)
        if not response.ok:
            said = data.get("message") or response.text.strip()[:200] or response.reason
            code = f" (code {data['code']})" if data.get("code") else ""
            raise SmsError(f"Twilio answered {response.status_code}: {said}{code}")
        return str(data.get("sid", ""))


def sms_backend() -> SmsBackend:
    """The gateway settings choose (checked when the settings load)."""
    kind = settings.KARO_SMS_BACKEND
    if kind == "africastalking":
        return AfricasTalkingSms(
            username=settings.AFRICASTALKING_USERNAME,
            api_key=settings.AFRICASTALKING_API_KEY,
            sender=settings.KARO_SMS_SENDER,
            base_url=settings.KARO_SMS_BASE_URL,
        )
    if kind == "twilio":
        return TwilioSms(
            account_sid=settings.TWILIO_ACCOUNT_SID,
            auth_token=settings.TWILIO_AUTH_TOKEN,
            sender=settings.KARO_SMS_SENDER,
            base_url=settings.KARO_SMS_BASE_URL,
        )
    return OutboxSms()
