"""The clock the demo's history runs under (`lending.demo` alone uses it).

The services stamp what they write with `django.utils.timezone.now()` (audit entries, submitted
and decided times, bookings, receipts) and take "today" from `timezone.localdate()`, which
reads the same clock. To tell a branch's past ten months honestly, the demo runs each step of
that history through the ordinary services with the clock set to the step's moment: the
services' own checks (no payment dated in the future, no disbursement after today) then hold as
they held that day, and every stamp agrees with the history.

`history_clock()` swaps `timezone.now` for the demo's clock while it is open, and so do the
model fields whose default is `timezone.now` (a field keeps the function it was given, so
swapping the module's name alone would leave `created_at` at the real time). Everything is put
back on exit, exception or not. The clock never runs ahead of the real one and never goes
back: a step set later than the real time is stamped now, one set earlier than the previous
step keeps the previous step's time, so the audit log's times follow its order.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

from django.apps import apps
from django.utils import timezone


class HistoryClock:
    """The moment the services see; `set` moves it to the next step of the history."""

    def __init__(self, real_now: Callable[[], datetime]) -> None:
        self._real_now = real_now
        self.moment: datetime | None = None

    def set(self, moment: datetime) -> datetime:
        """Move to `moment` (an aware datetime), but not past the real time nor back before
        the previous step. Returns the moment the clock now shows."""
        moment = min(moment.astimezone(UTC), self._real_now())
        if self.moment is not None:
            moment = max(moment, self.moment)
        self.moment = moment
        return moment

    def now(self) -> datetime:
        return self.moment if self.moment is not None else self._real_now()


def _fields_defaulting_to(function: Callable[[], datetime]) -> list[Any]:
    return [
        field
        for model in apps.get_models()
        for field in model._meta.concrete_fields
        if field.default is function
    ]


def _set_default(field: Any, default: Callable[[], datetime]) -> None:
    field.default = default
    field.__dict__.pop("_get_default", None)  # Django caches the default's callable


@contextmanager
def history_clock() -> Iterator[HistoryClock]:
    """Within the block, `timezone.now()` (and with it `localdate()`, `auto_now` and the
    `default=timezone.now` fields) reads the yielded clock."""
    real_now = timezone.now
    clock = HistoryClock(real_now)

    def demo_now() -> datetime:
        return clock.now()

    fields = _fields_defaulting_to(real_now)
    setattr(timezone, "now", demo_now)  # noqa: B010 (a module attribute, on purpose)
    for field in fields:
        _set_default(field, demo_now)
    try:
        yield clock
    finally:
        setattr(timezone, "now", real_now)  # noqa: B010
        for field in fields:
            _set_default(field, real_now)
