"""Sign-in throttling: three limits on failed password checks, counted in the database.

The sign-in page and the API's token endpoint both sign in through `authenticate()`, whose
backend (`accounts.backends.CachedModelBackend`) calls `check` here, so both share one count.

- **Username and address** (the pair): 5 failures in 15 minutes lock that username out from
  that address until the oldest of them is 15 minutes old. Signing in there resets it. This
  stops guessing one password from one place without touching anyone else.
- **Address**: 20 failures in 15 minutes from one address, whatever the usernames, pause
  sign-in from that address the same way. This stops password spraying (a few guesses at
  each of many usernames) that the pair limit never sees. An office behind one address can be
  paused for at most 15 minutes after the last failure; success does not reset it, since the
  real users succeeding there says nothing about the attacker beside them.
- **Account**: after 10 failures for one username in 24 hours from any addresses, each further
  attempt waits 30 seconds after the last failure, doubling with each failure up to 15 minutes.
  This stops distributed guessing (many addresses, few guesses each). It is a growing delay,
  not a lock: the wait is bounded and expires, and an address the user has signed in from
  with the right password in the last 90 days is exempt, so an attacker elsewhere cannot keep
  the real user out of their usual place. From there the pair and address limits still apply.

An attempt refused by a limit is refused before the password is looked at (a right password
is refused too, or the refusal would tell an attacker which guess was right), is not counted
(waiting costs nothing more), and is still audited as a failed sign-in. Usernames count in
lower case, so "Admin" and "admin" share one count. Deleting a username's `LoginFailure` rows
(admin) lifts its limits at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal, TypeVar

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.models import KnownAddress, LoginFailure

WINDOW = timedelta(minutes=15)
PAIR_LIMIT = 5
ADDRESS_LIMIT = 20
ACCOUNT_WINDOW = timedelta(hours=24)
ACCOUNT_FREE = 10
ACCOUNT_FIRST_DELAY = timedelta(seconds=30)
ACCOUNT_MAX_DELAY = timedelta(minutes=15)
KNOWN_ADDRESS_DAYS = 90

_REFUSAL = "_karo_login_refusal"
_CHECKED_AT = "_karo_login_checked_at"
T = TypeVar("T")


@dataclass(frozen=True)
class Refusal:
    """Why a sign-in is refused right now, and how long until it may be tried again."""

    limit: Literal["pair", "address", "account"]
    retry_after: int  # whole seconds, at least 1
    message: str


def client_address(request: HttpRequest) -> str:
    """The address the audit log records (REMOTE_ADDR, set by the trusted-proxy middleware)."""
    return str(request.META.get("REMOTE_ADDR") or "")[:64]


def check(request: HttpRequest, username: str, verify: Callable[[], T | None]) -> T | None:
    """Run `verify` (the password check) unless a limit refuses this username from this
    address. Refused: the refusal is kept on the request (`refusal(request, ...)`) and
    `PermissionDenied` raised. Wrong password: the failure stays counted. Right: the pair's
    failures are cleared and the address is remembered as one the user signs in from."""
    key, address, now = username.lower()[:150], client_address(request), timezone.now()
    setattr(request, _CHECKED_AT, now)
    failure = LoginFailure.objects.create(username=key, address=address, at=now)
    found = _refusal(key, username, address, now, exclude=failure.pk)
    if found is not None:
        failure.delete()
        setattr(request, _REFUSAL, found)
        raise PermissionDenied(found.message)
    user = verify()
    if user is not None:
        LoginFailure.objects.filter(username=key, address=address).delete()
        KnownAddress.objects.update_or_create(
            user=user, address=address, defaults={"last_seen": now}
        )
        LoginFailure.objects.filter(at__lt=now - ACCOUNT_WINDOW).delete()  # nothing reads them
    return user


def refusal(request: HttpRequest, username: str) -> Refusal | None:
    """After `authenticate()` returned no user: the limit that refused this request, or the
    one its failure has just reached (so the fifth wrong password already says so)."""
    found: Refusal | None = getattr(request, _REFUSAL, None)
    if found is None:
        # The moment the password was checked, not a later one: the wait it names is the same
        # however long the check took.
        now = getattr(request, _CHECKED_AT, None) or timezone.now()
        found = _refusal(username.lower()[:150], username, client_address(request), now)
    return found


def was_refused(request: HttpRequest) -> Refusal | None:
    """The refusal given before this request's password was checked, if any (for the audit)."""
    return getattr(request, _REFUSAL, None)


def _refusal(
    key: str, username: str, address: str, now: datetime, exclude: int | None = None
) -> Refusal | None:
    """The limit that refuses `key` from `address` now with the longest wait, or None."""
    failures = LoginFailure.objects.exclude(pk=exclude) if exclude else LoginFailure.objects.all()
    found: list[tuple[datetime, Literal["pair", "address", "account"]]] = []
    pair = _nth_latest(failures.filter(username=key, address=address), PAIR_LIMIT, now)
    if pair is not None:
        found.append((pair + WINDOW, "pair"))
    by_address = _nth_latest(failures.filter(address=address), ADDRESS_LIMIT, now)
    if by_address is not None:
        found.append((by_address + WINDOW, "address"))
    account = failures.filter(username=key, at__gte=now - ACCOUNT_WINDOW).aggregate(
        count=Count("pk"), last=Max("at")
    )
    if account["count"] >= ACCOUNT_FREE:
        doublings = min(account["count"] - ACCOUNT_FREE, 10)  # 2**10 * 30 s is past the cap
        delay = min(ACCOUNT_FIRST_DELAY * 2**doublings, ACCOUNT_MAX_DELAY)
        until = account["last"] + delay
        if until > now and not _known(username, address, now):
            found.append((until, "account"))
    if not found:
        return None
    until, limit = max(found)
    seconds = max(1, math.ceil((until - now).total_seconds()))
    return Refusal(limit=limit, retry_after=seconds, message=_message(limit, seconds))


def _nth_latest(failures: QuerySet[LoginFailure], limit: int, now: datetime) -> datetime | None:
    """When the `limit`-th latest failure in the window happened: the count stays at the
    limit until that one is WINDOW old. None while fewer than `limit` are in the window."""
    times = failures.filter(at__gt=now - WINDOW).order_by("-at").values_list("at", flat=True)
    found = list(times[limit - 1 : limit])
    return found[0] if found else None


def _known(username: str, address: str, now: datetime) -> bool:
    return KnownAddress.objects.filter(
        user__username=username,
        address=address,
        last_seen__gte=now - timedelta(days=KNOWN_ADDRESS_DAYS),
    ).exists()


def _wait(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minute{'s' if minutes != 1 else ''}"


def _message(limit: str, seconds: int) -> str:
    wait = _wait(seconds)
    if limit == "pair":
        return (
            f"Too many failed sign-ins for this username from this address. Try again in "
            f"{wait}, or ask an administrator to unlock it."
        )
    if limit == "address":
        return (
            f"Too many failed sign-ins from this address, for several usernames: sign-in from "
            f"here is paused. Try again in {wait}."
        )
    return (
        f"Too many failed sign-ins for this username from several places: each new attempt "
        f"must wait. Try again in {wait}, or from a network you have signed in from before."
    )
