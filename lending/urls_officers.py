"""Loan officers' pages: their portfolio, their approvals, and the Admin's reassignment."""

from django.urls import path

from lending.views import officers

urlpatterns = [
    path("portfolio/", officers.my_portfolio, name="my_portfolio"),
    path("approvals/", officers.waiting_for_approval, name="waiting_for_approval"),
    path("officers/reassign/", officers.officers_reassign_page, name="officers_reassign"),
]
