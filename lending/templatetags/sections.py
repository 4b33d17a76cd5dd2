"""`{% cache %}` as in Django (`{% load sections %}` instead of `{% load cache %}`; same
syntax), with every cached section of a page fetched in one round trip.

When the first cached section of a template renders, the keys of all the template's cached
sections (those in the template and the blocks it fills, not in templates it includes) are
worked out in the context of the moment and read with one `get_many`; each section then takes
its own from that read. A section whose key comes out differently when its turn comes (one
inside a loop, or after a `{% with %}`) is read on its own, as with Django's tag: the batch
only ever saves round trips, it never answers for a key it did not read.
"""

from __future__ import annotations

from typing import Any, cast

from django import template
from django.core.cache import caches
from django.core.cache.backends.base import BaseCache
from django.core.cache.utils import make_template_fragment_key
from django.template.base import Parser, Token
from django.templatetags.cache import CacheNode, do_cache

register = template.Library()


class SectionNode(CacheNode):
    def render(self, context: template.Context) -> str:
        if self.cache_name:  # `using=`: Django's tag, one section at a time
            return super().render(context)
        expire_time = self.expire_time_var.resolve(context)
        fragments = caches["template_fragments"]
        key = self.key(context)
        batch = _batch(context, fragments, self)
        value = batch.pop(key) if key in batch else fragments.get(key)
        if value is None:
            value = self.nodelist.render(context)
            fragments.set(key, value, None if expire_time is None else int(expire_time))
        return value  # type: ignore[no-any-return]

    def key(self, context: template.Context) -> str:
        return make_template_fragment_key(
            self.fragment_name, [var.resolve(context) for var in self.vary_on]
        )


def _batch(context: template.Context, fragments: BaseCache, node: SectionNode) -> dict[str, Any]:
    """The template's sections read together, once per render: a key read and found gives its
    value, one read and not found gives None (no second read). Empty for a section of an
    included template, and for a section alone in its template."""
    top = context.template
    sections = _sections(top) if top is not None else ()
    if node not in sections:
        return {}
    batch: dict[str, Any] | None = context.render_context.get(_BATCH)
    if batch is None:
        keys = {section.key(context) for section in sections if section.cache_name is None}
        batch = dict.fromkeys(keys) | fragments.get_many(list(keys)) if len(keys) > 1 else {}
        context.render_context[_BATCH] = batch
    return batch


_BATCH = "karo.sections.batch"  # in the render context of the template being rendered
_SECTIONS = "_karo_sections"


def _sections(top: template.base.Template) -> tuple[SectionNode, ...]:
    """The template's cached sections, found once per loaded template; not those inside
    another section (already in its cached copy, read only when that one is missing)."""
    found: tuple[SectionNode, ...] | None = getattr(top, _SECTIONS, None)
    if found is None:
        every = cast(list[SectionNode], top.nodelist.get_nodes_by_type(SectionNode))
        inner = {id(n) for s in every for n in s.nodelist.get_nodes_by_type(SectionNode)}
        found = tuple(section for section in every if id(section) not in inner)
        setattr(top, _SECTIONS, found)
    return found


@register.tag("cache")
def section(parser: Parser, token: Token) -> SectionNode:
    node = do_cache(parser, token)
    return SectionNode(
        node.nodelist, node.expire_time_var, node.fragment_name, node.vary_on, node.cache_name
    )
