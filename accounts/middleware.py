"""Session idle timeout without a database write on every request; client addresses behind
trusted reverse proxies; a page for a form's address opened in the browser; what a browser
whose session ended gets for an htmx request or a posted form."""

import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import Resolver404, resolve
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django_htmx.http import HttpResponseClientRedirect

REFRESH_EVERY_SECONDS = 60
_KEY = "_idle_refreshed_at"


class SessionIdleRefreshMiddleware:
    """A signed-in session lives SESSION_COOKIE_AGE seconds after the last activity. Saving the
    session on every request (SESSION_SAVE_EVERY_REQUEST) would write it on every page view;
    renewing it at most once a minute keeps the idle timeout to within that minute."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        # Only a signed-in browser session (the API's bearer-token calls have none to renew).
        signed_in = user is not None and user.is_authenticated
        if session is not None and session.session_key is not None and signed_in:
            now = int(time.time())
            if now - int(session.get(_KEY, 0)) >= REFRESH_EVERY_SECONDS:
                session[_KEY] = now  # marks the session modified: saved, cookie renewed
        return response


class TrustedProxyClientAddressMiddleware:
    """Behind KARO_TRUSTED_PROXIES reverse proxies, the client's address is the entry that many
    places from the right of X-Forwarded-For (each proxy appends the address it received the
    request from; entries further left can be forged by the client). REMOTE_ADDR is set to it
    before anything reads it: the login throttle, the audit log. With no trusted proxy (the
    default) the header is ignored, so a client cannot choose its own address."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self.proxies = settings.KARO_TRUSTED_PROXIES

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if self.proxies:
            hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
            hops = [h for h in hops if h]
            if len(hops) >= self.proxies:
                request.META["REMOTE_ADDR"] = hops[-self.proxies]
        return self.get_response(request)


class MethodNotAllowedPageMiddleware:
    """A form-only address (approve, reject, settle...) opened in the address bar, or reloaded
    after its form came back with an error, answers 405 with no body, which the browser shows
    as a bare error. Give it the site's layout and a way back to the page the form is on (the
    address without its last part: /loans/12/reject/ -> /loans/12/). The API keeps its JSON."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code != 405
            or request.method != "GET"
            or response.content
            or request.path.startswith("/api/")
        ):
            return response
        back = request.path.rstrip("/").rsplit("/", 1)[0] + "/"
        try:
            resolve(back)
        except Resolver404:
            back = "/"
        page = render(request, "405.html", {"back": back}, status=405)
        page["Allow"] = response.get("Allow", "")
        return page


# What a form posted after its session ended is kept under, in the new (signed-out) session,
# until the same browser signs in again and opens the page the form was on.
RESTORE_KEY = "_form_after_sign_in"
RESTORE_MAX_AGE_SECONDS = 30 * 60
SESSION_ENDED_MESSAGE = (
    "Your session ended; nothing was recorded. Sign in and check the amount before posting again."
)
# Never kept: the form's CSRF token and one-time key (the form opened anew has fresh ones),
# and anything that could be a secret.
_NOT_KEPT = ("csrfmiddlewaretoken", "idempotency_key", "confirmed")
_SECRET_PARTS = ("password", "secret", "token")
_MAX_KEPT_FIELDS = 50
_MAX_KEPT_CHARS = 4000


def _kept_fields(request: HttpRequest) -> dict[str, list[str]]:
    kept: dict[str, list[str]] = {}
    for name, values in request.POST.lists():
        lowered = name.lower()
        if name in _NOT_KEPT or any(part in lowered for part in _SECRET_PARTS):
            continue
        if len(kept) >= _MAX_KEPT_FIELDS:
            break
        kept[name[:100]] = [value[:_MAX_KEPT_CHARS] for value in values[:20]]
    return kept


def _same_site_path(request: HttpRequest, url: str) -> str | None:
    """The path (and query) of `url` when it is an address on this site, else None."""
    if not url or not url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return None
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class SignedOutMiddleware:
    """What a signed-out browser gets instead of the login page where it does not belong.

    - An htmx request (a filter change on a list, a live preview) would swap the whole login
      page into the panel it updates: it is answered with `HX-Redirect` to the login page
      instead, `next` being the page the browser shows, so the whole page goes there.
    - A form posted after the session ended (a payment!) is not recorded: the login page says
      so, and the fields typed (minus the CSRF token, the one-time key and anything secret) are
      kept in the new session. Once signed in, back on the form's page, they are put back in
      the form (`static/js/app.js`, from `restored_form` in the page) with a note to check them.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if response.status_code != 302 or getattr(request, "user", None) is None:
            return response
        if request.user.is_authenticated or request.path.startswith("/api/"):
            return response
        login_url = resolve_url(settings.LOGIN_URL)
        if urlsplit(response["Location"]).path != login_url or request.path == login_url:
            return response
        if request.headers.get("HX-Request") == "true":
            shown = _same_site_path(request, request.headers.get("HX-Current-URL", ""))
            target = f"{login_url}?{urlencode({'next': shown or '/'})}"
            return HttpResponseClientRedirect(target)
        if request.method == "POST":
            # The page the form was on (the Referer: same-origin policy sends it whole).
            page = _same_site_path(request, request.headers.get("Referer", "")) or request.path
            request.session[RESTORE_KEY] = {
                "page": urlsplit(page).path,
                "action": request.path,
                "fields": _kept_fields(request),
                "at": int(time.time()),
            }
            messages.warning(request, SESSION_ENDED_MESSAGE)
            return redirect(f"{login_url}?{urlencode({'next': page})}")
        return response


def restored_form(request: HttpRequest) -> dict[str, Any] | None:
    """The fields of a form posted after its session ended, for the page it was on (once)."""
    session = getattr(request, "session", None)
    if (
        session is None
        or request.method != "GET"
        or request.headers.get("HX-Request") == "true"
        or not request.user.is_authenticated
        or RESTORE_KEY not in session
    ):
        return None
    kept = session[RESTORE_KEY]
    if int(time.time()) - int(kept.get("at", 0)) > RESTORE_MAX_AGE_SECONDS:
        del session[RESTORE_KEY]
        return None
    if kept.get("page") != request.path:
        return None
    del session[RESTORE_KEY]
    return {"action": kept["action"], "fields": kept["fields"]}
