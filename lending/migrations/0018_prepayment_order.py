from django.db import migrations, models

CHOICES = [
    ("principal_first", "Principal first (interest not yet earned is never bought)"),
    ("in_order", "In order (interest, then principal, of each installment)"),
]


class Migration(migrations.Migration):
    """Money paid ahead pays principal first on new products; the products and loans that exist
    keep paying in order (their borrowers agreed to it), so the field is added as `in_order`
    and only then given its new default."""

    dependencies = [
        ("lending", "0017_working_days"),
    ]

    operations = [
        migrations.AddField(
            model_name="loanproduct",
            name="prepayment_order",
            field=models.CharField(choices=CHOICES, default="in_order", max_length=16),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="loanproduct",
            name="prepayment_order",
            field=models.CharField(
                choices=CHOICES,
                default="principal_first",
                help_text="Money paid ahead, on installments not yet due: principal first (the "
                "borrower never pays interest not yet earned) or in order (interest first).",
                max_length=16,
            ),
        ),
        migrations.AddField(
            model_name="loan",
            name="prepayment_order",
            field=models.CharField(
                choices=CHOICES, default="in_order", editable=False, max_length=16
            ),
        ),
    ]
