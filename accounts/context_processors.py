from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, get_script_prefix, get_urlconf, reverse
from django.utils.functional import SimpleLazyObject

from accounts.backends import user_access
from accounts.middleware import restored_form
from accounts.offices import scope_key
from karo.rendered import rendered


def institution(request: HttpRequest) -> dict[str, Any]:
    return {
        "INSTITUTION_NAME": settings.KARO_INSTITUTION_NAME,
        "CURRENCY": settings.KARO_CURRENCY,
        # The header's links and who is signed in (role names and office from the cached
        # access), each rendered once per process for its values.
        "TOPBAR": Topbar(request),
        # Whose records the page shows ("all", or the office's path): part of every cached
        # section's key, so no office sees another's cached list (accounts.offices).
        "OFFICE_SCOPE": SimpleLazyObject(lambda: scope_key(request.user)),
        # A form posted after the session ended, to put back on its page (once).
        "RESTORED_FORM": restored_form(request),
    }


class Topbar:
    """The page header's parts that are the same on every page a user opens (but for the
    current link), rendered once per process for each set of values (`karo.rendered`); the
    sign-out form, with its CSRF token, stays in the page."""

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    @cached_property
    def nav(self) -> str:
        return rendered(
            "includes/topbar_nav.html",
            signed_in=self.request.user.is_authenticated,
            items=tuple(main_navigation(self.request)),
            institution=settings.KARO_INSTITUTION_NAME,
        )

    @cached_property
    def who(self) -> str:
        user = self.request.user
        access = user_access(user)
        return rendered(
            "includes/topbar_who.html",
            name=user.get_full_name() or user.get_username(),  # type: ignore[union-attr]
            roles=access.roles,
            superuser=user.is_superuser,
            office=access.office_name,
        )


@dataclass(frozen=True)
class NavItem:
    label: str
    url: str
    current: bool


PAYMENT_PATHS = ("/repayments/", "/payoff/", "/settle/")


def _is_payment_page(path: str) -> bool:
    return any(part in path for part in PAYMENT_PATHS) or path.startswith("/receipts/")


# Label, URL name, the permission that shows it, and whether a path belongs to it.
MAIN_NAVIGATION: list[tuple[str, str, str, Callable[[str, str], bool]]] = [
    ("Dashboard", "dashboard", "lending.view_loan", lambda path, url: path == url),
    ("Borrowers", "borrower_list", "lending.view_borrower", lambda path, url: path.startswith(url)),
    (
        "Loans",
        "loan_list",
        "lending.view_loan",
        lambda path, url: path.startswith(url) and not _is_payment_page(path),
    ),
    ("My portfolio", "my_portfolio", "lending.add_loan", lambda path, url: path == url),
    ("Calculator", "calculator", "lending.view_loan", lambda path, url: path == url),
    (
        "Repayments",
        "repayment_list",
        "lending.add_repayment",
        lambda path, url: _is_payment_page(path),
    ),
    (
        "Collections",
        "collection_sheet",
        "lending.view_loan",
        lambda path, url: path.startswith(url) and not path.startswith(f"{url}daily-close/"),
    ),
    (
        "Reports",
        "reports",
        "lending.view_portfolio_reports",
        lambda path, url: path.startswith(url),
    ),
    (
        "Ledger",
        "ledger_trial_balance",
        "ledger.view_journalentry",
        lambda path, url: path.startswith(url),
    ),
    (
        "Daily close",
        "day_close",
        "collecting.view_daycloserun",
        lambda path, url: path.startswith(url),
    ),
    (
        "Working days",
        "working_days",
        "lending.manage_calendar",
        lambda path, url: path.startswith(url),
    ),
]


_URLS: dict[tuple[str, str, str], str] = {}


def _url(name: str) -> str:
    """A URL without arguments, reversed once per process, URLconf and script prefix; "" for
    a page the URLconf does not have (some tests' URLconfs)."""
    key = (name, str(get_urlconf() or settings.ROOT_URLCONF), get_script_prefix())
    if key not in _URLS:
        try:
            _URLS[key] = reverse(name)
        except NoReverseMatch:
            return ""
    return _URLS[key]


def main_navigation(request: HttpRequest) -> list[NavItem]:
    """The header's links that the signed-in user may follow, the current one marked."""
    user = request.user
    if not user.is_authenticated:
        return []
    items = []
    for label, name, permission, covers in MAIN_NAVIGATION:
        url = _url(name)
        if url and user.has_perm(permission):
            items.append(NavItem(label, url, covers(request.path, url)))
    admin_url = _url("admin:index")
    if user.is_staff and admin_url:
        items.append(NavItem("Admin", admin_url, current=False))
    return items
