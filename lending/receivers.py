"""Reactions to lending signals: keep caches true after a change commits."""

from typing import Any

from django.contrib.auth.models import User
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from accounts.models import Office
from karo.caching import drop, generation, generations
from lending.models import LoanProduct
from lending.signals import borrower_changed, loan_changed, loans_changed

# The dashboard's figures are computed once and kept until anything they count changes.
DASHBOARD_CACHE_KEY = "dashboard"
# A token that changes whenever a loan, a borrower, a product, an office or a staff member
# changes: what is cached under it (list totals in `lending.pagination`, the dashboard and list
# pages, the filters' choices) is never read again after a change.
PORTFOLIO_GENERATION_KEY = "portfolio_generation"
# Renewed only by a staff change: for what names staff but is otherwise keyed on one loan's
# last change (the recorded-by column of a loan's repayments).
STAFF_GENERATION_KEY = "staff_generation"


def portfolio_generation() -> str:
    return generation(PORTFOLIO_GENERATION_KEY)


def portfolio_and_staff_generations() -> tuple[str, str]:
    portfolio, staff = generations(PORTFOLIO_GENERATION_KEY, STAFF_GENERATION_KEY)
    return portfolio, staff


def loan_status_cache_key(loan_id: int) -> str:
    return f"loan_status:{loan_id}"


def forget_portfolio(*keys: str) -> None:
    """Everything cached about the portfolio is stale once this transaction commits, and so
    are `keys`: dropped together in one round trip (a dropped generation is drawn anew by its
    next reader). Also for writers that change many loans at once without a signal per loan
    (the bulk seeder)."""
    drop(*keys, DASHBOARD_CACHE_KEY, PORTFOLIO_GENERATION_KEY)


@receiver(loan_changed, dispatch_uid="invalidate_loan_status")
def invalidate_loan_status(sender: Any, loan_id: int, **kwargs: Any) -> None:
    forget_portfolio(loan_status_cache_key(loan_id))


@receiver(loans_changed, dispatch_uid="invalidate_loan_statuses")
def invalidate_loan_statuses(sender: Any, loan_ids: list[int], **kwargs: Any) -> None:
    forget_portfolio(*(loan_status_cache_key(pk) for pk in loan_ids))


@receiver(borrower_changed, dispatch_uid="invalidate_dashboard_on_borrower")
def invalidate_dashboard(sender: Any, **kwargs: Any) -> None:
    forget_portfolio()


@receiver(post_save, sender=LoanProduct, dispatch_uid="invalidate_portfolio_on_product_save")
@receiver(post_delete, sender=LoanProduct, dispatch_uid="invalidate_portfolio_on_product_delete")
def invalidate_on_product(sender: Any, **kwargs: Any) -> None:
    """Lists show product names and offer the products as filter choices."""
    forget_portfolio()


@receiver(post_save, sender=Office, dispatch_uid="invalidate_portfolio_on_office_save")
@receiver(post_delete, sender=Office, dispatch_uid="invalidate_portfolio_on_office_delete")
def invalidate_on_office(sender: Any, **kwargs: Any) -> None:
    """The dashboard and the reports offer the user's offices as filter choices, by name."""
    forget_portfolio()


@receiver(post_save, sender=User, dispatch_uid="invalidate_portfolio_on_user_save")
@receiver(post_delete, sender=User, dispatch_uid="invalidate_portfolio_on_user_delete")
def invalidate_on_staff(sender: Any, update_fields: Any = None, **kwargs: Any) -> None:
    """Lists show who submitted each loan and offer the officers as filter choices; a sign-in
    (which only stamps `last_login`) changes neither."""
    if update_fields is not None and set(update_fields) <= {"last_login"}:
        return
    forget_portfolio(STAFF_GENERATION_KEY)
