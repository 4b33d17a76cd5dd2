"""Signals the lending services send after a change, for code that reacts to it (caches).

Sent inside the service's transaction; receivers that touch anything outside the database
defer their work with `transaction.on_commit`.
"""

from django.dispatch import Signal

# Any change to a loan's money or status. kwargs: loan_id, event (str).
loan_changed = Signal()
# The same for many loans at once, from set-wise writers (the daily close). kwargs: loan_ids
# (list of int), event (str).
loans_changed = Signal()
# kwargs: repayment (the Repayment row), loan_id.
repayment_recorded = Signal()
repayment_reversed = Signal()
# A borrower was registered or changed. kwargs: borrower_id.
borrower_changed = Signal()
