"""The head office (id 1), created by the offices migration and again after a database flush
(tests that use real transactions empty every table), as the roles and the chart are."""

from __future__ import annotations

from typing import Any

from django.db import connection

HEAD_OFFICE_ID = 1


def ensure_head_office(apps: Any = None) -> None:
    from django.apps import apps as global_apps

    Office = (apps or global_apps).get_model("accounts", "Office")
    _, created = Office.objects.get_or_create(
        pk=HEAD_OFFICE_ID, defaults={"name": "Head office", "path": f"{HEAD_OFFICE_ID:04d}/"}
    )
    if created and connection.vendor == "postgresql":
        # The row was inserted with its id: move the sequence past it.
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT setval(pg_get_serial_sequence('accounts_office', 'id'), "
                "(SELECT MAX(id) FROM accounts_office))"
            )
