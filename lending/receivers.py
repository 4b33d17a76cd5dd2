"""Reactions to lending signals: keep caches true after a change commits."""

from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.dispatch import receiver

from lending.signals import loan_changed


def loan_status_cache_key(loan_id: int) -> str:
    return f"loan_status:{loan_id}"


@receiver(loan_changed, dispatch_uid="invalidate_loan_status")
def invalidate_loan_status(sender: Any, loan_id: int, **kwargs: Any) -> None:
    key = loan_status_cache_key(loan_id)
    cache.delete(key)
    # A reader between now and commit could cache the old figures; drop them again after.
    transaction.on_commit(lambda: cache.delete(key))
