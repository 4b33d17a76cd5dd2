import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    """Allocations belong to loan transactions now (0007 linked every one)."""

    dependencies = [("lending", "0007_open_the_books")]

    operations = [
        migrations.RemoveField(model_name="allocation", name="repayment"),
        migrations.RemoveField(model_name="allocation", name="interest_waived"),
        migrations.AlterField(
            model_name="allocation",
            name="transaction",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.PROTECT,
                related_name="allocations",
                to="lending.loantransaction",
            ),
        ),
    ]
