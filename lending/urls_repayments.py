"""Repayments, payoff quotes, settlement and receipts (owned by the repayments feature).

Names and paths are fixed: the loan page links to them and staff bookmark receipts."""

from django.urls import path

from lending.views import receipts, repayments

urlpatterns = [
    path("repayments/", repayments.repayment_list, name="repayment_list"),
    path("repayments/export.csv", repayments.repayment_export, name="repayment_export"),
    path("repayments/<int:pk>/", repayments.repayment_detail, name="repayment_detail"),
    path(
        "repayments/<int:pk>/reverse/",
        repayments.repayment_reverse_view,
        name="repayment_reverse",
    ),
    path("loans/<int:pk>/repayments/new/", repayments.repayment_create, name="repayment_create"),
    path("loans/<int:pk>/payoff/", repayments.loan_payoff, name="loan_payoff"),
    path("loans/<int:pk>/settle/", repayments.loan_settle_view, name="loan_settle"),
    path("receipts/<str:number>.pdf", receipts.receipt_pdf, name="receipt_pdf"),
    path("receipts/<str:number>/", receipts.receipt_detail, name="receipt_detail"),
]
