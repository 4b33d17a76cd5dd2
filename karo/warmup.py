"""Ready before the first request: gunicorn's master (preload_app) imports the URLconf and
compiles the project's templates once, so every worker forked from it, at start and after
each `max_requests` restart, answers its first request as fast as its others. Without it a
fresh worker's first page took about a second (every view module imported, every template of
the page compiled), which on a busy server showed as a second-long pause per restart."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import connections
from django.template import TemplateSyntaxError, engines
from django.urls import get_resolver

logger = logging.getLogger(__name__)


def warm_up() -> int:
    """Import every view (through the URLconf) and compile every template under the
    project's `templates/` (Django's cached loader keeps them; forked workers share them).
    Opens no database connection. Returns how many templates were compiled."""
    get_resolver().url_patterns  # noqa: B018 (imports the URLconf and every view module)
    engine = engines["django"]
    root = settings.BASE_DIR / "templates"
    compiled = 0
    for path in sorted(root.rglob("*")):
        if path.suffix not in {".html", ".txt"} or not path.is_file():
            continue
        try:
            engine.get_template(str(path.relative_to(root)))
        except TemplateSyntaxError:  # reported where it is used, as without the warm-up
            logger.exception("template %s does not compile", path)
            continue
        compiled += 1
    connections.close_all()  # none should be open; a forked worker must not share one
    return compiled
