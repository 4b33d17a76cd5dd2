"""General ledger pages under /ledger/ (addresses are stable: staff bookmark them). Each
report's CSV is the same address with `?format=csv`."""

from django.urls import path

from ledger import views

urlpatterns = [
    path("", views.trial_balance, name="ledger_trial_balance"),
    path("accounts/<str:code>/", views.account_ledger, name="ledger_account"),
    path("journal/", views.journal, name="ledger_journal"),
    path("journal/new/", views.journal_entry_new, name="ledger_journal_new"),
    path("close/", views.books_close_page, name="ledger_close"),
]
