"""Small helpers every API module uses: who is calling, may they, what an id names, and one
page of a list."""

from __future__ import annotations

import json
from typing import Any, TypeVar

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from ninja.responses import NinjaJSONEncoder

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


def not_found(thing: str) -> Http404:
    """The one wording of a 404 for an unknown id, on every route: "Loan not found."."""
    return Http404(f"{thing} not found.")


def found(queryset: QuerySet[M], pk: int, thing: str) -> M:
    """The object the address names, or a 404 in the API's wording."""
    obj = queryset.filter(pk=pk).first()
    if obj is None:
        raise not_found(thing)
    return obj


def exists_or_404(queryset: QuerySet[Any], pk: int, thing: str) -> None:
    if not queryset.filter(pk=pk).exists():
        raise not_found(thing)


def page_link(request: HttpRequest, page: int) -> str:
    """The address of another page of the same list, with the same filters."""
    params = request.GET.copy()
    params["page"] = str(page)
    return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")


def page_window(request: HttpRequest, params: PageParams, count: int) -> dict[str, Any]:
    """What a page answer says besides its items: the count, where it is, and the links to
    the pages beside it (null at either end)."""
    last = max(1, -(-count // params.page_size))
    return {
        "count": count,
        "page": params.page,
        "page_size": params.page_size,
        "next": page_link(request, params.page + 1) if params.page < last else None,
        "previous": page_link(request, min(params.page - 1, last)) if params.page > 1 else None,
    }


def page_of(request: HttpRequest, queryset: QuerySet[Any], params: PageParams) -> dict[str, Any]:
    """One page of an ordered queryset: two queries (count and the rows) whatever the size."""
    start = (params.page - 1) * params.page_size
    return {
        **page_window(request, params, queryset.count()),
        "items": list(queryset[start : start + params.page_size]),
    }


def json_answer(data: Any) -> HttpResponse:
    """A 200 written out as ninja would, for a list whose rows are already in their API
    shape (amounts as strings): ninja's field-by-field pass over a page of 100 rows costs
    more than reading them. The operation still declares its schema, which tests and the
    schemathesis run hold these answers to."""
    return HttpResponse(
        json.dumps(data, cls=NinjaJSONEncoder), content_type="application/json; charset=utf-8"
    )
