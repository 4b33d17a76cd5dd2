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

*Reading ahead*: a request's first cache read is the signed-in user's access
(`accounts.backends.user_access`, at the permission check; for a superuser, whom Django lets
through without it, the first read made here). The keys most pages read next
(the generations apps name with `read_ahead_always`, and those a view names with `@reads_ahead`)
ride along in that round trip and are answered from it for the rest of the request, until a
`drop` here renews one of them. Outside a request (`reading_ahead` not entered) nothing is
kept: every read goes to the cache.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from django.core.cache import cache
from django.db import transaction


def generation(key: str) -> str:
    token = read_many([key]).get(key)
    if token is None:
        drawn = uuid.uuid4().hex
        cache.add(key, drawn, None)
        # Another reader's token if it added first; ours if a renewal deleted the key between
        # the two calls (never an empty token that a later race could share).
        token = cache.get(key) or drawn
        _remember(key, token)
    return str(token)


def generations(*keys: str) -> list[str]:
    """Several generation tokens in one round trip."""
    return _tokens(read_many(list(keys)), keys)


def with_generations(key: str, *generation_keys: str) -> tuple[Any, list[str]]:
    """A cached value (None if missing) and generation tokens, in one round trip."""
    found = read_many([key, *generation_keys])
    return found.get(key), _tokens(found, generation_keys)


def _tokens(found: dict[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [str(found[key]) if key in found else generation(key) for key in keys]


def renew_generation(key: str) -> None:
    drop(key)


def drop(*keys: str) -> None:
    ahead = _ahead.get()
    if ahead is not None:  # read from the cache again, after the change
        for key in keys:
            ahead.known.pop(key, None)
    now_and_on_commit(lambda: cache.delete_many(list(keys)))


def now_and_on_commit(action: Callable[[], None]) -> None:
    action()
    transaction.on_commit(action)


# --- Reading ahead (module docstring) ------------------------------------------------------------

_ALWAYS: list[str] = []


@dataclass
class _ReadAhead:
    wanted: list[str]
    known: dict[str, Any] = field(default_factory=dict)  # read ahead: value, or None if missing


_ahead: ContextVar[_ReadAhead | None] = ContextVar("karo_read_ahead", default=None)


def read_ahead_always(*keys: str) -> None:
    """Keys nearly every page reads (an app's generations), named once at start-up."""
    _ALWAYS.extend(key for key in keys if key not in _ALWAYS)


@contextmanager
def reading_ahead() -> Iterator[None]:
    """One request's read-ahead (`karo.middleware.ReadAheadMiddleware`)."""
    token = _ahead.set(_ReadAhead(wanted=list(_ALWAYS)))
    try:
        yield
    finally:
        _ahead.reset(token)


def reads_ahead(keys: Callable[..., Iterable[str]]) -> Callable[[Any], Any]:
    """A view decorator, outside the permission check: `keys(**url_kwargs)` are read in the
    access check's round trip (e.g. the row the view shows)."""

    def decorator(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapped(request: Any, *args: Any, **kwargs: Any) -> Any:
            ahead = _ahead.get()
            if ahead is not None:
                ahead.wanted.extend(keys(**kwargs))
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


def get_many_reading_ahead(keys: list[str]) -> dict[str, Any]:
    """`cache.get_many(keys)` for the request's first read, with the keys wanted ahead in the
    same round trip (kept for `read_many`; not in the answer)."""
    ahead = _ahead.get()
    wanted = [k for k in dict.fromkeys(ahead.wanted) if k not in keys] if ahead is not None else []
    if ahead is None or not wanted:
        return cache.get_many(keys)
    ahead.wanted = []
    found = cache.get_many([*keys, *wanted])
    ahead.known.update((key, found.pop(key, None)) for key in wanted)
    return found


def read_many(keys: list[str]) -> dict[str, Any]:
    """`cache.get_many(keys)`, answered from what was read ahead where it can be (a key read
    ahead and missing is missing, without a second read). Before the access check (a
    superuser's is never made), the first such read takes the wanted keys along."""
    ahead = _ahead.get()
    if ahead is None:
        return cache.get_many(keys)
    known = ahead.known
    found = {key: known[key] for key in keys if known.get(key) is not None}
    rest = [key for key in keys if key not in known]
    return found | get_many_reading_ahead(rest) if rest else found


def _remember(key: str, token: str) -> None:
    """A generation drawn in this request, for its later reads (it was read ahead missing)."""
    ahead = _ahead.get()
    if ahead is not None and key in ahead.known:
        ahead.known[key] = token
