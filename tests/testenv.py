"""Loaded by pytest before Django (`-p tests.testenv`): test defaults for the environment.

Real values from the environment win (the PostgreSQL run sets DATABASE_URL and REDIS_URL).
"""

import os
import tempfile

os.environ.setdefault("SECRET_KEY", "test-only-secret-key-not-for-production-0123456789abcdef")
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("KARO_AUDIT_KEY", "test-only-audit-key-not-for-production-0123456789abcdef")
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("SESSION_COOKIE_SECURE", "false")
os.environ.setdefault("CSRF_COOKIE_SECURE", "false")
os.environ.setdefault("KARO_PLAIN_STATIC", "true")
# Pages are served from the source static folders in tests; a collectstatic run elsewhere
# on the machine must not be scanned by WhiteNoise mid-write.
os.environ.setdefault("STATIC_ROOT", "/nonexistent/karo-test-static")
os.environ.setdefault("TIME_ZONE", "UTC")
# One process per test worker, so the local-memory cache is as shared as Redis would be.
os.environ.setdefault("KARO_CACHE_ACCESS", "true")
# Each test starts with its worker's Redis keys emptied, so no test needs the periodic
# comparison of Redis with the database's cache epoch (a query that would land in the middle
# of query counts); tests/test_redis_outage.py turns it back on.
os.environ.setdefault("KARO_CACHE_CHECK_SECONDS", "3600")
# One SQLite test database file per process (xdist workers each load this module).
os.environ.setdefault(
    "KARO_SQLITE_TEST_NAME", os.path.join(tempfile.gettempdir(), f"karo-test-{os.getpid()}.sqlite3")
)
# xdist workers share one Redis database in the PostgreSQL run: each keeps its own keys.
# (Set, not defaulted: workers inherit the parent's environment. The xdist worker id is not
# known yet when this module loads; the process id is unique.)
os.environ["CACHE_KEY_PREFIX"] = f"karo-test-{os.getpid()}"
