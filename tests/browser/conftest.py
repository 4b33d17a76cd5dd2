"""Browser tests: Playwright (Python) driving Debian's Chromium against pytest-django's live
server. `page_as("officer")` returns a page signed in through the real login form."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from typing import Any

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser/" in str(item.fspath):
            item.add_marker(pytest.mark.browser)


@pytest.fixture(scope="session")
def playwright() -> Iterator[Any]:
    if not os.path.exists(CHROMIUM):
        pytest.skip(
            f"browser test skipped: Chromium not found at {CHROMIUM} (apt-get install chromium)"
        )
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests make
    # for their fixtures are still synchronous and safe here.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="session")
def browser(playwright: Any) -> Iterator[Any]:
    """Playwright's Chromium: Back fetches the page again."""
    chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS)
    yield chromium
    chromium.close()


@pytest.fixture(scope="session")
def browser_with_bfcache(playwright: Any) -> Iterator[Any]:
    """Chromium as people use it: Back may restore the page as it was left (Playwright turns
    that cache off by default)."""
    chromium = playwright.chromium.launch(
        executable_path=CHROMIUM, args=LAUNCH_ARGS,
        ignore_default_args=["--disable-back-forward-cache"],
    )  # fmt: skip
    yield chromium
    chromium.close()


def _pages(browser: Any, live_server: Any) -> Iterator[Callable[[], Any]]:
    contexts: list[Any] = []

    def make() -> Any:
        context = browser.new_context(
            viewport={"width": 1280, "height": 900}, base_url=live_server.url, accept_downloads=True
        )
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()


@pytest.fixture
def new_page(browser: Any, live_server: Any) -> Iterator[Callable[[], Any]]:
    yield from _pages(browser, live_server)


@pytest.fixture
def new_page_with_bfcache(
    browser_with_bfcache: Any, live_server: Any
) -> Iterator[Callable[[], Any]]:
    yield from _pages(browser_with_bfcache, live_server)


ROLE_FACTORIES = {
    "admin": "AdminFactory",
    "officer": "OfficerFactory",
    "officer2": "OfficerFactory",
    "accountant": "AccountantFactory",
}


def _signed_in(page: Any, role: str, username: str | None = None) -> Any:
    from tests import factories

    user = getattr(factories, ROLE_FACTORIES[role])(username=username or f"{role}_b")
    page.goto("/accounts/login/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login/" not in url)
    page.user = user
    return page


@pytest.fixture
def page_as(new_page: Callable[[], Any], transactional_db: Any) -> Callable[..., Any]:
    """page_as("officer") → a page signed in as a fresh user of that role (username = role)."""
    return lambda role, username=None: _signed_in(new_page(), role, username)


@pytest.fixture
def page_with_bfcache_as(
    new_page_with_bfcache: Callable[[], Any], transactional_db: Any
) -> Callable[..., Any]:
    """As `page_as`, in a browser whose Back may restore the page as it was left."""
    return lambda role, username=None: _signed_in(new_page_with_bfcache(), role, username)
