"""Borrowers' phones in E.164 (+254712345678), as the services now store them, so that a search
by any form of a number finds it. A number that cannot be read as a valid one (typed before the
check existed) is left as it was and listed, for someone to correct on the borrower's page."""

from typing import Any

from django.conf import settings
from django.db import migrations


def normalise_phones(apps: Any, schema_editor: Any) -> None:
    from django.core.exceptions import ValidationError

    from lending.phones import normalise_phone

    Borrower = apps.get_model("lending", "Borrower")
    region = settings.KARO_PHONE_REGION
    unreadable = []
    changed = []
    for pk, number, phone in Borrower.objects.values_list("pk", "number", "phone").iterator(
        chunk_size=2000
    ):
        try:
            e164 = normalise_phone(phone, region)
        except ValidationError:
            unreadable.append(f"{number} ({phone!r})")
            continue
        if e164 != phone:
            changed.append(Borrower(pk=pk, phone=e164))
        if len(changed) >= 2000:
            Borrower.objects.bulk_update(changed, ["phone"])
            changed = []
    Borrower.objects.bulk_update(changed, ["phone"])
    if unreadable:
        shown = ", ".join(unreadable[:50]) + (" ..." if len(unreadable) > 50 else "")
        print(
            f"\n  {len(unreadable)} borrower phone(s) left as typed (not a valid number): {shown}"
        )


class Migration(migrations.Migration):
    dependencies = [("lending", "0009_audit_keyed_chain_checkpoints")]

    operations = [migrations.RunPython(normalise_phones, migrations.RunPython.noop, elidable=True)]
