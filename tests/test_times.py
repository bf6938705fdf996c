"""RFC 3339 stamps: the cached second and the microseconds."""

from __future__ import annotations

import datetime

from supervisord_lite.core.times import rfc3339


def test_stamps_match_datetime_to_the_microsecond() -> None:
    for t in (0.0, 1.5, 1764768600.123456, 1764768600.999999, 1764768601.000001, 1.5):
        want = datetime.datetime.fromtimestamp(t, datetime.UTC)
        got = datetime.datetime.strptime(rfc3339(t), "%Y-%m-%dT%H:%M:%S.%fZ")
        assert abs(got.replace(tzinfo=datetime.UTC) - want) <= datetime.timedelta(microseconds=1)
    assert rfc3339().endswith("Z") and len(rfc3339()) == 27
