"""Baseline for the seeding rate: a plain `bulk_create` of N Installment rows with constant
values (no schedule arithmetic, no allocation), timed, then rolled back. Prints JSON."""

from __future__ import annotations

import json
import os
import sys
import time
from datetime import date
from decimal import Decimal

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
django.setup()

from django.db import transaction  # noqa: E402

from lending.models import Installment, Loan  # noqa: E402

PER_LOAN = 30_000  # (loan, number) is unique and number is a small integer


class Rollback(Exception):
    pass


def main(rows: int, batch_size: int) -> None:
    template = Loan.objects.filter(status=Loan.Status.ACTIVE).order_by("pk").first()
    assert template is not None, "seed first"
    seconds = 0.0
    try:
        with transaction.atomic():
            loans = []
            for k in range((rows + PER_LOAN - 1) // PER_LOAN):
                template.pk = None
                template.number = f"BENCH-BASE-{k}"
                template.save()
                loans.append(template.pk)
            objs = [
                Installment(
                    loan_id=loans[k // PER_LOAN],
                    number=k % PER_LOAN + 1,
                    due_date=date(2026, 1, 31),
                    principal=Decimal("100.00"),
                    interest=Decimal("10.00"),
                )
                for k in range(rows)
            ]
            started = time.monotonic()
            Installment.objects.bulk_create(objs, batch_size=batch_size)
            seconds = time.monotonic() - started
            raise Rollback
    except Rollback:
        pass
    json.dump(
        {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds)},
        sys.stdout,
    )


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]) if len(sys.argv) > 2 else 2000)
