from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender: Any, **kwargs: Any) -> None:
    if sender.label != "lending":  # once per migrate or flush, after lending's permissions
        return
    from accounts.roles import sync_roles

    sync_roles()


def _ensure_head_office(sender: Any, **kwargs: Any) -> None:
    if sender.label != "accounts":
        return
    from accounts.head_office import ensure_head_office

    ensure_head_office()


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts"

    def ready(self) -> None:
        from accounts import backends, checks, receivers  # noqa: F401  (signals, checks)

        backends.connect()

        # The data migration creates the roles; this keeps them after a database flush
        # (tests that use real transactions empty every table, groups included).
        post_migrate.connect(_sync_roles, dispatch_uid="accounts_sync_roles")
        post_migrate.connect(_ensure_head_office, dispatch_uid="accounts_head_office")
