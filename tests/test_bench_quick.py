"""`make bench QUICK=1` runs to the end and prints its table. Figures are not checked: a benchmark
is not a test (bench/README.md has the figures of a full run)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.timeout(240)  # a quick run takes ~15 s; the first one also installs supervisor
def test_make_bench_quick_runs_and_prints_the_table() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MAKE", "MFLAGS"))}
    env.pop("SUPERVISORD_LITE_SOCKET", None)
    done = subprocess.run(
        ["make", "--no-print-directory", "bench", "QUICK=1"],
        cwd=REPO,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=230,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    out = done.stdout
    assert "| what | anchor | anchor | ours | ours/anchor | target |" in out
    for row in (
        "round trip of process.getName, one client, across two CPUs",
        "same, client and servers on one CPU",
        "calls/s of process.getName, 8 concurrent clients",
        'create+start+join of argv ["/bin/true"]',
        "same, the floor: bench/floor_server.py",
        "same, the floor with a keeper: bench/floor_keeper.py",
        "create+start+join of a no-op Python function",
        "the function defined in the __main__ script",
        "processes started concurrently then joined",
        "sleeping children: daemon threads | 1 |",
        "sleeping children: daemon wake-ups",
        "cycles of /bin/true with process.release | ",
    ):
        assert row in out, out
    assert "supervisord" in out
