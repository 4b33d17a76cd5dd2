"""What sign-in throttling and API refresh tokens remember between requests (see
accounts/throttle.py and accounts/tokens.py)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class LoginFailure(models.Model):
    """One failed password check (sign-in page or API token), counted by `accounts.throttle`.

    A row is written before the password is checked and deleted again when it turns out right,
    so parallel guesses count against each other. Attempts the throttle refused without
    checking the password are not stored (the audit log has them): waiting out a limit costs
    nothing more, so hammering does not lengthen it. Deleting a username's rows unlocks it.
    Kept in the database, not the cache: a throttle that forgets its counts when the cache
    restarts is one an attacker can reset.
    """

    username = models.CharField(max_length=150, help_text="As typed, in lower case.")
    address = models.CharField(max_length=64, blank=True)
    at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["username", "at"], name="loginfailure_username_at"),
            models.Index(fields=["address", "at"], name="loginfailure_address_at"),
            models.Index(fields=["at"], name="loginfailure_at"),
        ]
        verbose_name = "failed sign-in"

    def __str__(self) -> str:
        return f"{self.username} from {self.address or 'an unknown address'} at {self.at:%H:%M:%S}"


class KnownAddress(models.Model):
    """An address a user signed in from with the right password. Signing in again from one
    is not slowed down by failures for the same username elsewhere (a distributed attack on
    the account), so an attacker cannot keep the real user out of their usual place."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    address = models.CharField(max_length=64)
    last_seen = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "address"], name="knownaddress_user_address")
        ]

    def __str__(self) -> str:
        return f"user {self.user_id} from {self.address}"


class RefreshToken(models.Model):
    """One API refresh token, by its `jti`. It is single-use: refreshing marks it used and
    issues the next one in the same family (one family per sign-in). A used token presented
    again means a copy is in someone else's hands, so the whole family is revoked; logging
    out revokes it too. Rows past `expires_at` are useless (the token's signature says it has
    expired) and are deleted when the user is issued a new token."""

    jti = models.CharField(max_length=32, unique=True)
    family = models.CharField(max_length=32, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    issued_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"refresh {self.jti} (family {self.family})"


class Office(models.Model):
    """A node of the office tree (head office → regions → branches). `path` is the chain of
    ids from the root, four digits each ("0001/0003/"), so an office's subtree is one
    `path__startswith` filter and no query walks the tree. The head office is id 1; every
    record (borrower, loan, transaction, journal entry) belongs to an office, the head office
    unless said otherwise. An office does not move to another parent once created: its
    records' scoping would change under their users' feet."""

    name = models.CharField(max_length=100, unique=True)
    parent = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="children"
    )
    path = models.CharField(max_length=255, unique=True, editable=False)

    class Meta:
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    @property
    def depth(self) -> int:
        return self.path.count("/") - 1

    @property
    def indented_name(self) -> str:
        """The name indented by its depth, for a select's options."""
        return "\u2003" * max(self.depth, 0) + self.name


def office_path_for(pk: int, parent_path: str = "") -> str:
    return f"{parent_path}{pk:04d}/"


class UserOffice(models.Model):
    """The office a staff member belongs to: they reach its records and those of the offices
    under it. A user with no row (or in the head office), and every superuser, reaches all."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="office_link"
    )
    office = models.ForeignKey(Office, on_delete=models.PROTECT, related_name="members")

    class Meta:
        verbose_name = "user's office"

    def __str__(self) -> str:
        return f"user {self.user_id} in {self.office}"
