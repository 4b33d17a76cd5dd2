"""Permissions and role names are read once and kept in the cache; any change to who may do
what takes effect on the very next request."""

from typing import Any

from django.contrib.auth.models import Group, Permission, User
from django.db import connection
from django.test import Client, override_settings
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.backends import user_access
from tests.conftest import login
from tests.factories import PASSWORD, AccountantFactory, OfficerFactory


def _auth_queries(ctx: CaptureQueriesContext) -> list[str]:
    return [
        q["sql"]
        for q in ctx.captured_queries
        if "auth_permission" in q["sql"] or "auth_group" in q["sql"]
    ]


def test_a_second_page_view_reads_no_permissions_or_groups(officer_client: Client) -> None:
    assert officer_client.get(reverse("loan_list")).status_code == 200
    with CaptureQueriesContext(connection) as ctx:
        response = officer_client.get(reverse("loan_list"))
    assert response.status_code == 200
    assert _auth_queries(ctx) == []
    assert "Loan Officer" in response.content.decode()  # the header's role names, cached


def test_a_cache_miss_costs_two_queries(officer: User) -> None:
    fresh = User.objects.get(pk=officer.pk)
    with CaptureQueriesContext(connection) as ctx:
        access = user_access(fresh)
    assert len(ctx.captured_queries) == 2
    assert access.roles == ("Loan Officer",)
    assert "lending.add_loan" in access.permissions
    assert "lending.add_repayment" not in access.permissions


def test_removing_a_role_takes_effect_on_the_next_request(officer: User) -> None:
    client = login(officer)
    assert client.get(reverse("loan_apply")).status_code == 200
    officer.groups.remove(Group.objects.get(name="Loan Officer"))
    assert client.get(reverse("loan_apply")).status_code == 403


def test_adding_a_role_takes_effect_on_the_next_request(accountant: User) -> None:
    client = login(accountant)
    assert client.get(reverse("loan_apply")).status_code == 403
    accountant.groups.add(Group.objects.get(name="Loan Officer"))
    assert client.get(reverse("loan_apply")).status_code == 200


def test_a_role_losing_a_permission_takes_effect_for_its_members(officer: User) -> None:
    client = login(officer)
    assert client.get(reverse("loan_apply")).status_code == 200
    group = Group.objects.get(name="Loan Officer")
    group.permissions.remove(Permission.objects.get(codename="add_loan"))
    assert client.get(reverse("loan_apply")).status_code == 403


def test_a_deactivated_user_loses_everything_at_once(officer: User) -> None:
    client = login(officer)
    assert client.get(reverse("loan_list")).status_code == 200
    User.objects.filter(pk=officer.pk).update(is_active=False)  # no signal: the row decides
    response = client.get(reverse("loan_list"))
    assert response.status_code == 302  # signed out: the session's user is inactive


def test_signing_in_does_not_drop_everyone_s_cached_access(db: Any) -> None:
    officer, accountant = OfficerFactory(), AccountantFactory()
    first = login(officer)
    first.get(reverse("loan_list"))
    second = Client()
    signed_in = second.post(
        reverse("login"), {"username": accountant.username, "password": PASSWORD}
    )
    assert signed_in.status_code == 302
    with CaptureQueriesContext(connection) as ctx:
        assert first.get(reverse("loan_list")).status_code == 200
    assert _auth_queries(ctx) == []


def test_a_role_change_from_the_group_side_takes_effect(officer: User) -> None:
    client = login(officer)
    assert client.get(reverse("loan_apply")).status_code == 200
    Group.objects.get(name="Loan Officer").user_set.remove(officer)
    assert client.get(reverse("loan_apply")).status_code == 403


def test_one_user_s_new_role_keeps_everyone_else_s_cached_access(
    officer: User, accountant: User
) -> None:
    first = login(officer)
    first.get(reverse("loan_list"))
    accountant.groups.add(Group.objects.get(name="Loan Officer"))
    with CaptureQueriesContext(connection) as ctx:
        assert first.get(reverse("loan_list")).status_code == 200
    assert _auth_queries(ctx) == []


@override_settings(KARO_CACHE_ACCESS=False)
def test_without_a_shared_cache_access_is_read_on_every_request(officer_client: Client) -> None:
    officer_client.get(reverse("loan_list"))
    with CaptureQueriesContext(connection) as ctx:
        assert officer_client.get(reverse("loan_list")).status_code == 200
    assert len(_auth_queries(ctx)) == 2
