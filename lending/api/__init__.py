"""The JSON API under /api/ (DESIGN.md "Web API"), built with django-ninja.

It is a thin layer: schemas validate and convert input, then the same services and selectors
as the pages do the work, so a rule lives in one place. Every operation except the token
endpoints needs a bearer access token (`lending.api.auth`) and the permission of the role
matrix; errors are JSON (`lending.api.errors`). The schema is at /api/openapi.json and the
docs page at /api/docs (Swagger UI served from our own static files, so it works offline and
under the strict Content-Security-Policy).
"""

from typing import Any

from django.urls import URLPattern, URLResolver, re_path
from ninja import NinjaAPI, Swagger
from ninja.openapi.schema import OpenAPISchema
from ninja.operation import Operation

from collecting import api as collecting_api
from lending.api import (
    adjustments,
    auth,
    borrowers,
    errors,
    ledger,
    loans,
    officers,
    repayments,
    reports,
)


class KaroAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        """Short, stable ids (`create_loan`), which generated clients use as method names."""
        return operation.view_func.__name__

    def _get_urls(self) -> list[URLResolver | URLPattern]:
        """Every answer under /api/ is JSON: a method an address does not take is a JSON 405
        (with `Allow`), and /api/ itself or an address with no operation a JSON 404."""
        urls: list[URLResolver | URLPattern] = []
        for url in super()._get_urls():
            if isinstance(url, URLPattern) and url.name == "api-root":
                url.callback = errors.unknown_address
            elif isinstance(url, URLPattern):
                url.callback = errors.json_method_not_allowed(url.callback)
            urls.append(url)
        urls.append(re_path(r"^.*$", errors.unknown_address, name="api-unknown"))
        return urls

    def get_openapi_schema(self, *args: Any, **kwargs: Any) -> OpenAPISchema:
        """An optional body is described as its schema with `required: false`, not as "the
        schema or null": a JSON `null` body is not what such an operation takes, and generated
        clients (openapi-python-client) otherwise send their "unset" marker as the body."""
        schema = super().get_openapi_schema(*args, **kwargs)
        for item in schema["paths"].values():
            for operation in item.values():
                body = operation.get("requestBody")
                if body is None or body.get("required", True):
                    continue
                for content in body["content"].values():
                    options = content["schema"].get("anyOf", [])
                    kept = [option for option in options if option != {"type": "null"}]
                    if len(options) == 2 and len(kept) == 1:
                        content["schema"] = kept[0]
        return schema


api = KaroAPI(
    title="Ka-Ro LMS API",
    version="1",
    description=(
        "Borrowers, loans, schedules, repayments and the portfolio summary of Ka-Ro LMS. "
        "Get a token with `POST /api/auth/token`, then send `Authorization: Bearer <access>`. "
        'Amounts are decimal strings ("1250.00"). Errors are `{"detail": ...}`; invalid '
        'input (422) lists `{"field", "message"}` pairs, an unknown field among them. '
        "Idempotency-Key headers are per user; reusing one with a different body is a 409."
    ),
    urls_namespace="api",
    openapi_url="/openapi.json",
    docs_url="/docs",
    docs=Swagger(settings={"persistAuthorization": False, "tryItOutEnabled": False}),
    auth=auth.JWTAuth(),
    parser=errors.ExactJSONParser(),
)
errors.install(api)
api.add_router("/auth", auth.router)
api.add_router("/borrowers", borrowers.router)
api.add_router("", loans.router)
api.add_router("", repayments.router)
api.add_router("", ledger.router)
api.add_router("", officers.router)
api.add_router("", adjustments.router)
api.add_router("/reports", reports.router)
api.add_router("", collecting_api.router)
