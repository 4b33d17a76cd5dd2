"""Dashboard at "/" and the reports under /reports/ (addresses are stable: staff bookmark them).
Each report's CSV is the same address with `?format=csv`."""

from django.urls import path

from reporting import views

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("reports/", views.reports, name="reports"),
    path("reports/aging/", views.report_aging, name="report_aging"),
    path("reports/collections/", views.report_collections, name="report_collections"),
    path("reports/disbursements/", views.report_disbursements, name="report_disbursements"),
    path("reports/officers/", views.report_officers, name="report_officers"),
]
