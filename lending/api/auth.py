"""JWT authentication for the API: `POST /api/auth/token`, `POST /api/auth/token/refresh` and
`POST /api/auth/logout`.

Tokens are HS256-signed with `SECRET_KEY` and carry a `type` claim (`access` or `refresh`), so
a refresh token is never accepted as an access token and the other way round. Access tokens
live `KARO_JWT_ACCESS_MINUTES` (default 15), refresh tokens `KARO_JWT_REFRESH_HOURS`.

Decisions worth knowing:
- Credentials go through `django.contrib.auth.authenticate(request, ...)`, so the sign-in
  throttle (accounts/throttle.py) counts API failures together with the login page's and the
  audit log records them. A refusal is 429 with Retry-After and says which limit and how long.
- A wrong password and a disabled account get the same 401 message (no account probing).
- A successful token request is a sign-in: `user_logged_in` is sent, which audits it and
  updates `last_login`. No session is created.
- Every token names a fingerprint of the user's password hash (`pwd`); changing the password
  or disabling the user invalidates the tokens already issued.
- Refresh tokens are single-use and belong to a family (`fam`, one per sign-in), stored in the
  database (accounts/tokens.py): refreshing rotates both tokens and uses the old refresh token
  up; presenting a used one revokes its family (401); logging out revokes it. Access tokens
  stay stateless: one already issued lives out its few minutes after a logout.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import jwt
from django.conf import settings
from django.contrib.auth import authenticate
from django.contrib.auth.models import AbstractBaseUser, User
from django.contrib.auth.signals import user_logged_in, user_logged_out
from django.http import HttpRequest
from django.utils.crypto import constant_time_compare
from ninja import Router
from ninja.responses import Status
from ninja.security import HttpBearer

from accounts import throttle
from accounts.models import RefreshToken
from accounts.tokens import (
    RefreshRefused,
    refresh_family_revoke,
    refresh_token_issue,
    refresh_token_rotate,
)
from lending.api.errors import LockedOut, TokenInvalid
from lending.api.schemas import RefreshIn, TokenIn, TokenOut, errors

ALGORITHM = "HS256"
ISSUER = "karo-lms"
TokenType = Literal["access", "refresh"]
BAD_CREDENTIALS = "That username and password do not match, or the account is disabled."

router = Router(tags=["auth"])


def _minutes(span: timedelta) -> int:
    return int(span.total_seconds() // 60)


def access_lifetime() -> timedelta:
    return timedelta(minutes=getattr(settings, "KARO_JWT_ACCESS_MINUTES", 15))


def refresh_lifetime() -> timedelta:
    return timedelta(hours=getattr(settings, "KARO_JWT_REFRESH_HOURS", 12))


def _password_fingerprint(user: AbstractBaseUser) -> str:
    return user.get_session_auth_hash()[:20]


def make_token(
    user: AbstractBaseUser,
    kind: TokenType,
    *,
    now: datetime | None = None,
    jti: str | None = None,
    family: str | None = None,
) -> str:
    """A signed token for `user`; `now` lets tests mint tokens that have already expired. A
    refresh token that should work carries the `jti` and `family` of its stored row."""
    issued = now or datetime.now(tz=UTC)
    lifetime = access_lifetime() if kind == "access" else refresh_lifetime()
    claims = {
        "iss": ISSUER,
        "sub": str(user.pk),
        "type": kind,
        "iat": issued,
        "exp": issued + lifetime,
        "jti": jti or uuid.uuid4().hex,
        "pwd": _password_fingerprint(user),
    }
    if family is not None:
        claims["fam"] = family
    return jwt.encode(claims, settings.SECRET_KEY, algorithm=ALGORITHM)


def _claims(token: str, *, verify_exp: bool = True) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(
        token,
        settings.SECRET_KEY,
        algorithms=[ALGORITHM],
        issuer=ISSUER,
        options={"require": ["exp", "iat", "sub", "type", "pwd"], "verify_exp": verify_exp},
    )
    return claims


def user_from_token(token: str, kind: TokenType) -> User:
    """The active user a valid token of this kind names, or `TokenInvalid` saying why."""
    return _verified(token, kind)[0]


def _verified(token: str, kind: TokenType) -> tuple[User, dict[str, Any]]:
    try:
        claims = _claims(token)
    except jwt.ExpiredSignatureError:
        if kind == "access":
            raise TokenInvalid(
                "The access token has expired: get a new one from /api/auth/token/refresh."
            ) from None
        raise TokenInvalid("The refresh token has expired: sign in again.") from None
    except jwt.InvalidTokenError:
        raise TokenInvalid("The token is not valid.") from None
    if claims.get("type") != kind:
        article = "an" if kind == "access" else "a"
        raise TokenInvalid(f"This is not {article} {kind} token.")
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.isdigit() or len(sub) > 18:
        raise TokenInvalid("The token is not valid.")
    user = User.objects.filter(pk=int(sub), is_active=True).first()
    if user is None or not constant_time_compare(
        str(claims.get("pwd", "")), _password_fingerprint(user)
    ):
        raise TokenInvalid("The token is no longer valid: sign in again.")
    return user, claims


class JWTAuth(HttpBearer):
    """Bearer access tokens; the user becomes `request.user` (and `request.auth`)."""

    def authenticate(self, request: HttpRequest, token: str) -> User:
        user = user_from_token(token, "access")
        request.user = user
        return user


def _signed_in(request: HttpRequest, user: AbstractBaseUser) -> None:
    """Tell the sign-in receivers (audit entry, last_login). A token sign-in needs no session,
    so one that a receiver created is dropped again (no row left, no cookie sent)."""
    had_session = request.session.session_key is not None
    user_logged_in.send(sender=user.__class__, request=request, user=user)
    if not had_session and request.session.session_key is not None:
        request.session.flush()


def _tokens(user: AbstractBaseUser, stored: RefreshToken | None = None) -> dict[str, Any]:
    """An access token and a refresh token: `stored` (a refresh), or the first of a new
    family (a sign-in)."""
    stored = stored or refresh_token_issue(user=user, lifetime=refresh_lifetime())
    refresh = make_token(
        user, "refresh", now=stored.issued_at, jti=stored.jti, family=stored.family
    )
    return {
        "access": make_token(user, "access"),
        "refresh": refresh,
        "token_type": "Bearer",
        "expires_in": int(access_lifetime().total_seconds()),
    }


LOCKOUT = (
    f"Too many failed sign-ins (accounts/throttle.py, shared with the sign-in page). The "
    f"{throttle.PAIR_LIMIT}th wrong password in {_minutes(throttle.WINDOW)} minutes for one "
    f"username from one address is answered 429, not 401: that pair is now locked for "
    f"{_minutes(throttle.WINDOW)} minutes, even with the right password (the first "
    f"{throttle.PAIR_LIMIT - 1} wrong ones are 401s, and the right password before the "
    f"{throttle.PAIR_LIMIT}th failure signs in). {throttle.ADDRESS_LIMIT} failures from one "
    f"address for any usernames pause that address the same way; after "
    f"{throttle.ACCOUNT_FREE} failures for one username in a day from anywhere each attempt "
    f"waits (30 s, doubling up to 15 minutes). `Retry-After` gives the seconds to wait."
)


@router.post(
    "/token",
    auth=None,
    response={200: TokenOut, **errors(400, 401, 422, 429)},
    summary="Get an access and a refresh token",
    openapi_extra={"responses": {429: {"description": LOCKOUT}}},
)
def token(request: HttpRequest, payload: TokenIn) -> dict[str, Any]:
    """Sign in with a username and password. Failures count towards the sign-in throttle
    shared with the sign-in page (see the 429 answer): the wrong password that reaches a
    limit is itself answered 429, so a client never tries once more to find out."""
    user = authenticate(request, username=payload.username, password=payload.password)
    if user is None:
        refusal = throttle.refusal(request, payload.username)
        if refusal is not None:
            raise LockedOut(refusal.message, retry_after=refusal.retry_after)
        raise TokenInvalid(BAD_CREDENTIALS)
    _signed_in(request, user)
    return _tokens(user)


@router.post(
    "/token/refresh",
    auth=None,
    response={200: TokenOut, **errors(400, 401, 422)},
    summary="Exchange a refresh token for new tokens",
)
def refresh(request: HttpRequest, payload: RefreshIn) -> dict[str, Any]:
    """A refresh token works once: the answer has a new one. Sending a used one again
    revokes every token of that sign-in (401), since a copy of it is in other hands."""
    user, claims = _verified(payload.refresh, "refresh")
    try:
        stored = refresh_token_rotate(
            jti=str(claims.get("jti", "")), user=user, lifetime=refresh_lifetime()
        )
    except RefreshRefused as exc:
        raise TokenInvalid(str(exc)) from None
    return _tokens(user, stored)


@router.post(
    "/logout",
    auth=None,
    response={204: None, **errors(400, 401, 422)},
    summary="Revoke a refresh token and every token of its sign-in",
)
def logout(request: HttpRequest, payload: RefreshIn) -> Status:
    """Revoke the refresh token and every other refresh token of the same sign-in, so none
    can be refreshed again. Access tokens already issued expire on their own (minutes).
    An expired, used or already revoked refresh token is accepted: logging out twice is fine."""
    try:
        claims = _claims(payload.refresh, verify_exp=False)
    except jwt.InvalidTokenError:
        raise TokenInvalid("The token is not valid.") from None
    if claims.get("type") != "refresh":
        raise TokenInvalid("This is not a refresh token.")
    user_id = refresh_family_revoke(jti=str(claims.get("jti", "")))
    user = User.objects.filter(pk=user_id).first() if user_id is not None else None
    if user is not None:  # audited like the sign-in page's logout
        user_logged_out.send(sender=User, request=request, user=user)
    return Status(204, None)
