"""Session idle timeout without a database write on every request; client addresses behind
trusted reverse proxies; a page for a form's address opened in the browser."""

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import Resolver404, resolve

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
