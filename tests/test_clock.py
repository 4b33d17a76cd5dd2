"""The fixed-clock runs of `.ci/run` (under `faketime`) really run at the time they name.

`.ci/run` sets KARO_FAKE_CLOCK to the UTC time it gives `faketime`; the clock then runs on
from there, so a test worker sees that time plus the minutes the run has taken so far.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

FAKE_CLOCK = os.environ.get("KARO_FAKE_CLOCK", "")


@pytest.mark.skipif(
    not FAKE_CLOCK, reason="KARO_FAKE_CLOCK is not set: only the fixed-clock runs of .ci/run set it"
)
def test_the_fixed_clock_is_in_effect() -> None:
    start = datetime.fromisoformat(FAKE_CLOCK).replace(tzinfo=UTC)
    now = timezone.now()
    print(f"clock: {now:%Y-%m-%d %H:%M:%S} UTC, today in TIME_ZONE: {timezone.localdate()}")
    assert start <= now < start + timedelta(hours=1)
