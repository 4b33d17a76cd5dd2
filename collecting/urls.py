"""Collections pages under /collections/ (DESIGN.md "Page addresses")."""

from django.urls import path

from collecting import views, views_close, views_imports, views_reminders

urlpatterns = [
    path("", views.collection_sheet, name="collection_sheet"),
    path("sheet.pdf", views.collection_sheet_pdf, name="collection_sheet_pdf"),
    path("post/", views.collection_sheet_submit, name="collection_sheet_submit"),
    path("daily-close/", views_close.day_close_page, name="day_close"),
    path("daily-close/run/", views_close.day_close_run, name="day_close_run"),
    path("imports/", views_imports.payment_import_list, name="payment_import_list"),
    path("imports/<int:pk>/", views_imports.payment_import_detail, name="payment_import_detail"),
    path(
        "imports/<int:pk>/progress/",
        views_imports.payment_import_progress,
        name="payment_import_progress",
    ),
    path(
        "imports/<int:pk>/commit/",
        views_imports.payment_import_commit_view,
        name="payment_import_commit",
    ),
    path(
        "imports/<int:pk>/report.csv",
        views_imports.payment_import_report,
        name="payment_import_report",
    ),
    path("reminders/", views_reminders.reminder_outbox, name="reminder_outbox"),
]
