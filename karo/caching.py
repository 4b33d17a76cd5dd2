"""Two small cache tools shared by the apps' invalidation code.

A *generation* is a random token under a fixed key; whatever is cached under the current
token is dropped at once by renewing it (a new random value, never a counter, so an evicted
token cannot come back to an old one). Deleting the key renews it too: its next reader draws a
new token, so a generation can be dropped in the same round trip as other keys. Changes are
made visible *now and on commit*: now, and again once the transaction commits, because a
request between the two may have cached what was true before the commit.

Every change here is a delete, never an overwrite: with Redis (`karo.cache_backend`) a delete
that cannot reach it (down, hung, or skipped by the breaker) does not raise, inside a
posting's transaction or anywhere else; it renews the database's cache epoch, and Redis is
emptied before anyone trusts it again.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from django.core.cache import cache
from django.db import transaction


def generation(key: str) -> str:
    token = cache.get(key)
    if token is None:
        drawn = uuid.uuid4().hex
        cache.add(key, drawn, None)
        # Another reader's token if it added first; ours if a renewal deleted the key between
        # the two calls (never an empty token that a later race could share).
        token = cache.get(key) or drawn
    return str(token)


def generations(*keys: str) -> list[str]:
    """Several generation tokens in one round trip."""
    return _tokens(cache.get_many(list(keys)), keys)


def with_generations(key: str, *generation_keys: str) -> tuple[Any, list[str]]:
    """A cached value (None if missing) and generation tokens, in one round trip."""
    found = cache.get_many([key, *generation_keys])
    return found.get(key), _tokens(found, generation_keys)


def _tokens(found: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [str(found[key]) if key in found else generation(key) for key in keys]


def renew_generation(key: str) -> None:
    drop(key)


def drop(*keys: str) -> None:
    now_and_on_commit(lambda: cache.delete_many(list(keys)))


def now_and_on_commit(action: Callable[[], None]) -> None:
    action()
    transaction.on_commit(action)
