"""Emptying the caches a test process owns, and counting a request's cache reads."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.core.cache import caches


def clear_own_caches() -> None:
    """Empty this process's caches. On Redis, only this worker's keys (its key prefixes):
    `clear()` would flush the database under the other workers' feet."""
    for alias in ("default", "template_fragments"):
        own = caches[alias]
        if hasattr(own, "clear_prefix"):
            own.clear_prefix()
        else:
            own.clear()


@contextmanager
def cache_reads() -> Iterator[list[tuple[str, Any]]]:
    """The cache reads made inside, as (method, keys): each `get` or `get_many` of the default
    and the fragment caches is one round trip on Redis (a `get_many` that a backend makes of
    several `get`s counts once)."""
    reads: list[tuple[str, Any]] = []
    inside = [False]

    def counted(name: str, read: Any) -> Any:
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if inside[0]:
                return read(*args, **kwargs)
            reads.append((name, args[0] if args else next(iter(kwargs.values()))))
            inside[0] = True
            try:
                return read(*args, **kwargs)
            finally:
                inside[0] = False

        return wrapper

    aliases, methods = ("default", "template_fragments"), ("get", "get_many")
    patched = [(caches[alias], name) for alias in aliases for name in methods]
    for cache, name in patched:
        setattr(cache, name, counted(name, getattr(cache, name)))
    try:
        yield reads
    finally:
        for cache, name in patched:
            delattr(cache, name)
