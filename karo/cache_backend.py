"""Redis as a cache, never a dependency.

With Redis stopped or hung, every page, sign-in, API call and posting still works, slower,
from the database; once Redis is back, nothing cached before a change it missed is served.

- **Short timeouts** (settings: a quarter of a second to connect and to answer) and a
  **circuit breaker** per process and Redis server: after a failure the process leaves Redis
  alone for KARO_CACHE_BREAKER_SECONDS, then one call tries it again. A hung Redis costs each
  process one short timeout every few seconds, not one per call.
- **A failure is a miss.** A read that fails, or that the open breaker skips, answers "not
  cached", so the caller reads the database; a value that cannot be stored is not kept.
  Nothing here raises on a Redis error, inside a posting's transaction or anywhere else.
- **A missed invalidation empties Redis before it is trusted again.** A delete (how every
  invalidation in the project is made: `karo.caching`, the access cache, sessions) that does
  not reach Redis cannot simply be forgotten: whatever it meant to drop would be served again
  once Redis is back. So it renews the epoch in the database (`karo.models.CacheEpoch`) once
  its transaction commits. Redis keeps, under EPOCH_KEY, the epoch it was last emptied under;
  a process compares the two before its first call after a failure, and at least every
  KARO_CACHE_CHECK_SECONDS, and empties its key prefix when they differ (then stores the
  database's epoch). Keys are never renamed, so an invalidation always reaches the entries
  every process reads.

What this leaves: a process that did not see the failure itself (Redis reachable from it and
not from the process that missed the invalidation, or a process idle through a short outage)
may serve what it cached for at most KARO_CACHE_CHECK_SECONDS after the missed change
commits. Emptying a large cache costs one scan of its keys, once per outage.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.db import transaction
from django_redis.cache import RedisCache
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

logger = logging.getLogger(__name__)

EPOCH_KEY = "cache_epoch"
FAILURES = (RedisError, ConnectionInterrupted, OSError)


class Breaker:
    """One per process and Redis server, shared by its cache aliases and threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.tripped = False
        self.open_until = 0.0
        self.failures = 0  # calls that failed (not the ones skipped while open)
        # Per key prefix: when Redis was last found agreeing with the database's epoch.
        self.checked_at: dict[str, float] = {}

    def allows(self) -> bool:
        with self._lock:
            now = time.monotonic()
            if now < self.open_until:
                return False
            if self.tripped:  # this call is the one trial; the others wait for its answer
                self.open_until = now + settings.KARO_CACHE_BREAKER_SECONDS
            return True

    def failed(self) -> bool:
        """Open for a while; True if it was closed (worth one line in the log)."""
        with self._lock:
            was_closed = not self.tripped
            self.tripped = True
            self.failures += 1
            self.open_until = time.monotonic() + settings.KARO_CACHE_BREAKER_SECONDS
            self.checked_at.clear()  # compare epochs again before trusting Redis
            return was_closed

    def succeeded(self) -> bool:
        """Closed; True if it was open."""
        with self._lock:
            was_open, self.tripped, self.open_until = self.tripped, False, 0.0
            return was_open


_breakers: dict[str, Breaker] = {}
_breakers_lock = threading.Lock()


def breaker_for(server: str) -> Breaker:
    with _breakers_lock:
        return _breakers.setdefault(server, Breaker())


def missed_invalidation() -> None:
    """An invalidation did not reach Redis: renew the epoch once the transaction commits (at
    once outside one), so no process trusts Redis again before it is emptied. Never raises
    into the caller's transaction; a renewal that fails is logged."""
    from karo.models import CacheEpoch

    transaction.on_commit(CacheEpoch.renew, robust=True)


class ResilientRedisCache(RedisCache):
    """django-redis's cache behind the breaker, with failures as misses (module docstring)."""

    def __init__(self, server: str, params: dict[str, Any]) -> None:
        super().__init__(server, params)
        self.breaker = breaker_for(server)

    def _guard(
        self, default: Any, call: Callable[..., Any], *args: Any, invalidates: bool = False
    ) -> Any:
        if self.breaker.allows():
            try:
                self._keep_in_step()
                result = call(*args)
            except FAILURES as error:
                if self.breaker.failed():
                    logger.warning("Redis unavailable, serving from the database: %r", error)
            else:
                if self.breaker.succeeded():
                    logger.warning("Redis answers again")
                return result
        if invalidates:
            missed_invalidation()
        return default

    def _keep_in_step(self) -> None:
        """Empty this prefix's keys if Redis missed an invalidation since they were stored."""
        now = time.monotonic()
        checked = self.breaker.checked_at.get(self.key_prefix)
        if checked is not None and now - checked < settings.KARO_CACHE_CHECK_SECONDS:
            return
        from karo.models import CacheEpoch

        epoch = CacheEpoch.current()
        kept = RedisCache.get(self, EPOCH_KEY)
        if kept != epoch:
            RedisCache.delete_pattern(self, "*", itersize=1000)
            RedisCache.set(self, EPOCH_KEY, epoch, None)
            if kept is not None:  # not a first start or a restarted, empty Redis
                logger.warning("Redis missed an invalidation: emptied %s:*", self.key_prefix)
        self.breaker.checked_at[self.key_prefix] = now

    def clear_prefix(self) -> None:
        """Delete every key under this cache's prefix, Redis reachable or not (tests empty
        their own keys between tests this way): nothing is left to compare an epoch with."""
        RedisCache.delete_pattern(self, "*", itersize=1000)
        self.breaker.checked_at[self.key_prefix] = time.monotonic()

    def get(self, key: Any, default: Any = None, version: Any = None, client: Any = None) -> Any:
        return self._guard(default, super().get, key, default, version, client)

    def get_many(self, keys: Any, version: Any = None) -> Any:
        return self._guard({}, super().get_many, keys, version)

    def has_key(self, key: Any, version: Any = None) -> Any:
        return self._guard(False, super().has_key, key, version)

    def set(self, *args: Any, **kwargs: Any) -> Any:
        return self._guard(False, lambda: RedisCache.set(self, *args, **kwargs))

    def set_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._guard([], lambda: RedisCache.set_many(self, *args, **kwargs))

    def add(self, *args: Any, **kwargs: Any) -> Any:
        return self._guard(False, lambda: RedisCache.add(self, *args, **kwargs))

    def touch(self, *args: Any, **kwargs: Any) -> Any:
        return self._guard(False, lambda: RedisCache.touch(self, *args, **kwargs))

    def delete(self, *args: Any, **kwargs: Any) -> Any:
        return self._guard(
            False, lambda: RedisCache.delete(self, *args, **kwargs), invalidates=True
        )

    def delete_many(self, *args: Any, **kwargs: Any) -> Any:
        return self._guard(
            None, lambda: RedisCache.delete_many(self, *args, **kwargs), invalidates=True
        )

    def delete_pattern(self, *args: Any, **kwargs: Any) -> Any:
        return self._guard(
            0, lambda: RedisCache.delete_pattern(self, *args, **kwargs), invalidates=True
        )
