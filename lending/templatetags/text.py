"""`{{ reason|sentence }}`: the text ending with one full stop ("Entered twice" and
"Entered twice." both give "Entered twice."), for free text put inside a sentence."""

from typing import Any

from django import template

register = template.Library()


@register.filter
def sentence(value: Any) -> str:
    text = str(value).rstrip()
    return text if not text or text[-1] in ".!?" else f"{text}."
