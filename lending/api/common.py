"""Small helpers every API module uses: who is calling, may they, and one page of a list."""

from __future__ import annotations

from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from accounts.access import require
from lending.api.schemas import PageParams

M = TypeVar("M", bound=Model)


def user_with(request: HttpRequest, *perms: str) -> User:
    """The token's user if they hold every permission (the matrix of accounts.roles), else 403.
    Authentication itself (401) has already happened in `JWTAuth`."""
    user: User = request.auth  # type: ignore[attr-defined]
    require(user.has_perms(perms), "Your role does not allow this.")
    return user


def referenced(queryset: QuerySet[M], pk: int | None, field: str, label: str) -> M | None:
    """The object a body field points at; an unknown id is invalid input (422) on that field,
    not a missing resource (404 is for the address itself)."""
    if pk is None:
        return None
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise ValidationError({field: f"There is no {label} with id {pk}."})
    return obj


def page_of(queryset: QuerySet[Any], params: PageParams) -> dict[str, Any]:
    """One page of an ordered queryset: two queries (count and the rows) whatever the size."""
    start = (params.page - 1) * params.page_size
    return {
        "count": queryset.count(),
        "page": params.page,
        "page_size": params.page_size,
        "items": list(queryset[start : start + params.page_size]),
    }
