"""Page addresses are stable (staff bookmark and print them): see DESIGN.md "Page addresses"."""

from django.contrib import admin
from django.urls import include, path

from accounts import views as account_views
from lending.api import api

admin.site.site_header = "Ka-Ro LMS administration"
admin.site.site_title = "Ka-Ro LMS admin"
admin.site.index_title = "Users, roles, products and the audit log"
# The admin login goes through the same throttled, audited login page as the rest of the site.
admin.site.login = account_views.admin_login  # type: ignore[method-assign]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", api.urls),
    path("accounts/", include("accounts.urls")),
    path("ledger/", include("ledger.urls")),
    path("collections/", include("collecting.urls")),
    path("", include("reporting.urls")),
    path("", include("lending.urls")),
    path("", include("lending.urls_repayments")),
    path("", include("lending.urls_documents")),
    path("", include("lending.urls_officers")),
    path("", include("origination.urls")),
]

handler403 = "accounts.views.permission_denied"
handler404 = "accounts.views.page_not_found"
handler500 = "accounts.views.server_error"
