from typing import Any

from django.conf import settings
from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from accounts.backends import user_access


def institution(request: HttpRequest) -> dict[str, Any]:
    return {
        "INSTITUTION_NAME": settings.KARO_INSTITUTION_NAME,
        "CURRENCY": settings.KARO_CURRENCY,
        # The signed-in user's role names for the header, from the cached access.
        "ROLES": SimpleLazyObject(lambda: user_access(request.user).roles),
    }
