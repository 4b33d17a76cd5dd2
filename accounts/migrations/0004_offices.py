"""Offices (DESIGN.md "Offices"): the tree, with one head office (id 1) that every existing
user, borrower and loan belongs to (users by having no office of their own)."""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def head_office(apps, schema_editor):  # type: ignore[no-untyped-def]
    from accounts.head_office import ensure_head_office

    ensure_head_office(apps)


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_login_throttle_refresh_tokens"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="Office",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True)),
                ("path", models.CharField(editable=False, max_length=255, unique=True)),
                (
                    "parent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="children",
                        to="accounts.office",
                    ),
                ),
            ],
            options={"ordering": ["path"]},
        ),
        migrations.CreateModel(
            name="UserOffice",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "office",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="members",
                        to="accounts.office",
                    ),
                ),
                (
                    "user",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="office_link",
                        to=settings.AUTH_USER_MODEL,
                    ),
                ),
            ],
            options={"verbose_name": "user's office"},
        ),
        migrations.RunPython(head_office, migrations.RunPython.noop),
    ]
