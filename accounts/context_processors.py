from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.urls import NoReverseMatch, get_script_prefix, reverse
from django.utils.functional import SimpleLazyObject

from accounts.backends import user_access


def institution(request: HttpRequest) -> dict[str, Any]:
    return {
        "INSTITUTION_NAME": settings.KARO_INSTITUTION_NAME,
        "CURRENCY": settings.KARO_CURRENCY,
        # The signed-in user's role names for the header, from the cached access.
        "ROLES": SimpleLazyObject(lambda: user_access(request.user).roles),
        "NAV": SimpleLazyObject(lambda: main_navigation(request)),
    }


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
    ("Calculator", "calculator", "lending.view_loan", lambda path, url: path == url),
    (
        "Repayments",
        "repayment_list",
        "lending.add_repayment",
        lambda path, url: _is_payment_page(path),
    ),
    (
        "Reports",
        "reports",
        "lending.view_portfolio_reports",
        lambda path, url: path.startswith(url),
    ),
]


@cache
def _url(name: str, script_prefix: str) -> str:
    """A URL without arguments, reversed once per process (and script prefix)."""
    try:
        return reverse(name)
    except NoReverseMatch:  # a URLconf without that page (some tests)
        return ""


def main_navigation(request: HttpRequest) -> list[NavItem]:
    """The header's links that the signed-in user may follow, the current one marked."""
    user = request.user
    if not user.is_authenticated:
        return []
    prefix = get_script_prefix()
    items = []
    for label, name, permission, covers in MAIN_NAVIGATION:
        url = _url(name, prefix)
        if url and user.has_perm(permission):
            items.append(NavItem(label, url, covers(request.path, url)))
    if user.is_staff:
        items.append(NavItem("Admin", _url("admin:index", prefix), current=False))
    return items
