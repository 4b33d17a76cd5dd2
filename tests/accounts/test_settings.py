"""Settings come from the environment and refuse bad values loudly."""

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _manage(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`manage.py <args>` in a fresh process with exactly this environment."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "KARO", "DEBUG"))}
    base.pop("SECRET_KEY", None)
    base.pop("DATABASE_URL", None)
    base.pop("REDIS_URL", None)
    base.update(env)
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='karo.settings'; "
        "from django.conf import settings; "
        "print(settings.DEBUG, settings.KARO_CURRENCY, settings.CACHES['default']['BACKEND'], "
        "settings.DATABASES['default']['ENGINE'], settings.SESSION_COOKIE_AGE)"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        check=False,
    )


def test_secret_key_is_required_when_debug_is_off() -> None:
    result = load_settings(DEBUG="false")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_audit_key_is_required_when_debug_is_off() -> None:
    result = load_settings(DEBUG="false", SECRET_KEY="x" * 60)
    assert result.returncode != 0
    assert "KARO_AUDIT_KEY must be set" in result.stderr
    short = load_settings(DEBUG="false", SECRET_KEY="x" * 60, KARO_AUDIT_KEY="short")
    assert short.returncode != 0
    assert "at least 32 characters" in short.stderr


def test_debug_typo_fails_loudly_instead_of_turning_debug_off() -> None:
    result = load_settings(DEBUG="ture", SECRET_KEY="x" * 60)
    assert result.returncode != 0
    assert "DEBUG must be true or false" in result.stderr


@pytest.mark.parametrize("currency", ["DOLLARS", "U1D", ""])
def test_currency_must_be_an_iso_code(currency: str) -> None:
    result = load_settings(DEBUG="true", KARO_CURRENCY=currency)
    assert result.returncode != 0
    assert "KARO_CURRENCY" in result.stderr


def test_bad_database_url_fails_loudly() -> None:
    result = load_settings(DEBUG="true", DATABASE_URL="nosuchdb://x")
    assert result.returncode != 0


def test_defaults_for_development() -> None:
    result = load_settings(DEBUG="true", KARO_CURRENCY="kes", KARO_SESSION_IDLE_MINUTES="10")
    assert result.returncode == 0, result.stderr
    debug, currency, cache, engine, age = result.stdout.split()
    assert (debug, currency, age) == ("True", "KES", "600")
    assert cache.endswith("LocMemCache")
    assert engine.endswith("sqlite3")


def test_redis_url_selects_redis_behind_the_breaker() -> None:
    result = load_settings(DEBUG="true", REDIS_URL="redis://127.0.0.1:6379/9")
    assert result.returncode == 0, result.stderr
    assert "karo.cache_backend.ResilientRedisCache" in result.stdout  # django-redis, guarded


def test_production_settings_pass_check_deploy(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KARO", "DEBUG", "SECURE", "SESSION", "CSRF", "DJANGO_ALLOW"))
    }
    env.update(
        DEBUG="false",
        SECRET_KEY="prod-" + "k3y" * 20,
        KARO_AUDIT_KEY="audit-" + "k3y" * 20,
        ALLOWED_HOSTS="lms.example.org",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        REDIS_URL="redis://127.0.0.1:6379/0",  # not connected to by the checks
    )
    result = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_warns_without_a_shared_cache(tmp_path: Path) -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KARO", "DEBUG", "SECURE", "SESSION", "CSRF", "DJANGO_ALLOW"))
    }
    env.update(
        DEBUG="false",
        SECRET_KEY="prod-" + "k3y" * 20,
        KARO_AUDIT_KEY="audit-" + "k3y" * 20,
        ALLOWED_HOSTS="lms.example.org",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
    )
    env.pop("REDIS_URL", None)
    result = _manage(env, "check", "--deploy", "--fail-level", "WARNING")
    assert result.returncode != 0
    assert "karo.W001" in result.stdout + result.stderr


def test_makemigrations_check_runs_without_the_production_environment() -> None:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KARO", "DEBUG", "SECRET", "DATABASE", "REDIS", "DJANGO_ALLOW"))
    }
    result = _manage(env, "makemigrations", "--check", "--dry-run")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No changes detected" in result.stdout


def test_rendered_sections_are_kept_per_release(tmp_path: Path, monkeypatch: Any) -> None:
    from django.conf import settings as live

    import karo.settings as module

    assert live.CACHES["template_fragments"]["KEY_PREFIX"].endswith(f"-{live.KARO_RELEASE}")
    (tmp_path / "templates").mkdir()
    page = tmp_path / "templates" / "page.html"
    page.write_text("<p>one</p>")
    monkeypatch.setattr(module, "BASE_DIR", tmp_path)
    first = module._release_fingerprint()
    assert module._release_fingerprint() == first  # the same code, the same release
    page.write_text("<p>two</p>")
    assert module._release_fingerprint() != first  # a changed template, a new release


def _reminder_settings(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO", "KARO", "EMAIL"))}
    for name in ("TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "AFRICASTALKING_API_KEY"):
        base.pop(name, None)
    base.update({"DEBUG": "true", **env})
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE']='karo.settings'; "
        "from django.conf import settings as s; "
        "print(s.KARO_SMS_BACKEND, s.KARO_SMS_BASE_URL or '-', s.EMAIL_BACKEND.split('.')[-2])"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=base,
        capture_output=True,
        text=True,
        check=False,
    )


def test_reminders_send_nothing_anywhere_by_default() -> None:
    result = _reminder_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["outbox", "-", "dummy"]


def test_an_smtp_host_switches_email_to_smtp() -> None:
    result = _reminder_settings(EMAIL_HOST="smtp.example.org")
    assert result.stdout.split()[-1] == "smtp"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"KARO_SMS_BACKEND": "pigeon"}, "KARO_SMS_BACKEND must be one of outbox"),
        (
            {"KARO_SMS_BACKEND": "twilio", "TWILIO_ACCOUNT_SID": "AC1"},
            "needs TWILIO_AUTH_TOKEN, KARO_SMS_SENDER to be set",
        ),
        ({"KARO_SMS_BACKEND": "africastalking"}, "needs AFRICASTALKING_USERNAME"),
        ({"EMAIL_USE_TLS": "true", "EMAIL_USE_SSL": "true"}, "cannot both be on"),
    ],
)
def test_a_gateway_without_its_credentials_stops_the_app(env: dict[str, str], message: str) -> None:
    result = _reminder_settings(**env)
    assert result.returncode != 0
    assert message in result.stderr


def test_a_configured_gateway_gets_its_providers_address() -> None:
    result = _reminder_settings(
        KARO_SMS_BACKEND="africastalking", AFRICASTALKING_USERNAME="karo",
        AFRICASTALKING_API_KEY="k",
    )  # fmt: skip
    assert result.stdout.split()[:2] == ["africastalking", "https://api.africastalking.com"]
