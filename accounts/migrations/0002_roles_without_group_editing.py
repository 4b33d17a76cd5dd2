from django.db import migrations


def sync(apps, schema_editor):  # type: ignore[no-untyped-def]
    from accounts.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    """Admins no longer edit roles in the admin (roles are defined in code)."""

    dependencies = [("accounts", "0001_roles"), ("lending", "0003_allocation_waiver_penalty_audit")]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
