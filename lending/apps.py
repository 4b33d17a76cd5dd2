from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_default_accounts(sender: Any, **kwargs: Any) -> None:
    """The migration maps each role to its default account; this keeps the mapping after a
    database flush (tests that use real transactions empty every table). After the ledger's
    own post_migrate, which puts the chart back first."""
    if sender.label != "lending":
        return
    from ledger.models import Account
    from lending.journal import DEFAULT_ACCOUNT_CODES
    from lending.models import ProductAccount

    accounts = dict(
        Account.objects.filter(code__in=DEFAULT_ACCOUNT_CODES.values()).values_list("code", "pk")
    )
    for role, code in DEFAULT_ACCOUNT_CODES.items():
        if code in accounts:
            ProductAccount.objects.get_or_create(
                product=None, role=role, defaults={"account_id": accounts[code]}
            )


class LendingConfig(AppConfig):
    name = "lending"
    verbose_name = "Lending"

    def ready(self) -> None:
        from karo.caching import read_ahead_always
        from lending import receivers  # connects signal receivers

        # Read with the signed-in user's access: nearly every page reads them next.
        read_ahead_always(receivers.PORTFOLIO_GENERATION_KEY, receivers.STAFF_GENERATION_KEY)

        post_migrate.connect(_ensure_default_accounts, dispatch_uid="lending_default_accounts")
