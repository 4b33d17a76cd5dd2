from typing import Any

from django.core.management.base import BaseCommand, CommandError

from lending.audit import verify_chain


class Command(BaseCommand):
    help = "Check the audit log's hash chain and report the first row that does not match."

    def handle(self, *args: Any, **options: Any) -> None:
        checked, bad, why = verify_chain()
        if bad is not None:
            raise CommandError(
                f"Audit log row {bad.pk} ({bad}) does not match: {why}. "
                f"{checked} rows before it are intact."
            )
        self.stdout.write(self.style.SUCCESS(f"Audit log intact: {checked} rows verified."))
