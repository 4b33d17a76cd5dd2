"""The longest text each input takes, one number for the page form and the API alike.

Model fields with a `max_length` carry their own (the forms and schemas use the same); these
are the limits of free-text fields the database would store at any length (`TextField`).
"""

ADDRESS_MAX_LENGTH = 2000
NOTES_MAX_LENGTH = 2000
# Rejecting, withdrawing, writing off or reversing: one reason, stored with the decision.
REASON_MAX_LENGTH = 2000
SEARCH_MAX_LENGTH = 100

# A payment's one-time key, from the payment form or the API's Idempotency-Key header: printable
# ASCII, no spaces. Stored namespaced by its user (`form:<id>:<key>`, `api:<id>:<key>`).
IDEMPOTENCY_KEY_MAX_LENGTH = 64
IDEMPOTENCY_KEY_PATTERN = r"^[!-~]{1,64}$"
