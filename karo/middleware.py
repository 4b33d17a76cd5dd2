"""Two rules for every page behind sign-in and every answer of the API, and one request-wide
cache helper.

- `ControlCharactersMiddleware`: a query string with a control character (a NUL in a search,
  an admin filter, a report's dates) is a 400 before any view runs it into a query, where
  PostgreSQL would fail on the NUL. A form's body is the form's to judge (an address pasted
  with a vertical tab gets an error next to the field, `karo.inputs.InputRulesMixin`), but a
  NUL is refused here too, for the forms that are not ours (admin, sign-in). The API reads its
  own input and answers 422 naming the field, so it is left alone.
- `NoStoreMiddleware`: what a signed-in user sees (pages, receipt PDFs, CSV exports) and every
  API answer (bearer-token data, tokens themselves) is marked `Cache-Control: no-store`, so no
  browser or shared cache keeps a copy after sign-out. Static files (served before this runs)
  and the sign-in page keep their own headers.
- `ReadAheadMiddleware`: the keys read ahead with the signed-in user's access are kept for
  this request only (`karo.caching`, reading ahead).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, QueryDict
from django.utils.cache import add_never_cache_headers

from karo.caching import reading_ahead
from karo.inputs import CONTROL_CHARACTERS

API_PREFIX = "/api/"


def _has(params: QueryDict, check: Callable[[str], bool]) -> bool:
    items: Iterable[tuple[str, list[str]]] = params.lists()
    return any(check(key) or any(check(v) for v in values) for key, values in items)


def _control(text: str) -> bool:
    return CONTROL_CHARACTERS.search(text) is not None


def _nul(text: str) -> bool:
    return "\x00" in text


class ControlCharactersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if not request.path.startswith(API_PREFIX):
            if _has(request.GET, _control):
                return HttpResponseBadRequest(
                    "The address has a control character (such as NUL) in its search or "
                    "filters; remove it and try again.",
                    content_type="text/plain; charset=utf-8",
                )
            if request.method == "POST" and _has(request.POST, _nul):
                return HttpResponseBadRequest(
                    "The form has a NUL character in it; remove it and send the form again.",
                    content_type="text/plain; charset=utf-8",
                )
        return self.get_response(request)


class NoStoreMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        user = getattr(request, "user", None)
        signed_in = user is not None and user.is_authenticated
        if signed_in or request.path.startswith(API_PREFIX):
            add_never_cache_headers(response)
        return response


class ReadAheadMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with reading_ahead():
            return self.get_response(request)
