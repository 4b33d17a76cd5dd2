"""Client addresses behind reverse proxies (KARO_TRUSTED_PROXIES): what the login throttle
and the audit log see."""

from typing import Any

import pytest
from django.test import Client, override_settings
from django.urls import reverse

from accounts import throttle
from lending.models import AuditLog
from tests.factories import PASSWORD, OfficerFactory

pytestmark = pytest.mark.django_db


def _sign_in(client: Client, username: str, password: str, forwarded: str) -> Any:
    return client.post(
        reverse("login"),
        {"username": username, "password": password},
        HTTP_X_FORWARDED_FOR=forwarded,
    )


def _last_login_address() -> str | None:
    return AuditLog.objects.filter(action=AuditLog.Action.LOGIN).latest("id").ip_address


def test_without_a_trusted_proxy_the_header_is_ignored() -> None:
    OfficerFactory(username="olu")
    assert _sign_in(Client(), "olu", PASSWORD, "203.0.113.9").status_code == 302
    assert _last_login_address() == "127.0.0.1"


@pytest.mark.parametrize(
    ("proxies", "forwarded", "expected"),
    [
        (1, "203.0.113.9", "203.0.113.9"),
        (1, "6.6.6.6, 203.0.113.9", "203.0.113.9"),  # the client wrote 6.6.6.6 itself
        (2, "203.0.113.9, 10.0.0.2", "203.0.113.9"),
        (2, "10.0.0.2", "127.0.0.1"),  # fewer hops than proxies: not trusted
    ],
)
def test_the_client_is_read_that_many_hops_from_the_right(
    proxies: int, forwarded: str, expected: str
) -> None:
    OfficerFactory(username="olu")
    with override_settings(KARO_TRUSTED_PROXIES=proxies):
        assert _sign_in(Client(), "olu", PASSWORD, forwarded).status_code == 302
    assert _last_login_address() == expected


@override_settings(KARO_TRUSTED_PROXIES=1)
def test_behind_a_proxy_the_throttle_locks_the_address_not_everyone() -> None:
    OfficerFactory(username="olu")
    client = Client()
    for _ in range(throttle.PAIR_LIMIT):
        _sign_in(client, "olu", "wrong", "198.51.100.7")
    assert _sign_in(client, "olu", PASSWORD, "198.51.100.7").status_code == 429
    assert _sign_in(Client(), "olu", PASSWORD, "203.0.113.9").status_code == 302
