"""Collections pages under /collections/ (DESIGN.md "Page addresses")."""

from django.urls import path

from collecting import views

urlpatterns = [
    path("", views.collection_sheet, name="collection_sheet"),
    path("sheet.pdf", views.collection_sheet_pdf, name="collection_sheet_pdf"),
    path("post/", views.collection_sheet_submit, name="collection_sheet_submit"),
]
