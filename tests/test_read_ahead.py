"""Fewer cache round trips per page, never a stale or wrong answer: the keys read ahead with
the signed-in user's access (karo.caching) and the cached sections read together
(`{% load sections %}`)."""

from __future__ import annotations

import pytest
from django.core.cache import cache, caches
from django.template import Context, Template
from django.test import override_settings

from karo.caching import (
    drop,
    generation,
    generations,
    get_many_reading_ahead,
    reading_ahead,
    with_generations,
)
from lending.receivers import PORTFOLIO_GENERATION_KEY, STAFF_GENERATION_KEY
from tests.caches import cache_reads, clear_own_caches


def setup_function() -> None:
    clear_own_caches()


def test_the_generations_come_with_the_request_s_first_read() -> None:
    cache.set_many({PORTFOLIO_GENERATION_KEY: "p1", STAFF_GENERATION_KEY: "s1", "row": "kept"})
    with reading_ahead(), cache_reads() as reads:
        assert get_many_reading_ahead(["access"]) == {}  # only what was asked for
        assert generations(PORTFOLIO_GENERATION_KEY, STAFF_GENERATION_KEY) == ["p1", "s1"]
        assert generation(PORTFOLIO_GENERATION_KEY) == "p1"
        assert with_generations("row", PORTFOLIO_GENERATION_KEY) == ("kept", ["p1"])
    assert [method for method, _ in reads] == ["get_many", "get_many"]  # the row was not ahead
    assert set(reads[0][1]) == {"access", PORTFOLIO_GENERATION_KEY, STAFF_GENERATION_KEY}


@pytest.mark.django_db  # a drop is made again once the transaction commits
def test_a_dropped_generation_is_read_again_in_the_same_request() -> None:
    cache.set(PORTFOLIO_GENERATION_KEY, "before")
    with reading_ahead():
        get_many_reading_ahead(["access"])
        assert generation(PORTFOLIO_GENERATION_KEY) == "before"
        drop(PORTFOLIO_GENERATION_KEY)  # a change in this request renews it
        renewed = generation(PORTFOLIO_GENERATION_KEY)
    assert renewed not in ("", "before") and cache.get(PORTFOLIO_GENERATION_KEY) == renewed


def test_a_key_read_ahead_and_missing_is_missing_without_a_second_read() -> None:
    with reading_ahead():
        get_many_reading_ahead(["access"])
        with cache_reads() as reads:
            token = generation(PORTFOLIO_GENERATION_KEY)  # missing: drawn and stored
    assert token and cache.get(PORTFOLIO_GENERATION_KEY) == token
    assert [method for method, _ in reads] == ["get"]  # the draw's check, not a re-read
    with reading_ahead():
        get_many_reading_ahead(["access"])
        cache.delete(PORTFOLIO_GENERATION_KEY)  # read ahead missing...
        token = generation(PORTFOLIO_GENERATION_KEY)
        with cache_reads() as reads:
            assert generation(PORTFOLIO_GENERATION_KEY) == token  # ...drawn once, then kept
    assert reads == []


def test_without_an_access_check_the_first_read_takes_the_keys_along() -> None:
    # A superuser passes the permission check without it: the first read here reads ahead.
    cache.set_many({PORTFOLIO_GENERATION_KEY: "p1", STAFF_GENERATION_KEY: "s1"})
    with reading_ahead(), cache_reads() as reads:
        assert with_generations("row", PORTFOLIO_GENERATION_KEY) == (None, ["p1"])
        assert generations(STAFF_GENERATION_KEY) == ["s1"]
        assert get_many_reading_ahead(["access"]) == {}
    assert [method for method, _ in reads] == ["get_many", "get_many"]
    assert STAFF_GENERATION_KEY in reads[0][1] and reads[1][1] == ["access"]


def test_outside_a_request_every_read_goes_to_the_cache() -> None:
    cache.set(PORTFOLIO_GENERATION_KEY, "p1")
    get_many_reading_ahead(["access"])
    cache.set(PORTFOLIO_GENERATION_KEY, "p2")  # another process renews it
    assert generation(PORTFOLIO_GENERATION_KEY) == "p2"


def _render(template: Template, **context: object) -> str:
    return template.render(Context(context))


def test_the_sections_of_a_template_are_read_together() -> None:
    page = Template(
        "{% load sections %}{% cache 60 head title %}[{{ title }}]{% endcache %}"
        "{% for row in rows %}{% cache 60 row row %}<{{ row }}>{% endcache %}{% endfor %}"
        "{% cache 60 foot title %}({{ title }}){% endcache %}"
    )
    assert _render(page, title="A", rows=[1, 2]) == "[A]<1><2>(A)"
    with cache_reads() as reads:
        assert _render(page, title="A", rows=[1, 2]) == "[A]<1><2>(A)"
    # Head and foot in one read; a row's key depends on the loop, so each row is read alone.
    assert [method for method, _ in reads] == ["get_many", "get", "get"]
    assert _render(page, title="B", rows=[1, 3]) == "[B]<1><3>(B)"


def test_a_section_missing_from_the_batch_is_rendered_and_kept() -> None:
    page = Template(
        "{% load sections %}{% cache 60 a x %}a{{ x }}{% endcache %}"
        "{% cache 60 b x %}b{{ x }}{% endcache %}"
    )
    assert _render(page, x=1) == "a1b1"
    caches["template_fragments"].clear()
    with cache_reads() as reads:
        assert _render(page, x=1) == "a1b1"  # both missing: one read, no second
    assert [method for method, _ in reads] == ["get_many"]
    with cache_reads() as reads:
        assert _render(page, x=1) == "a1b1"
    assert [method for method, _ in reads] == ["get_many"]


def test_a_section_inside_another_is_not_read_with_the_batch() -> None:
    page = Template(
        "{% load sections %}{% cache 60 outer x %}O{% cache 60 inner x %}I{{ x }}{% endcache %}"
        "{% endcache %}{% cache 60 other x %}Z{{ x }}{% endcache %}"
    )
    assert _render(page, x=1) == "OI1Z1"
    with cache_reads() as reads:
        assert _render(page, x=1) == "OI1Z1"
    assert [method for method, _ in reads] == ["get_many"]
    assert not any("inner" in key for key in reads[0][1])  # already inside the outer copy


@override_settings(
    TEMPLATES=[
        {
            "BACKEND": "django.template.backends.django.DjangoTemplates",
            "OPTIONS": {
                "loaders": [
                    (
                        "django.template.loaders.locmem.Loader",
                        {
                            "inner.html": "{% load sections %}{% cache 60 inner x %}"
                            "i{{ x }}{% endcache %}",
                        },
                    )
                ]
            },
        }
    ]
)
def test_a_section_in_an_included_template_is_read_on_its_own() -> None:
    from django.template import engines

    engine = engines["django"]
    page = engine.from_string(
        "{% load sections %}{% cache 60 a x %}a{{ x }}{% endcache %}"
        '{% include "inner.html" %}{% cache 60 b x %}b{{ x }}{% endcache %}'
    )
    assert page.render({"x": 1}) == "a1i1b1"
    with cache_reads() as reads:
        assert page.render({"x": 1}) == "a1i1b1"
    assert [method for method, _ in reads] == ["get_many", "get"]
    assert page.render({"x": 2}) == "a2i2b2"
