"""Each user's permissions and role names, kept in the cache between requests; sign-in
through the throttle (`accounts.throttle`).

Django's `ModelBackend` reads a user's permissions with two queries on every request that
checks one, and the page header reads the user's groups with a third. This backend keeps both
in the cache, when the cache is shared by every worker (KARO_CACHE_ACCESS, on with REDIS_URL).
A change to a user's memberships or own permissions drops that user's entry; a change to a
role's permissions, a group or a permission starts a new generation for everyone. Both happen
at once and again when the transaction commits, so no one keeps a permission after the change
is saved. Whether a user is active or a superuser is read from the request's own user row.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.http import HttpRequest

from accounts import throttle
from karo import rows
from karo.caching import (
    generation,
    get_many_reading_ahead,
    now_and_on_commit,
    renew_generation,
)

GENERATION_KEY = "access_generation"
# Short on purpose: a request that read the old permissions just before a change committed
# can store them after the change dropped them; they live at most this long.
ACCESS_SECONDS = 60


@dataclass(frozen=True)
class Access:
    permissions: frozenset[str]
    roles: tuple[str, ...]
    # The user's office and its path ("0001/0003/"); None and "" reach every office (no
    # office of their own, the head office, or a superuser). See accounts.offices.
    office_id: int | None = None
    office_path: str = ""
    # The name of the user's office for the page header ("" without one: the head office).
    # An entry cached before this field reads the class default "".
    office_name: str = ""


def _key(user_id: int) -> str:
    return f"access2:{user_id}"  # "2": an Access with the office (older entries lack it)


def forget_access(user_ids: Iterable[int] | None = None) -> None:
    """These users' cached Access is stale (everyone's, with no ids: a new generation), now
    and again when the transaction commits."""
    if user_ids is None:
        renew_generation(GENERATION_KEY)
    else:
        ids = list(user_ids)
        now_and_on_commit(lambda: cache.delete_many([_key(pk) for pk in ids]))


def user_access(user: User | AnonymousUser) -> Access:
    """The user's permissions ("app.codename") and role names, from the cache when nothing
    changed since they were read; once per request at most."""
    if not user.is_authenticated or not user.is_active:
        return Access(frozenset(), ())
    access: Access | None = getattr(user, "_karo_access", None)
    if access is not None:
        return access
    if not settings.KARO_CACHE_ACCESS:
        access = _read_access(user)  # no shared cache: read once per request
    else:
        # One round trip: the entry is stored with the generation it was read under and
        # counts only while that generation is the current one. The request's first cache
        # read: the keys the page reads next come with it (karo.caching, reading ahead).
        key = _key(user.pk)
        found = get_many_reading_ahead([GENERATION_KEY, key])
        token, entry = found.get(GENERATION_KEY), found.get(key)
        if token is not None and entry is not None and entry[0] == token:
            access = entry[1]
        else:
            token = token or generation(GENERATION_KEY)
            access = _read_access(user)
            cache.set(key, (token, access), ACCESS_SECONDS)
    user._karo_access = access  # type: ignore[union-attr,attr-defined]
    return access


def _read_access(user: User) -> Access:
    """Two queries: the user's own permissions, then their groups with the groups'
    permissions and their office (a superuser has every permission, as in ModelBackend,
    and reaches every office)."""
    from accounts.head_office import HEAD_OFFICE_ID

    backend = ModelBackend()
    memberships = list(
        User.objects.filter(pk=user.pk).values_list(
            "groups__name",
            "groups__permissions__content_type__app_label",
            "groups__permissions__codename",
            "office_link__office_id",
            "office_link__office__path",
            "office_link__office__name",
        )
    )
    roles = sorted({name for name, *_ in memberships if name})
    if user.is_superuser:
        group_permissions = backend.get_group_permissions(user)
    else:
        group_permissions = {f"{app}.{code}" for _, app, code, *_ in memberships if code}
    office_id, office_path = (memberships[0][3], memberships[0][4]) if memberships else (None, "")
    office_name = (memberships[0][5] if memberships else None) or ""
    if user.is_superuser or office_id in (None, HEAD_OFFICE_ID):
        office_id, office_path, office_name = None, "", ""
    return Access(
        permissions=frozenset({*backend.get_user_permissions(user), *group_permissions}),
        roles=tuple(roles),
        office_id=office_id,
        office_path=office_path or "",
        office_name=office_name,
    )


@functools.cache
def _user_sql() -> str:
    table = connection.ops.quote_name(User._meta.db_table)
    return f"SELECT {rows.columns(User)} FROM {table} WHERE {table}.id = %s"  # noqa: S608


class CachedModelBackend(ModelBackend):
    """ModelBackend (authentication, `is_active` rule, superuser gets every permission) with
    the permission sets read through `user_access`, and every password check of a request
    (sign-in page, API token) throttled by `accounts.throttle`. It is the only backend, so
    nothing checks a password the throttle has not counted."""

    def authenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        def verify() -> User | None:
            return super(CachedModelBackend, self).authenticate(
                request, username, password, **kwargs
            )

        if request is None or username is None or password is None:
            return verify()  # not a sign-in: code checking a password it already has
        return throttle.check(request, username, verify)

    async def aauthenticate(  # type: ignore[override]
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        """ModelBackend's async sign-in checks the password on its own: go through the
        throttle here too."""
        return await sync_to_async(self.authenticate)(request, username, password, **kwargs)

    def get_user(self, user_id: Any) -> User | None:
        """The signed-in user of every request, read by a statement written out once
        (`karo.rows`) rather than compiled each time; inactive users are refused as
        ModelBackend refuses them."""
        try:
            pk = User._meta.pk.to_python(user_id)  # type: ignore[union-attr]
        except ValidationError:
            return None
        with connection.cursor() as cursor:
            cursor.execute(_user_sql(), [pk])
            row = cursor.fetchone()
        user = rows.from_row(User, row) if row is not None else None
        return user if user is not None and self.user_can_authenticate(user) else None

    def get_all_permissions(self, user_obj: Any, obj: Any = None) -> set[str]:
        if not user_obj.is_active or user_obj.is_anonymous or obj is not None:
            return set()
        if not hasattr(user_obj, "_perm_cache"):
            user_obj._perm_cache = set(user_access(user_obj).permissions)
        return user_obj._perm_cache  # type: ignore[no-any-return]


def _on_user_m2m(
    sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any
) -> None:
    """A user's groups or own permissions changed: only those users are affected."""
    if action not in {"post_add", "post_remove", "post_clear"}:
        return
    if not reverse:
        forget_access([instance.pk])
    else:  # from the group's or permission's side: pk_set holds the users (None on clear)
        forget_access(None if pk_set is None else pk_set)


def _on_role_m2m(sender: Any, action: str, **kwargs: Any) -> None:
    """A role's permissions changed: every member, so everyone."""
    if action in {"post_add", "post_remove", "post_clear"}:
        forget_access()


def _on_user_change(
    sender: Any, instance: User, created: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    if created:
        return  # a new user has no groups yet; adding one is a membership change
    if update_fields is not None and set(update_fields) == {"last_login"}:
        return  # every sign-in saves last_login; it changes no one's access
    forget_access([instance.pk])


def _on_role_change(sender: Any, **kwargs: Any) -> None:
    forget_access()


def _on_user_office_change(sender: Any, instance: Any, **kwargs: Any) -> None:
    forget_access([instance.user_id])


def _on_office_change(sender: Any, created: bool = False, **kwargs: Any) -> None:
    """An office renamed: its name is in its users' cached access (the page header)."""
    if not created:
        forget_access()


def connect() -> None:
    from accounts.models import Office, UserOffice

    post_save.connect(_on_office_change, sender=Office, dispatch_uid="access_office_name")
    post_save.connect(_on_user_office_change, sender=UserOffice, dispatch_uid="access_office")
    post_delete.connect(_on_user_office_change, sender=UserOffice, dispatch_uid="access_office_d")
    for through in (User.groups.through, User.user_permissions.through):
        m2m_changed.connect(_on_user_m2m, sender=through, dispatch_uid=f"access_{through}")
    m2m_changed.connect(_on_role_m2m, sender=Group.permissions.through, dispatch_uid="access_role")
    post_save.connect(_on_user_change, sender=User, dispatch_uid="access_user_save")
    post_delete.connect(_on_user_change, sender=User, dispatch_uid="access_user_delete")
    for model in (Group, Permission):
        post_save.connect(_on_role_change, sender=model, dispatch_uid=f"access_save_{model}")
        post_delete.connect(_on_role_change, sender=model, dispatch_uid=f"access_delete_{model}")
