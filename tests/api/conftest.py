"""API test helpers: a JSON client that carries a bearer token for a user."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.contrib.auth.models import AbstractBaseUser
from django.test import Client

from lending.api.auth import make_token


class ApiClient:
    """`get`/`post` JSON against /api/ with `Authorization: Bearer <token>` when a token is set."""

    def __init__(self, token: str | None = None) -> None:
        self.client = Client()
        self.token = token

    def _headers(self, headers: dict[str, str] | None) -> dict[str, str]:
        out = dict(headers or {})
        if self.token is not None:
            out.setdefault("Authorization", f"Bearer {self.token}")
        return out

    def get(self, path: str, params: dict[str, Any] | None = None, **headers: str) -> Any:
        return self.client.get(path, params or {}, headers=self._headers(headers))

    def post(self, path: str, body: Any = None, *, raw: str | None = None, **headers: str) -> Any:
        data = raw if raw is not None else ("" if body is None else json.dumps(body))
        return self.client.post(
            path, data, content_type="application/json", headers=self._headers(headers)
        )

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> Any:
        """Any method (PUT, DELETE, PATCH...) with a JSON body, for the answers to methods
        an address does not take."""
        data = "" if body is None else json.dumps(body)
        return self.client.generic(
            method, path, data, content_type="application/json", headers=self._headers(headers)
        )


def token_for(user: AbstractBaseUser, *, expired: bool = False) -> str:
    if expired:
        return make_token(user, "access", now=datetime.now(tz=UTC) - timedelta(hours=1))
    return make_token(user, "access")


@pytest.fixture
def api_as(db: Any) -> Callable[[AbstractBaseUser | None], ApiClient]:
    """api_as(user) → a client with a fresh access token for `user`; api_as(None) → no token."""

    def make(user: AbstractBaseUser | None) -> ApiClient:
        return ApiClient(token_for(user) if user is not None else None)

    return make


@pytest.fixture
def admin_api(admin_user: AbstractBaseUser, api_as: Callable[..., ApiClient]) -> ApiClient:
    return api_as(admin_user)


@pytest.fixture
def officer_api(officer: AbstractBaseUser, api_as: Callable[..., ApiClient]) -> ApiClient:
    return api_as(officer)


@pytest.fixture
def officer2_api(officer2: AbstractBaseUser, api_as: Callable[..., ApiClient]) -> ApiClient:
    return api_as(officer2)


@pytest.fixture
def accountant_api(accountant: AbstractBaseUser, api_as: Callable[..., ApiClient]) -> ApiClient:
    return api_as(accountant)


@pytest.fixture
def anon_api(db: Any) -> ApiClient:
    return ApiClient()
