"""Roles are Django groups; this mapping from role to permissions is the only place it lives.

Views and the API ask for a permission (`lending.approve_loan`), never for a group name, so a
role can change here without touching any view. The data migration and `sync_roles` apply it.
"""

from __future__ import annotations

from typing import Any

ADMIN = "Admin"
LOAN_OFFICER = "Loan Officer"
ACCOUNTANT = "Accountant"

_OFFICER = [
    "lending.view_borrower",
    "lending.add_borrower",
    "lending.change_borrower",
    "lending.view_loan",
    "lending.add_loan",
    "lending.approve_loan",
    "lending.view_loanproduct",
    "lending.view_installment",
    "lending.view_portfolio_reports",
    "lending.view_loantransaction",
    "collecting.view_reminder",
]

_ACCOUNTANT = [
    "lending.view_borrower",
    "lending.view_loan",
    "lending.view_loanproduct",
    "lending.view_installment",
    "lending.view_repayment",
    "lending.add_repayment",
    "lending.reverse_repayment",
    "lending.disburse_loan",
    "lending.view_receipt",
    "lending.view_portfolio_reports",
    "lending.view_financial_reports",
    "lending.view_loantransaction",
    "ledger.view_account",
    "ledger.view_journalentry",
    "collecting.view_reminder",
]

_ADMIN = sorted(
    set(_OFFICER)
    | set(_ACCOUNTANT)
    | {
        "lending.write_off_loan",
        "lending.reassign_officer",
        "lending.transfer_borrower",
        "accounts.view_office",
        "accounts.add_office",
        "accounts.change_office",
        "accounts.view_useroffice",
        "accounts.add_useroffice",
        "accounts.change_useroffice",
        "accounts.delete_useroffice",
        "lending.waive_loan",
        "lending.undo_loan_decision",
        "lending.manage_calendar",  # working days and holidays, rescheduling
        "ledger.add_account",
        "ledger.change_account",
        "ledger.delete_account",
        "ledger.add_journalentry",
        "ledger.add_booksclosing",
        "ledger.view_booksclosing",
        "collecting.view_daycloserun",  # the daily close page
        "collecting.add_daycloserun",  # its "Run the daily close" button
        "lending.view_productaccount",
        "lending.add_productaccount",
        "lending.change_productaccount",
        "lending.delete_productaccount",
        "lending.add_loanproduct",
        "lending.change_loanproduct",
        "lending.view_productcharge",
        "lending.add_productcharge",
        "lending.change_productcharge",
        "lending.delete_productcharge",
        "lending.view_auditlog",
        "lending.view_auditcheckpoint",
        "lending.add_auditcheckpoint",
        "auth.view_user",
        "auth.add_user",
        "auth.change_user",
        "auth.view_group",
        "accounts.view_loginfailure",
        "accounts.delete_loginfailure",
        "reporting.view_agingsettings",
        "reporting.add_agingsettings",
        "reporting.change_agingsettings",
        "collecting.view_remindertemplate",
        "collecting.change_remindertemplate",
    }
)

ROLE_PERMISSIONS: dict[str, list[str]] = {
    ADMIN: _ADMIN,
    LOAN_OFFICER: sorted(_OFFICER),
    ACCOUNTANT: sorted(_ACCOUNTANT),
}


def sync_roles(apps: Any = None) -> None:
    """Create the three groups and give each exactly its permissions (idempotent)."""
    from django.apps import apps as global_apps
    from django.contrib.auth.management import create_permissions

    apps = apps or global_apps
    for config in apps.get_app_configs():
        # Historical app configs (inside a migration) have no models module, and
        # create_permissions skips such apps: pretend for the call, then restore.
        original = getattr(config, "models_module", None)
        config.models_module = original or True
        try:
            create_permissions(config, verbosity=0, apps=apps)
        finally:
            config.models_module = original
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = Group.objects.get_or_create(name=role)
        wanted = []
        for perm in perms:
            app_label, codename = perm.split(".")
            # Inside an early migration a later model's permission does not exist yet: the
            # post_migrate sync (accounts.apps) grants it once every migration has run.
            wanted += Permission.objects.filter(
                content_type__app_label=app_label, codename=codename
            )
        group.permissions.set(wanted)
