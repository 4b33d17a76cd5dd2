"""The product's URLs plus `/bench/bare/`: the baseline every page is compared with."""

from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from lending.models import Borrower


def bare_view(request: HttpRequest) -> HttpResponse:
    """A Django view that runs one query and returns a small page; the same middleware
    (sessions, CSRF, CSP...) runs around it as around every page."""
    first = Borrower.objects.order_by("pk").values_list("number", flat=True).first()
    return HttpResponse(f"<!doctype html><title>bare</title><p>{first}</p>")


urlpatterns = [
    path("bench/bare/", bare_view),
    path("", include("karo.urls")),
]

handler403 = "accounts.views.permission_denied"
handler404 = "accounts.views.page_not_found"
handler500 = "accounts.views.server_error"
