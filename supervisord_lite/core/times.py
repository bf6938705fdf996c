"""Wall-clock stamps as the wire carries them: RFC 3339 in UTC, to the microsecond."""

from __future__ import annotations

import datetime
import time


def rfc3339(t: float | None = None) -> str:
    """`t` (seconds since the epoch; now if None) as "2026-12-03T13:30:00.123456Z"."""
    when = datetime.datetime.fromtimestamp(time.time() if t is None else t, datetime.UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
