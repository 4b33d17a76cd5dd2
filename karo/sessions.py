"""Sessions kept in the database and cached in Redis (Django's cached_db), where a copy that
Redis could not take is dropped instead of left behind.

Reads already fall back to the database when the cache answers nothing
(`karo.cache_backend` turns every Redis failure into a miss), so sessions survive an outage.
A save that cannot reach Redis would leave the session's previous copy there, served again
once Redis is back; dropping it instead is an invalidation, and one that cannot reach Redis
either renews the cache epoch, which empties Redis before anyone reads it again.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.core.cache import caches


class SessionStore(cached_db.SessionStore):
    def save(self, must_create: bool = False) -> None:
        DBStore.save(self, must_create)
        kept: Any = caches[settings.SESSION_CACHE_ALIAS]  # django-redis: set() says if it stored
        data = self._get_session(no_load=must_create)  # type: ignore[attr-defined]
        if kept.set(self.cache_key, data, self.get_expiry_age()) is False:  # Redis away
            kept.delete(self.cache_key)
