"""Login, failure, lockout, logout, idle timeout and password hashing."""

from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.hashers import identify_hasher, make_password
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from accounts import throttle
from lending.models import AuditLog
from tests.factories import PASSWORD, OfficerFactory

pytestmark = pytest.mark.django_db


def post_login(client: Client, username: str, password: str) -> Any:
    return client.post(reverse("login"), {"username": username, "password": password})


def test_login_page_renders_for_anonymous(client: Client) -> None:
    response = client.get(reverse("login"))
    assert response.status_code == 200
    assert b"Sign in" in response.content


def test_login_succeeds_and_is_audited(client: Client) -> None:
    user = OfficerFactory(username="olu")
    response = post_login(client, "olu", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard")
    entry = AuditLog.objects.get(action=AuditLog.Action.LOGIN)
    assert entry.user == user
    assert entry.ip_address == "127.0.0.1"


def test_failed_login_shows_message_and_is_audited(client: Client) -> None:
    OfficerFactory(username="olu")
    response = post_login(client, "olu", "wrong")
    assert response.status_code == 200
    assert "do not match" in response.content.decode()
    entry = AuditLog.objects.get(action=AuditLog.Action.LOGIN_FAILED)
    assert entry.username == "olu"
    assert entry.user is None


def test_five_failures_lock_the_user_out_even_with_the_right_password(client: Client) -> None:
    OfficerFactory(username="olu")
    for _ in range(throttle.PAIR_LIMIT):
        post_login(client, "olu", "wrong")
    response = post_login(client, "olu", PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "Try again in 15 minutes" in response.content.decode()
    assert 840 < int(response["Retry-After"]) <= throttle.WINDOW.total_seconds()
    assert not AuditLog.objects.filter(action=AuditLog.Action.LOGIN).exists()


def test_lockout_is_per_username(client: Client) -> None:
    OfficerFactory(username="olu")
    OfficerFactory(username="ama")
    for _ in range(throttle.PAIR_LIMIT):
        post_login(client, "olu", "wrong")
    assert post_login(client, "ama", PASSWORD).status_code == 302


def test_logout_is_a_post_and_is_audited(client: Client) -> None:
    user = OfficerFactory(username="olu")
    client.force_login(user)
    response = client.post(reverse("logout"))
    assert response.status_code == 302
    assert AuditLog.objects.filter(action=AuditLog.Action.LOGOUT, user=user).exists()
    assert client.get(reverse("dashboard")).status_code == 302


def test_anonymous_user_is_sent_to_login(client: Client) -> None:
    response = client.get(reverse("dashboard"))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_session_expires_after_idle_timeout_and_activity_renews_it(client: Client) -> None:
    from accounts import middleware

    assert settings.SESSION_COOKIE_AGE == settings.KARO_SESSION_IDLE_MINUTES * 60
    client.force_login(OfficerFactory(username="olu"))
    first = client.get(reverse("dashboard"))
    assert "sessionid" in first.cookies  # renewed on the first request
    again = client.get(reverse("dashboard"))
    assert "sessionid" not in again.cookies  # not rewritten within the minute
    session = client.session
    session[middleware._KEY] = 0  # the last renewal was long ago
    session.save()
    renewed = client.get(reverse("dashboard"))
    assert "sessionid" in renewed.cookies
    from django.contrib.sessions.models import Session
    from django.utils import timezone

    stored = Session.objects.get(session_key=renewed.cookies["sessionid"].value)
    left = (stored.expire_date - timezone.now()).total_seconds()
    assert settings.SESSION_COOKIE_AGE - 60 < left <= settings.SESSION_COOKIE_AGE


def test_passwords_are_hashed_with_argon2_and_bcrypt_is_accepted(client: Client) -> None:
    assert identify_hasher(make_password("s3cret-pass")).algorithm == "argon2"
    user = OfficerFactory(username="legacy")
    User.objects.filter(pk=user.pk).update(
        password=make_password("legacy-pass-123", hasher="bcrypt_sha256")
    )
    assert post_login(client, "legacy", "legacy-pass-123").status_code == 302
    user.refresh_from_db()
    assert user.password.startswith("argon2")  # upgraded on login


def test_password_change_page_works(client: Client) -> None:
    user = OfficerFactory(username="olu")
    client.force_login(user)
    response = client.post(
        reverse("password_change"),
        {
            "old_password": PASSWORD,
            "new_password1": "Another-long-pass-42",
            "new_password2": "Another-long-pass-42",
        },
    )
    assert response.status_code == 302
    user.refresh_from_db()
    assert user.check_password("Another-long-pass-42")


def test_admin_login_goes_through_the_throttled_login_page(client: Client) -> None:
    response = client.get("/admin/login/?next=/admin/")
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))
