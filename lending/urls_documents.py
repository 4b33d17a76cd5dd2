"""Documents printed for a borrower (lending/views/documents.py): the loan statement and the
payoff quote letter, each a page and its PDF."""

from django.urls import path

from lending.views import documents

urlpatterns = [
    path("loans/<int:pk>/statement/", documents.loan_statement_page, name="loan_statement"),
    path("loans/<int:pk>/statement.pdf", documents.loan_statement_pdf, name="loan_statement_pdf"),
    path("loans/<int:pk>/payoff/letter/", documents.payoff_letter_page, name="loan_payoff_letter"),
    path(
        "loans/<int:pk>/payoff/letter.pdf",
        documents.payoff_letter_pdf,
        name="loan_payoff_letter_pdf",
    ),
]
