"""Ka-Ro LMS settings: one file, configured from the environment (django-environ).

Every value comes from an environment variable (or a `.env` file beside manage.py); a bad
value fails loudly with ImproperlyConfigured instead of silently falling back. Production is
simply DEBUG off: then SECRET_KEY is required and every security setting is on by default.
"""

import hashlib
from pathlib import Path
from typing import Any

import environ
from csp.constants import NONE, SELF
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def _bool(name: str, default: bool) -> bool:
    """environ's bool() quietly reads any unknown word as False; a typo must not turn DEBUG off."""
    raw = env.str(name, default=str(default)).strip().lower()
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be true or false, not {raw!r}.")


DEBUG = _bool("DEBUG", False)

SECRET_KEY = env.str("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off.")
    SECRET_KEY = "django-insecure-development-only-key-never-use-in-production-0123456789"  # noqa: S105

# The audit log's key: its chain is an HMAC under this key and its checkpoints are signed with
# it, so whoever holds only the database (its owner included) cannot rewrite the log unnoticed.
# Keep it out of the database and its backups; changing it makes the existing log unverifiable.
KARO_AUDIT_KEY = env.str("KARO_AUDIT_KEY", default="")
if not KARO_AUDIT_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("KARO_AUDIT_KEY must be set when DEBUG is off.")
    KARO_AUDIT_KEY = "development-only-audit-key-never-use-in-production-0123456789"
if len(KARO_AUDIT_KEY) < 32:
    raise ImproperlyConfigured("KARO_AUDIT_KEY must be at least 32 characters long.")

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost"] if DEBUG else [])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

KARO_CURRENCY = env.str("KARO_CURRENCY", default="USD").strip().upper()
if len(KARO_CURRENCY) != 3 or not KARO_CURRENCY.isalpha():
    raise ImproperlyConfigured(
        f"KARO_CURRENCY must be a three-letter ISO 4217 code, not {KARO_CURRENCY!r}."
    )
# Where a phone number typed without its country code (0712 345 678) is from: ISO 3166 code.
KARO_PHONE_REGION = env.str("KARO_PHONE_REGION", default="KE").strip().upper()
if len(KARO_PHONE_REGION) != 2 or not KARO_PHONE_REGION.isalpha():
    raise ImproperlyConfigured(
        f"KARO_PHONE_REGION must be a two-letter country code, not {KARO_PHONE_REGION!r}."
    )
KARO_INSTITUTION_NAME = env.str("KARO_INSTITUTION_NAME", default="Ka-Ro Microfinance")
# How many reverse proxies in front of the app append to X-Forwarded-For (0: none, the
# header is ignored). The client's address is read that many entries from the right.
KARO_TRUSTED_PROXIES = env.int("KARO_TRUSTED_PROXIES", default=0)
if KARO_TRUSTED_PROXIES < 0:
    raise ImproperlyConfigured("KARO_TRUSTED_PROXIES must be 0 or more.")
# Minutes of inactivity after which a staff session ends.
KARO_SESSION_IDLE_MINUTES = env.int("KARO_SESSION_IDLE_MINUTES", default=30)
if KARO_SESSION_IDLE_MINUTES < 1:
    raise ImproperlyConfigured("KARO_SESSION_IDLE_MINUTES must be at least 1.")
KARO_JWT_ACCESS_MINUTES = env.int("KARO_JWT_ACCESS_MINUTES", default=15)
KARO_JWT_REFRESH_HOURS = env.int("KARO_JWT_REFRESH_HOURS", default=12)
KARO_LOAN_STATUS_CACHE_SECONDS = 300

# The journal's covering index (INCLUDE debit, credit) is PostgreSQL's; SQLite builds it
# without the extra columns, which is all W040 says.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "csp",
    "ninja",
    "accounts",
    "ledger",
    "lending",
    "reporting",
    "collecting",
    "origination",
    "karo",  # the cache epoch (karo.models)
]

MIDDLEWARE = [
    "accounts.middleware.TrustedProxyClientAddressMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "karo.middleware.ControlCharactersMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "karo.middleware.ReadAheadMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "karo.middleware.NoStoreMiddleware",
    "accounts.middleware.SessionIdleRefreshMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "accounts.middleware.SignedOutMiddleware",
    "accounts.middleware.MethodNotAllowedPageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
]

ROOT_URLCONF = "karo.urls"
WSGI_APPLICATION = "karo.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "accounts.context_processors.institution",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}"),
}
_SUPPORTED_ENGINES = {"django.db.backends.sqlite3", "django.db.backends.postgresql"}
if DATABASES["default"]["ENGINE"] not in _SUPPORTED_ENGINES:
    raise ImproperlyConfigured(
        "DATABASE_URL must be a sqlite:/// or postgres:// URL, "
        f"not one for {DATABASES['default']['ENGINE']!r}."
    )
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let the dev server and a management command share the file.
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {"timeout": 20, "transaction_mode": "IMMEDIATE", "init_command": "PRAGMA journal_mode=WAL;"}
    )
    # Tests on SQLite use a file (not the in-memory default) so that the live server's threads
    # get the same write locking as production: two posts at once are serialised.
    if env.str("KARO_SQLITE_TEST_NAME", default=""):
        DATABASES["default"]["TEST"] = {"NAME": env.str("KARO_SQLITE_TEST_NAME")}
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", env.int("CONN_MAX_AGE", default=60))
    DATABASES["default"].setdefault("CONN_HEALTH_CHECKS", True)
    # Prepared statements: a statement a connection has run five times is kept parsed and
    # planned by PostgreSQL (psycopg's automatic preparation, which needs the parameters
    # bound on the server). A payment's dozen statements are the same every time. Off with
    # KARO_DB_PREPARED_STATEMENTS=false, e.g. behind PgBouncer in transaction mode.
    if env.bool("KARO_DB_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {}).update(
            {"server_side_binding": True, "prepare_threshold": 5}
        )
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Redis is a cache, never a dependency (karo/cache_backend.py): short timeouts, a breaker that
# leaves a failing Redis alone for a few seconds, every failure a miss served from the
# database, and Redis emptied before it is trusted again after missing an invalidation.
REDIS_URL = env.str("REDIS_URL", default="")
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=0.25)
KARO_CACHE_BREAKER_SECONDS = env.float("KARO_CACHE_BREAKER_SECONDS", default=5)
KARO_CACHE_CHECK_SECONDS = env.float("KARO_CACHE_CHECK_SECONDS", default=2)
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "karo.cache_backend.ResilientRedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": env.str("CACHE_KEY_PREFIX", default="karo"),
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT_SECONDS,
                "SOCKET_TIMEOUT": REDIS_TIMEOUT_SECONDS,
            },
        }
    }
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}


def _release_fingerprint() -> str:
    """A digest of the templates, the apps' code, the pinned packages and the time zone (the
    times a page shows)."""
    digest = hashlib.sha256(env.str("TIME_ZONE", default="UTC").encode())
    requirements = BASE_DIR / "requirements.txt"
    if requirements.is_file():
        digest.update(requirements.read_bytes())
    for folder in ("templates", "accounts", "karo", "lending", "reporting", "origination"):
        for path in sorted((BASE_DIR / folder).rglob("*")):
            if path.suffix in {".html", ".py"} and path.is_file():
                digest.update(f"{path.relative_to(BASE_DIR)}\0".encode() + path.read_bytes())
    return digest.hexdigest()[:12]


# Rendered page sections (`{% cache %}`) are kept apart under the release that rendered them,
# so a deploy never serves sections from the code before it; the generations and other entries
# that decide when a section is stale stay in the default cache, shared by every release.
KARO_RELEASE = env.str("KARO_RELEASE", default="") or _release_fingerprint()
CACHES["template_fragments"] = {
    **CACHES["default"],
    "KEY_PREFIX": f"{CACHES['default'].get('KEY_PREFIX', 'karo')}-sections-{KARO_RELEASE}",
}
if not REDIS_URL:
    CACHES["template_fragments"]["LOCATION"] = "sections"

# Each user's permissions and roles are kept in the cache between requests only when the
# cache is shared by every worker (Redis): a revoked permission must be gone everywhere at once.
KARO_CACHE_ACCESS = env.bool("KARO_CACHE_ACCESS", default=bool(REDIS_URL))

# One backend: it checks passwords through the sign-in throttle (accounts/throttle.py: per
# username and address, per address, and growing delays per username).
AUTHENTICATION_BACKENDS = ["accounts.backends.CachedModelBackend"]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# Idle timeout: the session lives KARO_SESSION_IDLE_MINUTES after the last request; it is
# renewed at most once a minute (accounts.middleware), not written on every page view.
SESSION_ENGINE = "karo.sessions"  # cached_db, dropping a copy Redis could not take
SESSION_COOKIE_AGE = KARO_SESSION_IDLE_MINUTES * 60
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True


# British English formats: dates read day first (22 Nov 2026), also in the admin.
LANGUAGE_CODE = "en-gb"
FORMAT_MODULE_PATH = ["karo.formats"]
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True
USE_THOUSAND_SEPARATOR = False

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env.path("STATIC_ROOT", default=str(BASE_DIR / "staticfiles"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
if env.bool("KARO_PLAIN_STATIC", default=False):
    # The test suite renders pages without running collectstatic first.
    STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"

# Borrower documents (origination): kept through Django's storage API under the "documents"
# alias, local files under MEDIA_ROOT/documents by default, or an S3-compatible bucket when
# KARO_DOCUMENTS_S3_BUCKET is set (needs `pip install django-storages[s3]`; credentials from
# the usual AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the machine's role). Never served from
# a public URL (there is no MEDIA_URL route): a permission-checked view streams each download.
MEDIA_ROOT = env.path("MEDIA_ROOT", default=str(BASE_DIR / "media"))
KARO_DOCUMENTS_S3_BUCKET = env.str("KARO_DOCUMENTS_S3_BUCKET", default="")
if KARO_DOCUMENTS_S3_BUCKET:
    import importlib.util

    if importlib.util.find_spec("storages") is None:
        raise ImproperlyConfigured(
            "KARO_DOCUMENTS_S3_BUCKET is set but django-storages is not installed: "
            "pip install django-storages[s3]."
        )
    _documents_storage: dict[str, Any] = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": KARO_DOCUMENTS_S3_BUCKET,
            "endpoint_url": env.str("KARO_DOCUMENTS_S3_ENDPOINT_URL", default="") or None,
            "region_name": env.str("KARO_DOCUMENTS_S3_REGION", default="") or None,
            "location": "documents",
            "default_acl": "private",
            "file_overwrite": False,
            "querystring_auth": True,
        },
    }
else:
    _documents_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {
            "location": str(Path(MEDIA_ROOT) / "documents"),
            "file_permissions_mode": 0o640,
            "directory_permissions_mode": 0o750,
        },
    }
STORAGES["documents"] = _documents_storage
# Uploads: the first handler refuses a file above its view's limit (a document: 5 MB) before
# storing it, from the request's Content-Length when it says so (origination/uploads.py).
FILE_UPLOAD_HANDLERS = [
    "origination.uploads.UploadLimitHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]

# Security: on by default whenever DEBUG is off; each can be turned off behind a TLS proxy.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = _bool("SECURE_SSL_REDIRECT", not DEBUG)
SESSION_COOKIE_SECURE = _bool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = _bool("CSRF_COOKIE_SECURE", not DEBUG)
SESSION_COOKIE_HTTPONLY = True
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = not DEBUG
SECURE_HSTS_PRELOAD = not DEBUG
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# A strict Content-Security-Policy: no inline script or style anywhere, ours or the admin's.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF],
        "img-src": [SELF, "data:"],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [SELF],
        "frame-ancestors": [NONE],
        "form-action": [SELF],
    }
}

# Background work on Celery (karo/celery.py). Without a broker every task runs in the calling
# process, so `make run` needs nothing; with CELERY_BROKER_URL (redis://... or amqp://...)
# tasks go to `celery -A karo worker` processes on any number of machines. A task is
# acknowledged after it ran (acks_late) and taken back by the broker when its worker dies, and
# every task is idempotent, so a redelivery changes nothing. Results live in the database
# (the models of the work itself), not in a result backend.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis hands an unacknowledged task to another worker after this long (a worker that died
# mid-task); longer than any task runs.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", default=3600)
}
CELERY_TIMEZONE = TIME_ZONE

# Payment reminders (collecting.reminders). SMS through the gateway KARO_SMS_BACKEND names:
# `outbox` (default: nothing is sent, the reminders outbox page shows what would have been),
# `africastalking` or `twilio`, each with its credentials. KARO_SMS_BASE_URL points an adapter
# elsewhere than the provider's API (its sandbox, or a test's local server).
KARO_SMS_BACKEND = env.str("KARO_SMS_BACKEND", default="outbox").strip().lower()
_SMS_BASE_URLS = {
    "outbox": "",
    "africastalking": "https://api.africastalking.com",
    "twilio": "https://api.twilio.com",
}
_SMS_CREDENTIALS = {
    "outbox": [],
    "africastalking": ["AFRICASTALKING_USERNAME", "AFRICASTALKING_API_KEY"],
    "twilio": ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "KARO_SMS_SENDER"],
}
if KARO_SMS_BACKEND not in _SMS_BASE_URLS:
    raise ImproperlyConfigured(
        f"KARO_SMS_BACKEND must be one of {', '.join(_SMS_BASE_URLS)}, not {KARO_SMS_BACKEND!r}."
    )
KARO_SMS_BASE_URL = env.str("KARO_SMS_BASE_URL", default=_SMS_BASE_URLS[KARO_SMS_BACKEND]).rstrip(
    "/"
)
KARO_SMS_SENDER = env.str("KARO_SMS_SENDER", default="")  # sender ID, short code or number
KARO_SMS_TIMEOUT_SECONDS = env.float("KARO_SMS_TIMEOUT_SECONDS", default=10)
AFRICASTALKING_USERNAME = env.str("AFRICASTALKING_USERNAME", default="")
AFRICASTALKING_API_KEY = env.str("AFRICASTALKING_API_KEY", default="")
TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="")
_missing = [name for name in _SMS_CREDENTIALS[KARO_SMS_BACKEND] if not globals()[name]]
if _missing:
    raise ImproperlyConfigured(
        f"KARO_SMS_BACKEND={KARO_SMS_BACKEND} needs {', '.join(_missing)} to be set."
    )

# E-mail reminders go through Django's e-mail backend: SMTP when EMAIL_HOST is set, otherwise
# the dummy backend (nothing is sent; the outbox page shows the messages). EMAIL_BACKEND may
# name any Django backend (the console one, say).
EMAIL_HOST = env.str("EMAIL_HOST", default="")
EMAIL_BACKEND = env.str(
    "EMAIL_BACKEND",
    default="django.core.mail.backends.smtp.EmailBackend"
    if EMAIL_HOST
    else "django.core.mail.backends.dummy.EmailBackend",
)
EMAIL_PORT = env.int("EMAIL_PORT", default=587)
EMAIL_HOST_USER = env.str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env.str("EMAIL_HOST_PASSWORD", default="")
EMAIL_USE_TLS = _bool("EMAIL_USE_TLS", EMAIL_PORT == 587)
EMAIL_USE_SSL = _bool("EMAIL_USE_SSL", EMAIL_PORT == 465)
if EMAIL_USE_TLS and EMAIL_USE_SSL:
    raise ImproperlyConfigured("EMAIL_USE_TLS and EMAIL_USE_SSL cannot both be on.")
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="reminders@localhost")

# Messages travel in a signed cookie (session only when too big): showing or adding one does
# not rewrite the session row.

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
}
