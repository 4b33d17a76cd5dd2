"""What the project keeps apart from its apps: the database's word on the shared cache
(karo/cache_backend.py)."""

from __future__ import annotations

import uuid

from django.db import models


class CacheEpoch(models.Model):
    """A token renewed whenever an invalidation could not reach Redis (it was down, hung, or
    this process had stopped asking it). Redis keeps the token it was last emptied under, and
    a process trusts Redis only while the two agree: a change that Redis missed empties it
    before anything cached beside it is read again. One row; none until the first renewal."""

    token = models.CharField(max_length=32)

    def __str__(self) -> str:
        return f"cache epoch {self.token}"

    @classmethod
    def current(cls) -> str:
        return cls.objects.filter(pk=1).values_list("token", flat=True).first() or ""

    @classmethod
    def renew(cls) -> None:
        token = uuid.uuid4().hex
        if not cls.objects.filter(pk=1).update(token=token):
            cls.objects.update_or_create(pk=1, defaults={"token": token})
