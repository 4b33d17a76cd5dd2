from typing import Any

import pytest
from django.contrib.auth.models import Group

from accounts.roles import ROLE_PERMISSIONS, sync_roles


@pytest.mark.django_db
def test_the_three_roles_exist_with_exactly_their_permissions() -> None:
    assert set(Group.objects.values_list("name", flat=True)) >= {
        "Admin",
        "Loan Officer",
        "Accountant",
    }
    for role, perms in ROLE_PERMISSIONS.items():
        group = Group.objects.get(name=role)
        got = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
        assert got == set(perms), role


def test_matrix_in_role_permissions() -> None:
    officer, accountant, admin = (
        set(ROLE_PERMISSIONS[r]) for r in ("Loan Officer", "Accountant", "Admin")
    )
    assert "lending.approve_loan" in officer and "lending.approve_loan" not in accountant
    assert "lending.add_repayment" in accountant and "lending.add_repayment" not in officer
    assert "lending.view_receipt" not in officer
    assert "lending.view_financial_reports" not in officer
    assert "lending.add_borrower" not in accountant
    assert (
        "lending.write_off_loan" in admin and "lending.write_off_loan" not in officer | accountant
    )
    assert officer | accountant <= admin


@pytest.mark.django_db
def test_sync_roles_is_idempotent(django_assert_max_num_queries: Any) -> None:
    sync_roles()
    sync_roles()
    assert Group.objects.filter(name="Admin").count() == 1
