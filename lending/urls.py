"""Lending pages. Names and paths are fixed: other features and bookmarks link to them."""

from django.urls import path

from lending.views import borrowers, calculator, loans, recoveries, waivers
from lending.views import calendar as working_days

urlpatterns = [
    path("borrowers/", borrowers.borrower_list, name="borrower_list"),
    path("borrowers/new/", borrowers.borrower_create, name="borrower_create"),
    path("borrowers/search/", borrowers.borrower_search, name="borrower_search"),
    path("borrowers/<int:pk>/", borrowers.borrower_detail, name="borrower_detail"),
    path("borrowers/<int:pk>/edit/", borrowers.borrower_update, name="borrower_update"),
    path("borrowers/<int:pk>/transfer/", borrowers.borrower_transfer, name="borrower_transfer"),
    path("loans/", loans.loan_list, name="loan_list"),
    path("loans/apply/", loans.loan_apply, name="loan_apply"),
    path("loans/<int:pk>/", loans.loan_detail, name="loan_detail"),
    path("loans/<int:pk>/approve/", loans.loan_approve, name="loan_approve"),
    path("loans/<int:pk>/reject/", loans.loan_reject, name="loan_reject"),
    path("loans/<int:pk>/withdraw/", loans.loan_withdraw, name="loan_withdraw"),
    path("loans/<int:pk>/write-off/", loans.loan_write_off, name="loan_write_off"),
    path("loans/<int:pk>/write-off/undo/", loans.loan_write_off_undo, name="loan_write_off_undo"),
    path("loans/<int:pk>/disburse/", loans.loan_disburse, name="loan_disburse"),
    path("loans/<int:pk>/approve/undo/", loans.loan_approval_undo, name="loan_approval_undo"),
    path(
        "loans/<int:pk>/disburse/undo/", loans.loan_disbursement_undo, name="loan_disbursement_undo"
    ),
    path("loans/<int:pk>/waive/", waivers.loan_waive, name="loan_waive"),
    path("loans/<int:pk>/recoveries/new/", recoveries.recovery_create, name="recovery_create"),
    path("calculator/", calculator.calculator, name="calculator"),
    path("working-days/", working_days.working_days, name="working_days"),
    path(
        "working-days/weekdays/",
        working_days.working_days_weekdays,
        name="working_days_weekdays",
    ),
    path("working-days/holidays/", working_days.holiday_add, name="holiday_add"),
    path(
        "working-days/holidays/<int:pk>/remove/",
        working_days.holiday_remove,
        name="holiday_remove",
    ),
    path("working-days/reschedule/", working_days.loans_reschedule, name="loans_reschedule"),
]
