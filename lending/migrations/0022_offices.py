"""Borrowers, loans and loan transactions carry their office (DESIGN.md "Offices"): every
existing row is the head office's (id 1, the column's default); moving a borrower to another
office is a permission and an audit action, as are changes to the office tree."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0004_offices"),
        ("lending", "0021_waivers_recoveries"),
    ]

    operations = [
        migrations.AlterModelOptions(
            name="borrower",
            options={
                "ordering": ["full_name", "id"],
                "permissions": [("transfer_borrower", "Can move a borrower to another office")],
            },
        ),
        migrations.AddField(
            model_name="borrower",
            name="office",
            field=models.ForeignKey(
                db_default=1,
                default=1,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.office",
            ),
        ),
        migrations.AddField(
            model_name="loan",
            name="office",
            field=models.ForeignKey(
                db_default=1,
                default=1,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.office",
            ),
        ),
        migrations.AddField(
            model_name="loantransaction",
            name="office",
            field=models.ForeignKey(
                db_default=1,
                default=1,
                on_delete=django.db.models.deletion.PROTECT,
                related_name="+",
                to="accounts.office",
            ),
        ),
        migrations.AlterField(
            model_name="auditlog",
            name="action",
            field=models.CharField(
                choices=[
                    ("login", "Login"),
                    ("login_failed", "Login failed"),
                    ("logout", "Logout"),
                    ("user_created", "User created"),
                    ("user_changed", "User changed"),
                    ("roles_changed", "Roles changed"),
                    ("borrower_created", "Borrower created"),
                    ("borrower_updated", "Borrower updated"),
                    ("loan_submitted", "Loan submitted"),
                    ("loan_approved", "Loan approved"),
                    ("loan_rejected", "Loan rejected"),
                    ("loan_disbursed", "Loan disbursed"),
                    ("loan_approval_undone", "Loan approval undone"),
                    ("loan_disbursement_undone", "Loan disbursement undone"),
                    ("loan_withdrawn", "Loan withdrawn"),
                    ("loan_written_off", "Loan written off"),
                    ("loan_closed", "Loan closed"),
                    ("loan_reopened", "Loan re-opened"),
                    ("repayment_recorded", "Repayment recorded"),
                    ("repayment_reversed", "Repayment reversed"),
                    ("loan_settled", "Loan settled early"),
                    ("product_created", "Product created"),
                    ("product_changed", "Product changed"),
                    ("settings_changed", "Settings changed"),
                    ("receipt_printed", "Receipt printed"),
                    ("document_printed", "Document printed"),
                    ("report_exported", "Report exported"),
                    ("day_closed", "Day closed"),
                    ("penalties_applied", "Late penalties applied"),
                    ("backdated_posting", "Backdated posting replayed"),
                    ("books_closed", "Books closed"),
                    ("journal_entry", "Manual journal entry"),
                    ("collection_sheet_posted", "Collection sheet posted"),
                    ("payments_imported", "Payment file imported"),
                    ("reminders_sent", "Payment reminders sent"),
                    ("document_uploaded", "Document uploaded"),
                    ("document_downloaded", "Document downloaded"),
                    ("document_deleted", "Document deleted"),
                    ("guarantor_added", "Guarantor added"),
                    ("guarantor_removed", "Guarantor removed"),
                    ("collateral_added", "Collateral added"),
                    ("collateral_removed", "Collateral removed"),
                    ("borrower_transferred", "Borrower moved to another office"),
                    ("office_saved", "Office saved"),
                    ("user_office_changed", "User's office changed"),
                    ("calendar_changed", "Working days changed"),
                    ("loans_rescheduled", "Loans rescheduled"),
                    ("charges_waived", "Charges or interest waived"),
                    ("recovery_recorded", "Recovery recorded"),
                ],
                db_index=True,
                max_length=32,
            ),
        ),
    ]
