"""A Paginator that counts its list once per portfolio change.

Counting every loan that matches a filter is the most expensive query of a list page on a
large portfolio (the whole table for the unfiltered list). The total is kept in the cache
under the exact SQL of the count and the portfolio generation (`lending.receivers`), which
changes when any loan or borrower changes, so the number shown is never stale.
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.core.cache import cache
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.utils.functional import cached_property

from lending.receivers import portfolio_generation

COUNT_SECONDS = 10 * 60


class CachedCountPaginator(Paginator):
    object_list: QuerySet[Any]

    @cached_property
    def count(self) -> int:
        sql, params = self.object_list.query.sql_with_params()
        digest = hashlib.sha256(repr((sql, params)).encode()).hexdigest()
        key = f"count:{portfolio_generation()}:{digest}"
        total = cache.get(key)
        if total is None:
            total = self.object_list.count()
            cache.set(key, total, COUNT_SECONDS)
        return int(total)
