"""Origination pages, under the borrower and loan addresses they belong to."""

from django.urls import path

from origination import views

urlpatterns = [
    path("borrowers/<int:pk>/documents/new/", views.document_upload, name="document_upload"),
    path(
        "borrowers/<int:pk>/documents/<int:document_pk>/",
        views.document_download,
        name="document_download",
    ),
    path(
        "borrowers/<int:pk>/documents/<int:document_pk>/delete/",
        views.document_delete,
        name="document_delete",
    ),
    path("loans/<int:pk>/guarantors/new/", views.guarantor_add, name="guarantor_add"),
    path(
        "loans/<int:pk>/guarantors/<int:guarantor_pk>/remove/",
        views.guarantor_remove,
        name="guarantor_remove",
    ),
    path("loans/<int:pk>/collateral/new/", views.collateral_add, name="collateral_add"),
    path(
        "loans/<int:pk>/collateral/<int:collateral_pk>/remove/",
        views.collateral_remove,
        name="collateral_remove",
    ),
]
