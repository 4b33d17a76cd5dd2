"""Reactions to lending signals: keep caches true after a change commits."""

from typing import Any

from django.dispatch import receiver

from karo.caching import drop, generation, renew_generation
from lending.signals import borrower_changed, loan_changed, loans_changed

# The dashboard's figures are computed once and kept until anything they count changes.
DASHBOARD_CACHE_KEY = "dashboard"
# A token that changes whenever a loan or a borrower changes: what is cached under it (list
# totals, `lending.pagination`) is never read again after a change.
PORTFOLIO_GENERATION_KEY = "portfolio_generation"


def portfolio_generation() -> str:
    return generation(PORTFOLIO_GENERATION_KEY)


def loan_status_cache_key(loan_id: int) -> str:
    return f"loan_status:{loan_id}"


def forget_portfolio() -> None:
    """Everything cached about the portfolio is stale once this transaction commits; for
    writers that change many loans at once without a signal per loan (the bulk seeder)."""
    drop(DASHBOARD_CACHE_KEY)
    renew_generation(PORTFOLIO_GENERATION_KEY)


@receiver(loan_changed, dispatch_uid="invalidate_loan_status")
def invalidate_loan_status(sender: Any, loan_id: int, **kwargs: Any) -> None:
    drop(loan_status_cache_key(loan_id))
    forget_portfolio()


@receiver(loans_changed, dispatch_uid="invalidate_loan_statuses")
def invalidate_loan_statuses(sender: Any, loan_ids: list[int], **kwargs: Any) -> None:
    drop(*(loan_status_cache_key(pk) for pk in loan_ids))
    forget_portfolio()


@receiver(borrower_changed, dispatch_uid="invalidate_dashboard_on_borrower")
def invalidate_dashboard(sender: Any, **kwargs: Any) -> None:
    forget_portfolio()
