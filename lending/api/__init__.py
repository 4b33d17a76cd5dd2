"""The JSON API under /api/ (DESIGN.md "Web API"), built with django-ninja.

It is a thin layer: schemas validate and convert input, then the same services and selectors
as the pages do the work, so a rule lives in one place. Every operation except the token
endpoints needs a bearer access token (`lending.api.auth`) and the permission of the role
matrix; errors are JSON (`lending.api.errors`). The schema is at /api/openapi.json and the
docs page at /api/docs (Swagger UI served from our own static files, so it works offline and
under the strict Content-Security-Policy).
"""

from ninja import NinjaAPI, Swagger
from ninja.operation import Operation

from collecting import api as collecting_api
from lending.api import auth, borrowers, errors, ledger, loans, repayments, reports


class KaroAPI(NinjaAPI):
    def get_openapi_operation_id(self, operation: Operation) -> str:
        """Short, stable ids (`create_loan`), which generated clients use as method names."""
        return operation.view_func.__name__


api = KaroAPI(
    title="Ka-Ro LMS API",
    version="1",
    description=(
        "Borrowers, loans, schedules, repayments and the portfolio summary of Ka-Ro LMS. "
        "Get a token with `POST /api/auth/token`, then send `Authorization: Bearer <access>`. "
        'Amounts are decimal strings ("1250.00"). Errors are `{"detail": ...}`; invalid '
        'input (422) lists `{"field", "message"}` pairs.'
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
api.add_router("/reports", reports.router)
api.add_router("", collecting_api.router)
