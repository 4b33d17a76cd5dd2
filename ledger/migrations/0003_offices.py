"""Journal entries carry their office (DESIGN.md "Offices"): every existing entry is the head
office's (id 1, the column's default, filled without an UPDATE the append-only trigger
would refuse)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_offices"),
        ("ledger", "0002_chart_and_triggers"),
    ]

    operations = [
        migrations.AddField(
            model_name="journalentry",
            name="office",
            field=models.ForeignKey(
                db_default=1,
                default=1,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.office",
            ),
        ),
    ]
