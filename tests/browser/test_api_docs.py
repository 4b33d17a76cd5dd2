"""The API docs page renders offline under the strict CSP (Swagger UI from our static files)."""

from typing import Any

from tests.api.test_docs import PATHS


def test_docs_page_renders_every_operation_in_a_browser(
    new_page: Any,
    live_server: Any,
) -> None:
    page = new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto("/api/docs")
    page.wait_for_selector(".opblock")
    assert page.locator(".opblock").count() == sum(len(ops) for ops in PATHS.values())
    assert page.locator("text=Ka-Ro LMS API").first.is_visible()
    assert problems == []  # a CSP violation would show here as a console error
