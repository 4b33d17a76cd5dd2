"""The placeholders a reminder template may use, and the check an Admin's edit must pass.

A template is plain text with `{name}` placeholders (Python's format syntax reduced to names):
`{borrower}`, `{loan}`, `{amount_due}`, ... An unknown name, an attribute or index
(`{borrower.pk}`), a conversion or format spec (`{amount_due:>10}`) and a lone brace are
refused when the template is saved, so a reminder run never meets a template it cannot fill.
`{{` and `}}` write a brace.
"""

from __future__ import annotations

from string import Formatter

from django.core.exceptions import ValidationError

PLACEHOLDERS: dict[str, str] = {
    "borrower": "the borrower's full name",
    "loan": "the loan number",
    "amount_due": "the amount due on the installment, with the currency (USD 1,250.00)",
    "due_date": "the due date (05 Jan 2027)",
    "days": "days until the due date, or since it (3)",
    "institution": "the institution's name",
}


def placeholders_in(text: str) -> list[str]:
    """The placeholder names `text` uses, in order. Raises ValidationError on anything that is
    not a plain known name."""
    allowed = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    try:
        parsed = list(Formatter().parse(text))
    except ValueError:
        raise ValidationError(
            "A brace is not closed or not opened: placeholders look like {borrower}; "
            "write {{ or }} for a brace itself."
        ) from None
    names = []
    for _literal, name, spec, conversion in parsed:
        if name is None:
            continue
        if name not in PLACEHOLDERS:
            shown = "{" + name + "}" if name else "{}"
            raise ValidationError(f"Unknown placeholder {shown}. Use only: {allowed}.")
        if spec or conversion:
            raise ValidationError(
                f"Write the placeholder {{{name}}} plainly, without ':' or '!' after its name."
            )
        names.append(name)
    return names


def render(text: str, values: dict[str, str]) -> str:
    """The text with its placeholders filled (checked by `placeholders_in` when saved)."""
    placeholders_in(text)
    return text.format_map(values)
