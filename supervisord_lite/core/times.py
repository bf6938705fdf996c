"""Wall-clock stamps as the wire carries them: RFC 3339 in UTC, to the microsecond."""

from __future__ import annotations

import time

# The date and time to the second change once a second: made then, not per stamp (a stamp is
# taken on each start, exit and event; strftime is most of its cost).
_second = -1
_prefix = ""


def rfc3339(t: float | None = None) -> str:
    """`t` (seconds since the epoch; now if None) as "2026-12-03T13:30:00.123456Z"."""
    global _second, _prefix
    if t is None:
        t = time.time()
    second = int(t)
    if second != _second:
        _prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _second = second
    return f"{_prefix}.{int((t - second) * 1_000_000):06d}Z"
