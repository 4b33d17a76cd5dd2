from django.db import migrations, models


class Migration(migrations.Migration):
    """A loan transaction may be an early settlement's interest credit (interest paid ahead,
    given back)."""

    dependencies = [
        ("lending", "0019_separate_disbursement"),
    ]

    operations = [
        migrations.AlterField(
            model_name="loantransaction",
            name="kind",
            field=models.CharField(
                choices=[
                    ("disbursement", "Disbursement"),
                    ("repayment", "Repayment"),
                    ("recovery", "Recovery"),
                    ("charge", "Charge"),
                    ("waiver", "Waiver"),
                    ("write_off", "Write off"),
                    ("accrual", "Accrual"),
                    ("interest_credit", "Interest credit"),
                ],
                max_length=16,
            ),
        ),
    ]
