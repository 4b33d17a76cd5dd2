"""gunicorn's master warms up before forking (gunicorn.conf.py `when_ready`): every view
imported, every template compiled, no database touched (this test has no database access, so
a query would fail it)."""

from __future__ import annotations

from django.conf import settings

from karo.warmup import warm_up


def test_warm_up_compiles_every_template_without_the_database() -> None:
    files = [
        p for p in (settings.BASE_DIR / "templates").rglob("*") if p.suffix in {".html", ".txt"}
    ]
    assert warm_up() == len(files) > 50
