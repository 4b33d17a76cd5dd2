"""Tokens: issue, refresh, expiry, the login throttle and the audit trail."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.contrib.sessions.models import Session
from django.db.models import F
from django.test import Client, override_settings

from accounts import throttle
from accounts.models import LoginFailure, RefreshToken
from lending.api.auth import BAD_CREDENTIALS, make_token
from lending.models import AuditLog
from tests.api.conftest import ApiClient
from tests.factories import PASSWORD, OfficerFactory

pytestmark = pytest.mark.django_db


def get_token(username: str, password: str, **extra: Any) -> Any:
    return ApiClient().post(
        "/api/auth/token", {"username": username, "password": password}, **extra
    )


def test_token_pair_is_issued_and_works() -> None:
    user = OfficerFactory(username="olu")
    response = get_token("olu", PASSWORD)
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.KARO_JWT_ACCESS_MINUTES * 60
    claims = jwt.decode(
        body["access"], settings.SECRET_KEY, algorithms=["HS256"], issuer="karo-lms"
    )
    assert claims["type"] == "access"
    assert claims["sub"] == str(user.pk)
    assert claims["exp"] - claims["iat"] == settings.KARO_JWT_ACCESS_MINUTES * 60
    refresh = jwt.decode(
        body["refresh"], settings.SECRET_KEY, algorithms=["HS256"], issuer="karo-lms"
    )
    assert refresh["type"] == "refresh"
    assert refresh["exp"] - refresh["iat"] == settings.KARO_JWT_REFRESH_HOURS * 3600
    assert ApiClient(body["access"]).get("/api/loans").status_code == 200


@override_settings(KARO_JWT_ACCESS_MINUTES=2)
def test_access_lifetime_is_configurable() -> None:
    OfficerFactory(username="olu")
    body = get_token("olu", PASSWORD).json()
    assert body["expires_in"] == 120


def test_sign_in_is_audited_and_leaves_no_session() -> None:
    user = OfficerFactory(username="olu")
    response = get_token("olu", PASSWORD)
    assert response.status_code == 200
    assert AuditLog.objects.filter(action=AuditLog.Action.LOGIN, user=user).count() == 1
    assert "sessionid" not in response.cookies
    assert Session.objects.count() == 0
    user.refresh_from_db()
    assert user.last_login is not None


def test_wrong_password_and_inactive_user_get_the_same_401() -> None:
    OfficerFactory(username="olu")
    OfficerFactory(username="gone", is_active=False)
    wrong = get_token("olu", "not-the-password")
    inactive = get_token("gone", PASSWORD)
    unknown = get_token("nobody", PASSWORD)
    for response in (wrong, inactive, unknown):
        assert response.status_code == 401
        assert response.json() == {"detail": BAD_CREDENTIALS}
    failed = AuditLog.objects.filter(action=AuditLog.Action.LOGIN_FAILED)
    assert sorted(failed.values_list("username", flat=True)) == ["gone", "nobody", "olu"]


def test_missing_fields_are_422_naming_them() -> None:
    response = ApiClient().post("/api/auth/token", {"username": "olu"})
    assert response.status_code == 422
    assert response.json()["detail"] == [{"field": "password", "message": "Field required"}]


def test_nul_in_credentials_is_422_not_500() -> None:
    response = get_token("ol\x00u", PASSWORD)
    assert response.status_code == 422
    assert response.json()["detail"][0]["field"] == "username"


def test_five_failures_lock_the_pair_out_with_json_429() -> None:
    OfficerFactory(username="olu")
    for attempt in range(1, throttle.PAIR_LIMIT):
        assert get_token("olu", "wrong").status_code == 401, attempt
    fifth = get_token("olu", "wrong")
    assert fifth.status_code == 429
    locked = get_token("olu", PASSWORD)  # even the right password is refused now
    assert locked.status_code == 429
    assert locked["Content-Type"] == "application/json; charset=utf-8"
    assert "Try again in 15 minutes" in locked.json()["detail"]
    assert 840 < int(locked["Retry-After"]) <= throttle.WINDOW.total_seconds()
    assert not AuditLog.objects.filter(action=AuditLog.Action.LOGIN).exists()


def test_the_right_password_after_four_failures_still_signs_in() -> None:
    """The boundary: PAIR_LIMIT - 1 wrong passwords leave one try; only the PAIR_LIMIT-th
    failure locks (and is itself answered 429, as the schema and README say)."""
    assert throttle.PAIR_LIMIT == 5  # the figure the schema, the README and the page state
    OfficerFactory(username="olu")
    for attempt in range(1, throttle.PAIR_LIMIT):
        assert get_token("olu", "wrong").status_code == 401, attempt
    assert get_token("olu", PASSWORD).status_code == 200


def test_the_schema_states_the_lockout_the_code_applies() -> None:
    schema = Client().get("/api/openapi.json").json()
    answer = schema["paths"]["/api/auth/token"]["post"]["responses"]["429"]["description"]
    assert f"The {throttle.PAIR_LIMIT}th wrong password in 15 minutes" in answer
    assert f"the first {throttle.PAIR_LIMIT - 1} wrong ones are 401s" in answer


def test_lockout_is_shared_with_the_login_page() -> None:
    """API failures and sign-in page failures count together (same username and address)."""
    OfficerFactory(username="olu")
    for _ in range(throttle.PAIR_LIMIT):
        get_token("olu", "wrong")
    page = Client().post("/accounts/login/", {"username": "olu", "password": PASSWORD})
    assert page.status_code == 429


def test_lockout_is_per_username() -> None:
    OfficerFactory(username="olu")
    OfficerFactory(username="ama")
    for _ in range(throttle.PAIR_LIMIT):
        get_token("olu", "wrong")
    assert get_token("ama", PASSWORD).status_code == 200


def test_success_resets_the_failure_count() -> None:
    OfficerFactory(username="olu")
    for _ in range(throttle.PAIR_LIMIT - 1):
        get_token("olu", "wrong")
    assert get_token("olu", PASSWORD).status_code == 200
    for _ in range(throttle.PAIR_LIMIT - 1):
        assert get_token("olu", "wrong").status_code == 401
    assert get_token("olu", PASSWORD).status_code == 200


def test_refresh_rotates_both_tokens() -> None:
    OfficerFactory(username="olu")
    first = get_token("olu", PASSWORD).json()
    response = ApiClient().post("/api/auth/token/refresh", {"refresh": first["refresh"]})
    assert response.status_code == 200
    second = response.json()
    assert second["access"] != first["access"]
    assert second["refresh"] != first["refresh"]
    assert ApiClient(second["access"]).get("/api/loans").status_code == 200


def test_access_token_cannot_refresh() -> None:
    OfficerFactory(username="olu")
    access = get_token("olu", PASSWORD).json()["access"]
    response = ApiClient().post("/api/auth/token/refresh", {"refresh": access})
    assert response.status_code == 401
    assert response.json()["detail"] == "This is not a refresh token."


def test_expired_refresh_token_is_401() -> None:
    user = OfficerFactory(username="olu")
    old = make_token(user, "refresh", now=datetime.now(tz=UTC) - timedelta(days=30))
    response = ApiClient().post("/api/auth/token/refresh", {"refresh": old})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_expired_access_token_is_401_with_a_hint() -> None:
    user = OfficerFactory(username="olu")
    old = make_token(user, "access", now=datetime.now(tz=UTC) - timedelta(minutes=16))
    response = ApiClient(old).get("/api/loans")
    assert response.status_code == 401
    assert "/api/auth/token/refresh" in response.json()["detail"]


def test_disabling_a_user_revokes_their_tokens() -> None:
    user = OfficerFactory(username="olu")
    tokens = get_token("olu", PASSWORD).json()
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert ApiClient(tokens["access"]).get("/api/loans").status_code == 401
    refreshed = ApiClient().post("/api/auth/token/refresh", {"refresh": tokens["refresh"]})
    assert refreshed.status_code == 401


def test_changing_the_password_revokes_tokens() -> None:
    user = OfficerFactory(username="olu")
    tokens = get_token("olu", PASSWORD).json()
    user.set_password("A-brand-new-password-77")
    user.save(update_fields=["password"])
    response = ApiClient(tokens["access"]).get("/api/loans")
    assert response.status_code == 401
    assert "sign in again" in response.json()["detail"]


def test_json_sent_as_a_form_still_counts_failures() -> None:
    OfficerFactory(username="olu")
    body = json.dumps({"username": "olu", "password": "wrong"})
    for _ in range(throttle.PAIR_LIMIT):
        Client().post("/api/auth/token", body, content_type="application/x-www-form-urlencoded")
    assert get_token("olu", PASSWORD).status_code == 429


# --- the throttle's other limits, as the API answers them ----------------------------------


def token_from(address: str, username: str, password: str) -> Any:
    client = ApiClient()
    client.client = Client(REMOTE_ADDR=address)
    return client.post("/api/auth/token", {"username": username, "password": password})


def test_spraying_from_one_address_is_429_for_every_username() -> None:
    users = [OfficerFactory(username=f"user{n}").username for n in range(6)]
    answers = [token_from("198.51.100.7", name, "guess") for _ in range(4) for name in users]
    assert [r.status_code for r in answers] == [401] * 19 + [429] * 5
    refused = token_from("198.51.100.7", "user0", PASSWORD)
    assert refused.status_code == 429
    assert "from this address, for several usernames" in refused.json()["detail"]
    assert int(refused["Retry-After"]) > 0
    assert token_from("203.0.113.5", "user0", PASSWORD).status_code == 200


def test_distributed_guessing_at_one_username_is_429_with_a_short_wait() -> None:
    OfficerFactory(username="admin")
    answers = [token_from(f"10.0.0.{n}", "admin", "guess") for n in range(10) for _ in range(4)]
    assert [r.status_code for r in answers] == [401] * 9 + [429] * 31
    refused = token_from("203.0.113.5", "admin", PASSWORD)
    assert refused.status_code == 429
    assert "from several places" in refused.json()["detail"]
    assert int(refused["Retry-After"]) <= throttle.ACCOUNT_FIRST_DELAY.total_seconds()
    LoginFailure.objects.update(at=F("at") - throttle.ACCOUNT_FIRST_DELAY)
    assert token_from("203.0.113.5", "admin", PASSWORD).status_code == 200


def test_a_shared_address_locks_the_pair_and_only_for_the_window() -> None:
    OfficerFactory(username="olu")
    for _ in range(throttle.PAIR_LIMIT):
        token_from("198.51.100.7", "olu", "guess")
    assert token_from("198.51.100.7", "olu", PASSWORD).status_code == 429
    assert token_from("203.0.113.5", "olu", PASSWORD).status_code == 200
    LoginFailure.objects.update(at=F("at") - throttle.WINDOW)
    assert token_from("198.51.100.7", "olu", PASSWORD).status_code == 200


# --- single-use refresh tokens and logout --------------------------------------------------


def refresh_with(token: str) -> Any:
    return ApiClient().post("/api/auth/token/refresh", {"refresh": token})


def logout_with(token: str) -> Any:
    return ApiClient().post("/api/auth/logout", {"refresh": token})


def test_a_refresh_token_works_once() -> None:
    OfficerFactory(username="olu")
    first = get_token("olu", PASSWORD).json()
    assert refresh_with(first["refresh"]).status_code == 200
    again = refresh_with(first["refresh"])
    assert again.status_code == 401
    assert "already used" in again.json()["detail"]


def test_reusing_a_refresh_token_revokes_its_whole_family_only() -> None:
    """The thief and the client both hold the token; whoever comes second revokes every
    token of that sign-in, including the one the first got. Another sign-in is untouched."""
    OfficerFactory(username="olu")
    first = get_token("olu", PASSWORD).json()
    other_sign_in = get_token("olu", PASSWORD).json()
    second = refresh_with(first["refresh"]).json()
    assert refresh_with(first["refresh"]).status_code == 401  # reuse
    revoked = refresh_with(second["refresh"])
    assert revoked.status_code == 401
    assert "revoked" in revoked.json()["detail"]
    assert refresh_with(other_sign_in["refresh"]).status_code == 200
    fam = jwt.decode(first["refresh"], options={"verify_signature": False})["fam"]
    assert set(RefreshToken.objects.filter(family=fam).values_list("revoked_at", flat=True))
    assert not RefreshToken.objects.filter(family=fam, revoked_at__isnull=True).exists()


def test_a_refresh_token_not_on_record_is_refused() -> None:
    user = OfficerFactory(username="olu")
    forged_elsewhere = make_token(user, "refresh")  # signed, but never issued
    response = refresh_with(forged_elsewhere)
    assert response.status_code == 401
    assert "sign in again" in response.json()["detail"]


def test_logout_revokes_the_family_and_is_audited() -> None:
    user = OfficerFactory(username="olu")
    first = get_token("olu", PASSWORD).json()
    second = refresh_with(first["refresh"]).json()
    response = logout_with(first["refresh"])  # any token of the sign-in will do
    assert response.status_code == 204
    assert refresh_with(second["refresh"]).status_code == 401
    assert AuditLog.objects.filter(action=AuditLog.Action.LOGOUT, user=user).count() == 1
    assert logout_with(second["refresh"]).status_code == 204  # twice is fine, audited once
    assert AuditLog.objects.filter(action=AuditLog.Action.LOGOUT, user=user).count() == 1
    assert ApiClient(second["access"]).get("/api/loans").status_code == 200  # lives out


def test_logout_accepts_an_expired_refresh_token_but_not_an_access_token() -> None:
    user = OfficerFactory(username="olu")
    tokens = get_token("olu", PASSWORD).json()
    stored = RefreshToken.objects.get()
    expired = make_token(
        user,
        "refresh",
        now=datetime.now(tz=UTC) - timedelta(days=30),
        jti=stored.jti,
        family=stored.family,
    )
    assert logout_with(tokens["access"]).status_code == 401
    assert logout_with("not-a-token").status_code == 401
    assert logout_with(expired).status_code == 204
    assert refresh_with(tokens["refresh"]).status_code == 401
