"""Text tags.

`{{ reason|sentence }}`: the text ending with one full stop ("Entered twice" and
"Entered twice." both give "Entered twice."), for free text put inside a sentence.

`{% squash %}…{% endsquash %}`: the rendered lines without their indentation and blank lines.
A browser reads a line break as the same single space, so the page looks the same with a
third less HTML to store, send and read; used inside `{% cache %}`, where it runs only when the
section is rendered. Not for text whose spacing shows (`<pre>`, `<textarea>`).
"""

import re
from typing import Any

from django import template
from django.template.base import NodeList, Parser, Token

register = template.Library()

_INDENTATION = re.compile(r"\n\s+")


@register.filter
def sentence(value: Any) -> str:
    text = str(value).rstrip()
    return text if not text or text[-1] in ".!?" else f"{text}."


class SquashNode(template.Node):
    def __init__(self, nodelist: NodeList) -> None:
        self.nodelist = nodelist

    def render(self, context: template.Context) -> str:
        return _INDENTATION.sub("\n", self.nodelist.render(context))


@register.tag
def squash(parser: Parser, token: Token) -> SquashNode:
    nodelist = parser.parse(("endsquash",))
    parser.delete_first_token()
    return SquashNode(nodelist)
