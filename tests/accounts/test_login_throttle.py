"""The sign-in throttle's three limits on the sign-in page (accounts/throttle.py): per username
and address, per address across usernames (spraying), and growing delays per username across
addresses (distributed guessing), without locking the real user out for good."""

from datetime import timedelta
from typing import Any

import pytest
from django.db.models import F
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from accounts import throttle
from accounts.models import LoginFailure
from lending.models import AuditLog
from tests.factories import PASSWORD, OfficerFactory

pytestmark = pytest.mark.django_db


def sign_in(address: str, username: str, password: str) -> Any:
    return Client(REMOTE_ADDR=address).post(
        reverse("login"), {"username": username, "password": password}
    )


def age_failures(by: timedelta) -> None:
    """As if every failure so far happened `by` earlier (the clock moved on)."""
    LoginFailure.objects.update(at=F("at") - by)


def text(response: Any) -> str:
    return response.content.decode()


def test_spraying_from_one_address_pauses_that_address_for_every_username() -> None:
    """4 guesses at each of 6 usernames from one address: the pair limit (5) never trips,
    the address limit (20) does."""
    users = [OfficerFactory(username=f"user{n}").username for n in range(6)]
    statuses = [sign_in("198.51.100.7", username, "guess") for _ in range(4) for username in users]
    assert [r.status_code for r in statuses] == [200] * 19 + [429] * 5
    assert LoginFailure.objects.count() == throttle.ADDRESS_LIMIT  # refused: not even checked
    refused = sign_in("198.51.100.7", "user0", PASSWORD)  # the real user, same address
    assert refused.status_code == 429
    assert "from this address, for several usernames" in text(refused)
    assert 840 < int(refused["Retry-After"]) <= throttle.WINDOW.total_seconds()
    assert sign_in("203.0.113.5", "user0", PASSWORD).status_code == 302  # from elsewhere
    age_failures(throttle.WINDOW)
    assert sign_in("198.51.100.7", "user1", PASSWORD).status_code == 302


def test_distributed_guessing_at_one_username_makes_each_attempt_wait() -> None:
    """40 guesses at `admin` from 10 addresses (4 each: no pair or address limit trips): after
    10 failures each attempt must wait, and a right password is refused during the wait."""
    OfficerFactory(username="admin")
    answers = [sign_in(f"10.0.0.{n}", "admin", "guess") for n in range(10) for _ in range(4)]
    assert [r.status_code for r in answers] == [200] * 9 + [429] * 31
    assert LoginFailure.objects.count() == throttle.ACCOUNT_FREE
    refused = sign_in("203.0.113.5", "admin", PASSWORD)
    assert refused.status_code == 429
    assert "from several places" in text(refused)
    assert int(refused["Retry-After"]) <= throttle.ACCOUNT_FIRST_DELAY.total_seconds()
    assert not AuditLog.objects.filter(action=AuditLog.Action.LOGIN).exists()
    age_failures(throttle.ACCOUNT_FIRST_DELAY)  # the wait is over
    assert sign_in("203.0.113.5", "admin", PASSWORD).status_code == 302


def test_the_wait_per_username_doubles_and_stops_at_15_minutes() -> None:
    OfficerFactory(username="admin")
    for n in range(throttle.ACCOUNT_FREE):
        sign_in(f"10.0.0.{n}", "admin", "guess")
    waits = []
    for n in range(7):
        age_failures(throttle.ACCOUNT_MAX_DELAY)  # always past the wait, never the day
        answer = sign_in(f"10.0.1.{n}", "admin", "guess")
        assert answer.status_code == 429  # this failure counted and the next must wait
        waits.append(int(answer["Retry-After"]))
    assert waits == [60, 120, 240, 480, 900, 900, 900]
    assert LoginFailure.objects.count() == throttle.ACCOUNT_FREE + 7


def test_an_address_the_user_signed_in_from_before_is_not_slowed_down() -> None:
    """An attacker elsewhere cannot keep the real user out of their usual place."""
    OfficerFactory(username="admin")
    assert sign_in("192.0.2.10", "admin", PASSWORD).status_code == 302
    for n in range(throttle.ACCOUNT_FREE):
        sign_in(f"10.0.0.{n}", "admin", "guess")
    assert sign_in("203.0.113.5", "admin", PASSWORD).status_code == 429  # new address
    assert sign_in("192.0.2.10", "admin", PASSWORD).status_code == 302  # usual address


def test_a_shared_address_locks_the_pair_not_the_real_user_elsewhere() -> None:
    """5 failures for `olu` from a shared address lock `olu` there, for 15 minutes only."""
    OfficerFactory(username="olu")
    OfficerFactory(username="ama")
    for _ in range(throttle.PAIR_LIMIT):
        sign_in("198.51.100.7", "olu", "guess")
    locked = sign_in("198.51.100.7", "olu", PASSWORD)
    assert locked.status_code == 429
    assert "for this username from this address" in text(locked)
    assert sign_in("198.51.100.7", "ama", PASSWORD).status_code == 302  # others there
    assert sign_in("203.0.113.5", "olu", PASSWORD).status_code == 302  # olu elsewhere
    age_failures(throttle.WINDOW)
    assert sign_in("198.51.100.7", "olu", PASSWORD).status_code == 302


def test_hammering_a_lock_does_not_lengthen_it_and_is_audited() -> None:
    OfficerFactory(username="olu")
    for _ in range(throttle.PAIR_LIMIT):
        sign_in("198.51.100.7", "olu", "guess")
    for _ in range(10):
        assert sign_in("198.51.100.7", "olu", "guess").status_code == 429
    assert LoginFailure.objects.count() == throttle.PAIR_LIMIT
    failed = AuditLog.objects.filter(action=AuditLog.Action.LOGIN_FAILED).order_by("id")
    assert failed.count() == throttle.PAIR_LIMIT + 10
    assert "refused" not in failed.first().details
    assert failed.last().details == {"username": "olu", "refused": "pair"}
    age_failures(throttle.WINDOW)
    assert sign_in("198.51.100.7", "olu", PASSWORD).status_code == 302


def test_success_clears_the_pair_but_not_the_address_or_username_counts() -> None:
    OfficerFactory(username="olu")
    for _ in range(throttle.PAIR_LIMIT - 1):
        sign_in("198.51.100.7", "olu", "guess")
    LoginFailure.objects.create(username="olu", address="10.9.9.9", at=timezone.now())
    assert sign_in("198.51.100.7", "olu", PASSWORD).status_code == 302
    assert list(LoginFailure.objects.values_list("address", flat=True)) == ["10.9.9.9"]


def test_usernames_count_without_regard_to_case() -> None:
    OfficerFactory(username="olu")
    for name in ["OLU", "Olu", "olU", "oLu", "olu"]:
        sign_in("198.51.100.7", name, "guess")
    assert sign_in("198.51.100.7", "olu", PASSWORD).status_code == 429


def test_an_administrator_unlocks_by_deleting_the_failures() -> None:
    OfficerFactory(username="olu")
    for _ in range(throttle.PAIR_LIMIT):
        sign_in("198.51.100.7", "olu", "guess")
    LoginFailure.objects.filter(username="olu").delete()
    assert sign_in("198.51.100.7", "olu", PASSWORD).status_code == 302
