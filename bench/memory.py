"""The daemon's RSS through create+start+join+release cycles of /bin/true (issue 12): flat when
release frees everything a process cost. tests/test_wire_release.py asserts the bound."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

WINDOW = 100  # cycles in flight at once


class _Raw(Protocol):
    def send_many(self, method: str, params: list[Any]) -> list[Any]: ...
    def close(self) -> None: ...


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def release_cycles(client: _Raw, pid: int, cycles: int, log: Callable[[str], None]) -> str:
    """Run `cycles` cycles (pipelined by windows); the RSS at a tenth of them and at the end."""
    target = {"argv": ["/bin/true"]}
    sample_at = max(WINDOW, cycles // 10 // WINDOW * WINDOW)
    sampled = 0
    for done in range(WINDOW, cycles + 1, WINDOW):
        ids = [p["id"] for p in client.send_many("process.create", [{"target": target}] * WINDOW)]
        client.send_many("process.start", [{"id": i, "output": "null"} for i in ids])
        client.send_many("process.join", [{"id": i} for i in ids])
        client.send_many("process.release", [{"id": i} for i in ids])
        if done == sample_at:
            sampled = rss_kib(pid)
        if done % 5000 == 0:
            log(f"bench: {done} cycles")
    end = rss_kib(pid)
    return f"{sampled} KiB at cycle {sample_at}, {end} KiB at {cycles} ({end - sampled:+d} KiB)"
