"""Emptying the caches a test process owns."""

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
