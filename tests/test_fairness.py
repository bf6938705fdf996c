"""A misbehaving client costs itself, never the others: while each misbehaver of tests/misbehave.py
runs, a probe client on its own connection is answered every time, and the daemon's memory stays
within bounds. (The probe's latencies are printed by `make stress`, not asserted here.)"""

from __future__ import annotations

import pytest

from tests.conftest import Daemon
from tests.misbehave import CONNECTIONS, SCENARIOS, measure

MIB = 1024


@pytest.mark.timeout(120)
# big-lines is left to `make stress`: each of its lines costs the loop one parse of 4 MiB (tens of
# ms here), so a probe behind it is slow by design (see docs/security.md, "Input and resources").
@pytest.mark.parametrize("scenario", [s for s in SCENARIOS if s != "big-lines"])
def test_a_misbehaving_client_does_not_hold_up_the_others(daemon: Daemon, scenario: str) -> None:
    m = measure(scenario, str(daemon.socket_path), daemon.proc.pid, calls=300)
    assert m.misbehaver_alive, f"{scenario}: the misbehaver stopped (its own check failed?)"
    # At most 64 MiB per misbehaving connection, and never more than the partial-line budget
    # (64 MiB) plus 64 MiB in all: 20 connections holding 4 MiB each do not cost 80 MiB.
    assert m.rss_growth_kib <= 64 * MIB * min(CONNECTIONS[scenario], 2), m
    print(f"{scenario}: probe p50 {m.p50_ms:.2f} ms, p99 {m.p99_ms:.2f} ms")
    assert daemon.proc.poll() is None
    log = daemon.stderr()
    if scenario == "half-lines":
        assert "buffer budget" in log, log  # the oldest stalled ones were closed, and said so
    assert "Traceback" not in log, log
