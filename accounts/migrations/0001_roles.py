from django.db import migrations


def create_roles(apps, schema_editor):  # type: ignore[no-untyped-def]
    from accounts.roles import sync_roles

    sync_roles(apps)


class Migration(migrations.Migration):
    """Groups Admin, Loan Officer and Accountant with the permissions of accounts.roles."""

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("lending", "0001_initial"),
    ]

    operations = [migrations.RunPython(create_roles, migrations.RunPython.noop)]
