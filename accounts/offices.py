"""Office scoping (DESIGN.md "Offices"): a user reaches the records of their office and of
the offices under it; another office's record is a 404, never a 403, so its existence leaks
nothing. Every page, list, search, dashboard figure, report, CSV, receipt and API call reads
through these helpers.

The user's office and its path come with their permissions (`accounts.backends.Access`, one
cached read per request), and `scope` filters with a subquery on the office tree, so scoping
adds no query to a page, and none per row. A user with no office of their own, one in the
head office, and a superuser reach every office: `scope` leaves their querysets alone.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar
from uuid import uuid4

from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404

from accounts.backends import user_access
from accounts.head_office import HEAD_OFFICE_ID
from accounts.models import Office, UserOffice, office_path_for

if TYPE_CHECKING:
    from django.contrib.auth.models import AnonymousUser, User

    AnyUser = User | AnonymousUser

M = TypeVar("M", bound=Model)

__all__ = [
    "HEAD_OFFICE_ID",
    "check_office",
    "check_office_choice",
    "get_scoped_or_404",
    "office_ids",
    "only_one_office",
    "reaches_everything",
    "scope",
    "scope_key",
    "user_office_id",
    "visible_offices",
]


def _path(user: AnyUser) -> str:
    """The user's office path, "" when they reach every office."""
    return user_access(user).office_path


def reaches_everything(user: AnyUser) -> bool:
    return not _path(user)


def user_office_id(user: AnyUser) -> int:
    """The office new records of this user belong to (the head office when they have none)."""
    return user_access(user).office_id or HEAD_OFFICE_ID


def visible_offices(user: AnyUser) -> QuerySet[Office]:
    """The offices in the user's subtree, the tree's order (for filters and forms)."""
    path = _path(user)
    offices = Office.objects.all()
    return offices.filter(path__startswith=path) if path else offices


def scope(queryset: QuerySet[M], user: AnyUser, field: str = "office") -> QuerySet[M]:
    """`queryset` narrowed to the rows whose `field` (an office foreign key, through joins:
    "loan__office") is in the user's subtree. One subquery, no query of its own."""
    path = _path(user)
    if not path:
        return queryset
    subtree = Office.objects.filter(path__startswith=path).values("pk")
    return queryset.filter(**{f"{field}__in": subtree})


def office_ids(user: AnyUser) -> frozenset[int] | None:
    """The ids of the offices the user reaches (None: every office). Read once per request."""
    path = _path(user)
    if not path:
        return None
    ids: frozenset[int] | None = getattr(user, "_karo_office_ids", None)
    if ids is None:
        ids = frozenset(Office.objects.filter(path__startswith=path).values_list("pk", flat=True))
        user._karo_office_ids = ids  # type: ignore[union-attr]
    return ids


def may_reach(user: AnyUser, office_id: int | None) -> bool:
    """Whether a record of this office is in the user's scope (no query for a user who reaches
    everything or for a record of the user's own office)."""
    access = user_access(user)
    if not access.office_path or (office_id is not None and office_id == access.office_id):
        return True
    ids = office_ids(user)
    return ids is None or office_id in ids


def check_office(user: AnyUser, office_id: int | None) -> None:
    """404 when a record of this office is out of the user's scope."""
    if not may_reach(user, office_id):
        raise Http404("No such record.")


def get_scoped_or_404(
    queryset: QuerySet[M], user: AnyUser, field: str = "office", **lookup: Any
) -> M:
    """`get_object_or_404` within the user's scope: another office's record is a 404."""
    return get_object_or_404(scope(queryset, user, field), **lookup)


def scope_key(user: AnyUser) -> str:
    """A cache key part naming the user's scope: "all", or their office's path."""
    return _path(user) or "all"


def check_office_choice(user: AnyUser, office_id: int, *, field: str = "office") -> None:
    """A record may be put in an office the user reaches (one query: that it exists there)."""
    if not scope(Office.objects.filter(pk=office_id), user, "pk").exists():
        raise ValidationError({field: "Choose one of your offices."})


def office_create(*, name: str, parent: Office | None) -> Office:
    """A new office under `parent` (under the head office when None). Its path is its parent's
    followed by its own id, so it is written after the insert gives it one."""
    from django.db import transaction

    parent = parent or Office.objects.get(pk=HEAD_OFFICE_ID)
    with transaction.atomic():
        office = Office.objects.create(name=name, parent=parent, path=f"new-{uuid4().hex}")
        office.path = office_path_for(office.pk, parent.path)
        office.save(update_fields=["path"])
    return office


def user_office_set(*, user: User, office: Office | None) -> None:
    """Put a user in an office (None: the head office, reaching every office)."""
    if office is None or office.pk == HEAD_OFFICE_ID:
        UserOffice.objects.filter(user=user).delete()
    else:
        UserOffice.objects.update_or_create(user=user, defaults={"office": office})


def only_one_office(user: AnyUser) -> bool:
    """Whether the user reaches a single office (no office filter to offer them): one query."""
    return not visible_offices(user)[1:2].exists()
