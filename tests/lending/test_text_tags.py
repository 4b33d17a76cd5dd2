"""The `text` template tags: `sentence` and `squash`."""

from __future__ import annotations

import pytest
from django.template import Context, Template
from django.test import Client
from django.urls import reverse

from tests.factories import ActiveLoanFactory


def render(source: str, **context: object) -> str:
    return Template("{% load text %}" + source).render(Context(context))


def test_squash_drops_indentation_and_blank_lines_but_keeps_words_apart() -> None:
    html = render(
        "{% squash %}<tr>\n    <td>{{ a }}</td>\n\n    <td><a>x</a> <small>y</small></td>\n"
        "  </tr>{% endsquash %}",
        a="1 < 2",
    )
    assert html == "<tr>\n<td>1 &lt; 2</td>\n<td><a>x</a> <small>y</small></td>\n</tr>"


def test_squash_nests() -> None:
    assert render("{% squash %}a\n  {% squash %}b\n   c{% endsquash %}\n d{% endsquash %}") == (
        "a\nb\nc\nd"
    )


@pytest.mark.django_db
def test_a_loan_page_s_cached_sections_carry_no_indentation(accountant_client: Client) -> None:
    loan = ActiveLoanFactory(installments=12, frequency="weekly", disbursed_days_ago=30)
    html = accountant_client.get(reverse("loan_detail", args=[loan.pk])).content.decode()
    main = html[html.index("<h1>") : html.index("</main>")]
    assert "Repayment schedule" in main
    lines = main.split("\n")
    indented = [line for line in lines if line.startswith("  ")]
    assert len(indented) < len(lines) / 10  # only the forms outside the cached sections
