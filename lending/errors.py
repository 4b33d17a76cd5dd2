"""Domain errors the services raise; views show them as messages, the API maps them to codes."""

from django.core.exceptions import ValidationError


class StateConflict(ValidationError):
    """The object is not in a state that allows the action (approve a non-pending loan, pay a
    closed one). Pages show the message; the API answers 409."""
