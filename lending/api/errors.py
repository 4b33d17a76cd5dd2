"""How the API turns exceptions into JSON answers.

Every error is `{"detail": "..."}`, except invalid input (422), which names each field:
`{"detail": [{"field": "principal", "message": "..."}]}`. The services raise the same
exceptions for the pages and the API; only here do they become status codes:

- `ninja.errors.ValidationError` (the body, query or path does not fit the schema) → 422;
- `django.core.exceptions.ValidationError` from a service → 422 with its `message_dict`;
- `lending.errors.StateConflict` (wrong state: approve a non-pending loan, pay a closed one)
  and `ledger.services.BooksClosed` (a value date in closed books) → 409;
- `PermissionDenied` (role or four eyes) → 403; `Http404` → 404, worded "Loan not found."
  on every route (`lending.api.common.not_found`);
- `BadRequest` and `SuspiciousOperation` (Django's own refusals of a request) → 400;
- `TokenInvalid` and a missing token → 401 with a `WWW-Authenticate` header;
- a method an address does not take → 405 with `Allow`, and an address with no operation
  (`/api/` itself included) → 404, both JSON like the rest (`KaroAPI._get_urls`);
- anything else is a bug: logged like Django logs a 500 (`django.request`, with the
  traceback), answered `{"detail": ...}` with 500 so clients still get JSON.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.core.exceptions import BadRequest, PermissionDenied, SuspiciousOperation
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as SchemaValidationError
from ninja.parser import Parser

from ledger.services import BooksClosed
from lending.errors import StateConflict

if TYPE_CHECKING:
    from ninja import NinjaAPI

Handler = Callable[[HttpRequest, Any], HttpResponse]

request_logger = logging.getLogger("django.request")

# Service errors name model fields; the API calls the same inputs by their JSON names.
FIELD_NAMES = {"borrower": "borrower_id", "product": "product_id", "loan": "loan_id"}
# Plain words for inputs whose only rule is a pattern (pydantic would quote the regex).
PATTERN_MESSAGES = {
    "Idempotency-Key": "Use 1 to 64 printable ASCII characters without spaces, such as a UUID."
}
# What pydantic calls a field the schema does not have.
UNKNOWN_FIELD = "Unknown field: it is not part of this request (check its spelling in /api/docs)."
# Django's own wording of a 404 (`get_object_or_404` in a shared selector), said the API's way.
_DJANGO_404 = re.compile(r"^No (\w+) matches the given query\.$")
# Where ninja says an input came from; not part of the field name a client sees.
_LOCATIONS = {"body", "query", "path", "header", "cookie", "form", "payload", "filters"}


class TokenInvalid(AuthenticationError):
    """A bearer token that is malformed, expired, of the wrong type or for a disabled user."""

    def __init__(self, message: str) -> None:
        super().__init__(401, message)


class LockedOut(HttpError):
    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(429, message)
        self.retry_after = retry_after


# Far beyond any amount or count the API takes, far below what is costly to turn into an int.
_MAX_MAGNITUDE = 40


def _exact_number(text: str) -> Decimal:
    """A JSON number with a fraction or exponent, exactly. Absurd magnitudes (`1e999999999`)
    become infinite, so no validator ever expands them into a billion-digit integer."""
    value = Decimal(text)
    if value.adjusted() > _MAX_MAGNITUDE:
        return Decimal("-Infinity") if value.is_signed() else Decimal("Infinity")
    return value


class ExactJSONParser(Parser):
    """JSON numbers become exact Decimals (never floats); NaN, Infinity and absurdly large
    numbers become non-finite Decimals that the schemas refuse with the field named."""

    def parse_body(self, request: HttpRequest) -> Any:
        return json.loads(request.body, parse_float=_exact_number, parse_constant=Decimal)


def _field_from_loc(loc: list[Any] | tuple[Any, ...]) -> str | None:
    parts = [str(part) for part in loc if str(part) not in _LOCATIONS]
    return ".".join(parts) or None


def _message(error: dict[str, Any]) -> str:
    msg = str(error.get("msg", "Invalid value."))
    return msg.removeprefix("Value error, ")


def schema_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = []
    for error in errors:
        field = _field_from_loc(error.get("loc", ()))
        message = _message(error)
        if field is None and error.get("type") == "missing":
            message = "Send a JSON object as the request body."
        elif error.get("type") == "extra_forbidden":
            message = UNKNOWN_FIELD
        elif error.get("type") == "string_pattern_mismatch" and field in PATTERN_MESSAGES:
            message = PATTERN_MESSAGES[field]
        out.append({"field": field, "message": message})
    return out


def service_errors(exc: DjangoValidationError) -> list[dict[str, Any]]:
    if hasattr(exc, "error_dict"):
        return [
            {
                "field": None if name == "__all__" else FIELD_NAMES.get(name, name),
                "message": message,
            }
            for name, messages in exc.message_dict.items()
            for message in messages
        ]
    return [{"field": None, "message": message} for message in exc.messages]


@csrf_exempt
def unknown_address(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
    """/api/ itself and any address under it with no operation: a JSON 404 that says where
    the operations are listed."""
    return JsonResponse(
        {"detail": f"There is no API operation at {request.path}: see /api/docs."}, status=404
    )


def json_method_not_allowed(view: Callable[..., Any]) -> Callable[..., Any]:
    """`view` with its 405 (a method the address does not take) answered in JSON, `Allow`
    kept."""

    def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> Any:
        response = view(request, *args, **kwargs)
        if response.status_code != 405 or response.get("Content-Type", "").startswith(
            "application/json"
        ):
            return response
        allowed = response.get("Allow", "")
        answer = JsonResponse(
            {"detail": f"{request.method} is not allowed here; this address takes {allowed}."},
            status=405,
        )
        answer["Allow"] = allowed
        return answer

    wrapped.csrf_exempt = True  # type: ignore[attr-defined]  # as ninja's own views are
    return wrapped


def install(api: NinjaAPI) -> None:
    def respond(request: HttpRequest, body: Any, status: int) -> HttpResponse:
        return api.create_response(request, body, status=status)

    def on_schema_error(request: HttpRequest, exc: SchemaValidationError) -> HttpResponse:
        return respond(request, {"detail": schema_errors(exc.errors)}, 422)

    def on_service_error(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        return respond(request, {"detail": service_errors(exc)}, 422)

    def on_conflict(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
        return respond(request, {"detail": " ".join(exc.messages)}, 409)

    def on_forbidden(request: HttpRequest, exc: PermissionDenied) -> HttpResponse:
        message = str(exc) or "Your role does not allow this action."
        return respond(request, {"detail": message}, 403)

    def on_bad_request(request: HttpRequest, exc: Exception) -> HttpResponse:
        return respond(request, {"detail": str(exc) or "Bad request."}, 400)

    def on_not_found(request: HttpRequest, exc: Http404) -> HttpResponse:
        message = _DJANGO_404.sub(r"\1 not found.", str(exc)) or "Not found."
        return respond(request, {"detail": message}, 404)

    def on_unauthenticated(request: HttpRequest, exc: AuthenticationError) -> HttpResponse:
        if isinstance(exc, TokenInvalid):
            message = exc.message
            challenge = 'Bearer error="invalid_token"'
        else:
            message = "Send an access token: Authorization: Bearer <token> (POST /api/auth/token)."
            challenge = "Bearer"
        response = respond(request, {"detail": message}, 401)
        response["WWW-Authenticate"] = challenge
        return response

    def on_locked_out(request: HttpRequest, exc: LockedOut) -> HttpResponse:
        response = respond(request, {"detail": exc.message}, 429)
        response["Retry-After"] = str(exc.retry_after)
        return response

    def on_bug(request: HttpRequest, exc: Exception) -> HttpResponse:
        request_logger.error(
            "Internal Server Error: %s",
            request.path,
            exc_info=exc,
            extra={"status_code": 500, "request": request},
        )
        return respond(request, {"detail": "Something went wrong on our side; it is logged."}, 500)

    handlers: list[tuple[type[Exception], Handler]] = [
        (Exception, on_bug),
        (SchemaValidationError, on_schema_error),
        (DjangoValidationError, on_service_error),
        (StateConflict, on_conflict),
        (BooksClosed, on_conflict),
        (PermissionDenied, on_forbidden),
        (Http404, on_not_found),
        (BadRequest, on_bad_request),
        (SuspiciousOperation, on_bad_request),
        (AuthenticationError, on_unauthenticated),
        (LockedOut, on_locked_out),
    ]
    for exc_class, handler in handlers:
        api.add_exception_handler(exc_class, handler)
