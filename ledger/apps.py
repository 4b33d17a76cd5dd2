from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_chart(sender: Any, **kwargs: Any) -> None:
    if sender.label != "ledger":
        return
    from ledger.chart import ensure_chart

    ensure_chart()


class LedgerConfig(AppConfig):
    name = "ledger"
    verbose_name = "General ledger"

    def ready(self) -> None:
        # The migration creates the chart; this keeps it after a database flush (tests that
        # use real transactions empty every table).
        post_migrate.connect(_ensure_chart, dispatch_uid="ledger_ensure_chart")
