"""Reactions to lending signals: keep caches true after a change commits."""

from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.dispatch import receiver

from lending.signals import borrower_changed, loan_changed

# The dashboard's figures are computed once and kept until anything they count changes.
DASHBOARD_CACHE_KEY = "dashboard"


def _drop(key: str) -> None:
    cache.delete(key)
    # A reader between now and commit could cache the old figures; drop them again after.
    transaction.on_commit(lambda: cache.delete(key))


def loan_status_cache_key(loan_id: int) -> str:
    return f"loan_status:{loan_id}"


@receiver(loan_changed, dispatch_uid="invalidate_loan_status")
def invalidate_loan_status(sender: Any, loan_id: int, **kwargs: Any) -> None:
    _drop(loan_status_cache_key(loan_id))
    _drop(DASHBOARD_CACHE_KEY)


@receiver(borrower_changed, dispatch_uid="invalidate_dashboard_on_borrower")
def invalidate_dashboard(sender: Any, **kwargs: Any) -> None:
    _drop(DASHBOARD_CACHE_KEY)
