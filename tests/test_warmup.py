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


def test_the_master_freezes_what_it_loaded_and_each_worker_collects() -> None:
    import gc
    import runpy
    from types import SimpleNamespace

    was_enabled = gc.isenabled()
    try:
        conf = runpy.run_path(str(settings.BASE_DIR / "gunicorn.conf.py"))
        assert not gc.isenabled()  # the master does not collect
        conf["when_ready"](SimpleNamespace(log=SimpleNamespace(info=lambda *args: None)))
        assert gc.get_freeze_count() > 10_000  # the app and its templates
        conf["post_fork"](None, None)
        assert gc.isenabled()  # a worker collects what it makes
    finally:
        gc.unfreeze()
        if was_enabled:
            gc.enable()
        else:
            gc.disable()
