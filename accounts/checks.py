"""Deployment checks of our own (`manage.py check --deploy`)."""

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Tags, Warning, register


@register(Tags.caches, deploy=True)
def shared_cache_in_production(app_configs: Any, **kwargs: Any) -> list[CheckMessage]:
    """Cached figures (dashboard, list totals) are dropped by whichever process made the
    change; with a per-process cache the other gunicorn workers keep theirs until they expire."""
    if settings.DEBUG or "locmem" not in settings.CACHES["default"]["BACKEND"].lower():
        return []
    return [
        Warning(
            "REDIS_URL is not set: the cache is per process, so with several gunicorn "
            "workers a change is seen at once only by the worker that made it (cached "
            "totals and dashboard figures elsewhere wait for their expiry; permissions are "
            "then read on every request).",
            hint="Set REDIS_URL=redis://host:6379/0 in production.",
            id="karo.W001",
        )
    ]
