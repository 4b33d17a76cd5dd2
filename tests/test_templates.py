"""Template source rules that rendering alone would not catch."""

from pathlib import Path

from django.conf import settings

TEMPLATES = sorted(Path(settings.BASE_DIR, "templates").rglob("*.html"))


def test_every_short_comment_closes_on_its_line() -> None:
    """`{# ... #}` is a one-line comment: Django prints an unclosed one as page text. Longer
    comments use {% comment %}."""
    unclosed = [
        f"{path.relative_to(settings.BASE_DIR)}:{number}"
        for path in TEMPLATES
        for number, line in enumerate(path.read_text().splitlines(), start=1)
        if line.count("{#") > line.count("#}")
    ]
    assert TEMPLATES
    assert unclosed == []
