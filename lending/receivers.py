"""Reactions to lending signals: keep caches true after a change commits."""

import uuid
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.dispatch import receiver

from lending.signals import borrower_changed, loan_changed, loans_changed

# The dashboard's figures are computed once and kept until anything they count changes.
DASHBOARD_CACHE_KEY = "dashboard"
# A token that changes whenever a loan or a borrower changes: what is cached under it (list
# totals, `lending.pagination`) is never read again after a change.
PORTFOLIO_GENERATION_KEY = "portfolio_generation"


def _drop(key: str) -> None:
    cache.delete(key)
    # A reader between now and commit could cache the old figures; drop them again after.
    transaction.on_commit(lambda: cache.delete(key))


def _new_portfolio_generation() -> None:
    def renew() -> None:
        cache.set(PORTFOLIO_GENERATION_KEY, uuid.uuid4().hex, None)

    renew()
    transaction.on_commit(renew)  # as in _drop: what was cached before commit is stale too


def portfolio_generation() -> str:
    token = cache.get(PORTFOLIO_GENERATION_KEY)
    if token is None:
        cache.add(PORTFOLIO_GENERATION_KEY, uuid.uuid4().hex, None)
        token = cache.get(PORTFOLIO_GENERATION_KEY) or ""
    return str(token)


def loan_status_cache_key(loan_id: int) -> str:
    return f"loan_status:{loan_id}"


def forget_portfolio() -> None:
    """Everything cached about the portfolio is stale once this transaction commits; for
    writers that change many loans at once without a signal per loan (the bulk seeder)."""
    _drop(DASHBOARD_CACHE_KEY)
    _new_portfolio_generation()


@receiver(loan_changed, dispatch_uid="invalidate_loan_status")
def invalidate_loan_status(sender: Any, loan_id: int, **kwargs: Any) -> None:
    _drop(loan_status_cache_key(loan_id))
    forget_portfolio()


@receiver(loans_changed, dispatch_uid="invalidate_loan_statuses")
def invalidate_loan_statuses(sender: Any, loan_ids: list[int], **kwargs: Any) -> None:
    keys = [loan_status_cache_key(pk) for pk in loan_ids]
    cache.delete_many(keys)
    transaction.on_commit(lambda: cache.delete_many(keys))
    forget_portfolio()


@receiver(borrower_changed, dispatch_uid="invalidate_dashboard_on_borrower")
def invalidate_dashboard(sender: Any, **kwargs: Any) -> None:
    forget_portfolio()
