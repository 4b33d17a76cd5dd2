"""Refresh tokens are single-use, in families: what the API's JWTs cannot say by themselves.

A refresh token is a signed JWT (`lending.api.auth`) whose `jti` names a `RefreshToken` row
and whose `fam` names its family: one family per sign-in, one new member per refresh.

- Refreshing uses the token up and issues the next one in its family, in one transaction
  (`refresh_token_rotate`): a reuse racing it waits, then revokes the new one too.
- A token used a second time means two parties hold it (a stolen copy, or a client that
  refreshed twice): there is no telling which is the real one, so the whole family is revoked
  and both must sign in again. There is no grace period for a client's retry.
- Logging out (`POST /api/auth/logout`) revokes the family of the token it is given.
- Access tokens stay stateless and short-lived (KARO_JWT_ACCESS_MINUTES): one already issued
  works until it expires even after its family is revoked; a password change or a disabled
  user ends them at once (their `pwd` claim).
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

from django.contrib.auth.base_user import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from accounts.models import RefreshToken

logger = logging.getLogger(__name__)


class RefreshRefused(Exception):
    """The refresh token cannot be used; the message tells the client what to do."""


def refresh_token_issue(
    *, user: AbstractBaseUser, lifetime: timedelta, family: str | None = None
) -> RefreshToken:
    """A new refresh token's row: in a new family (a sign-in) or the given one (a refresh).
    The user's expired rows go at the same time (their tokens cannot be used any more)."""
    now = timezone.now()
    RefreshToken.objects.filter(user_id=user.pk, expires_at__lt=now).delete()
    return RefreshToken.objects.create(
        jti=uuid.uuid4().hex,
        family=family or uuid.uuid4().hex,
        user_id=user.pk,
        issued_at=now,
        expires_at=now + lifetime,
    )


def refresh_token_rotate(*, jti: str, user: AbstractBaseUser, lifetime: timedelta) -> RefreshToken:
    """Use up the refresh token `jti` of `user` and return the next one of its family, or
    raise `RefreshRefused`: unknown, revoked, or used before (which revokes its family; the
    revocation is committed before the refusal is raised). The next token is written under
    the used one's row lock, so a reuse racing this rotation revokes it too."""
    with transaction.atomic():
        token = RefreshToken.objects.select_for_update().filter(jti=jti, user_id=user.pk).first()
        if token is None:
            message = "The refresh token is not valid: sign in again."
        elif token.revoked_at is not None:
            message = "The refresh token has been revoked: sign in again."
        elif token.used_at is not None:
            revoked = _revoke(token.family, timezone.now())
            logger.warning(
                "Refresh token %s of user %s used twice: its family %s is revoked (%d tokens).",
                jti,
                user.pk,
                token.family,
                revoked,
            )
            message = (
                "The refresh token was already used, so it may have been copied: every token "
                "from that sign-in is revoked. Sign in again."
            )
        else:
            token.used_at = timezone.now()
            token.save(update_fields=["used_at"])
            return refresh_token_issue(user=user, lifetime=lifetime, family=token.family)
    raise RefreshRefused(message)


def refresh_family_revoke(*, jti: str) -> int | None:
    """Revoke the family of the refresh token `jti` (logout). The id of its user when any of
    its tokens was still live, None when there was nothing to revoke (unknown or done)."""
    found = RefreshToken.objects.filter(jti=jti).values_list("family", "user_id").first()
    if found is None:
        return None
    family, user_id = found
    return user_id if _revoke(family, timezone.now()) else None


def _revoke(family: str, now: datetime) -> int:
    return RefreshToken.objects.filter(family=family, revoked_at__isnull=True).update(
        revoked_at=now
    )
