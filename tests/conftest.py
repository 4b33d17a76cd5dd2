from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from tests.caches import clear_own_caches
from tests.factories import AccountantFactory, AdminFactory, OfficerFactory

ROLES = ["admin", "officer", "accountant"]


@pytest.fixture(autouse=True)
def _clear_cache() -> Any:
    clear_own_caches()
    yield
    clear_own_caches()


@pytest.fixture
def admin_user(db: Any) -> User:
    return AdminFactory(username="admin_a")


@pytest.fixture
def officer(db: Any) -> User:
    return OfficerFactory(username="officer_a")


@pytest.fixture
def officer2(db: Any) -> User:
    return OfficerFactory(username="officer_b")


@pytest.fixture
def accountant(db: Any) -> User:
    return AccountantFactory(username="accountant_a")


def login(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def admin_client(admin_user: User) -> Client:  # overrides pytest-django's superuser client
    return login(admin_user)


@pytest.fixture
def officer_client(officer: User) -> Client:
    return login(officer)


@pytest.fixture
def officer2_client(officer2: User) -> Client:
    return login(officer2)


@pytest.fixture
def accountant_client(accountant: User) -> Client:
    return login(accountant)


@pytest.fixture(params=ROLES)
def role_client(request: pytest.FixtureRequest) -> tuple[str, Client]:
    """(role name, logged-in client) for each role in turn."""
    return request.param, request.getfixturevalue(f"{request.param}_client")
