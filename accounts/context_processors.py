from typing import Any

from django.conf import settings
from django.http import HttpRequest


def institution(request: HttpRequest) -> dict[str, Any]:
    return {
        "INSTITUTION_NAME": settings.KARO_INSTITUTION_NAME,
        "CURRENCY": settings.KARO_CURRENCY,
    }
