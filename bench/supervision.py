"""The supervision rows: a crashing program's restart (its exit to the next run's start) and the
latency of `process.logs` follow (a child's write to the client's read)."""

from __future__ import annotations

import contextlib
import datetime
import itertools
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from bench.run import Plan, Raw, Row


def _ts(stamp: str) -> float:
    return (
        datetime.datetime.strptime(stamp, "%Y-%m-%dT%H:%M:%S.%fZ")
        .replace(tzinfo=datetime.UTC)
        .timestamp()
    )


def newest_seq(c: Raw) -> int:
    """The seq of the newest event, as a reader that joins late finds it: from the oldest kept
    (the answer 1015 names it when earlier rows made more events than the ring holds)."""
    resp = c.roundtrip(c.request("events.read", {"since": 0, "timeout": 0}))
    since = resp["error"]["data"]["oldest"] - 1 if "error" in resp else 0
    while True:
        page = c.call("events.read", {"since": since, "timeout": 0, "limit": 10000})
        if page["next"] == since:
            return since
        since = page["next"]


def restart(plan: Plan, c: Raw) -> Row:
    """A program that exits 1 at once, restart_delay 0: from each run's process.exited event to
    the next run's process.started (the daemon's own stamps), against systemd's documented
    RestartSec= default, 100 ms, the delay below which systemd does not go unless told."""
    from bench.run import Row

    runs = max(10, plan.spawn_runs)
    since = newest_seq(c)
    c.call("program.add", {"name": "bench-crash", "target": {"argv": ["/bin/false"]},
                           "restart_delay": 0, "restart_max_delay": 0, "max_restarts": runs + 5,
                           "restart_window": 3600, "output": "null"})  # fmt: skip
    exited: dict[int, float] = {}
    gaps: list[float] = []
    started = 0
    deadline = time.monotonic() + 60
    while started < runs and time.monotonic() < deadline:
        r = c.call("events.read", {"since": since, "timeout": 10})
        since = r["next"]
        for e in r["events"]:
            if e.get("program") != "bench-crash":
                continue
            if e["type"] == "process.exited":
                exited[e["id"]] = _ts(e["ts"])
            elif e["type"] == "process.started":
                started += 1
                previous = [t for i, t in exited.items() if i < e["id"]]
                if previous:
                    gaps.append(_ts(e["ts"]) - max(previous))
    c.call("program.remove", {"name": "bench-crash"})
    ours = statistics.median(gaps) if gaps else None
    return Row("restart a crashing program (exit → next start)",
               "systemd RestartSec= default (documented)", "ms", 0.1, ours,
               "below 100", note="restart_delay 0")  # fmt: skip


def follow_latency(plan: Plan, c: Raw) -> Row:
    """`cat` reading a fifo, its output captured ("log"); the client follows its log. Each round:
    a line written to the fifo, then the time until the follow call answers with it. The anchor:
    the same line through `cat` on plain pipes (write, then read its echo)."""
    from bench.run import Row

    rounds = max(10, plan.spawn_runs)
    with tempfile.TemporaryDirectory(prefix="sl-bench-f-") as tmp:
        fifo = Path(tmp) / "in"
        os.mkfifo(fifo)
        p = c.call("process.create", {"target": {"argv": ["cat", str(fifo)]}})["id"]
        c.call("process.start", {"id": p, "output": "log"})
        w = os.open(fifo, os.O_WRONLY)
        cursor, ours = 0, []
        try:
            for i in range(rounds):
                req = c.request("process.logs", {"id": p, "cursor": cursor, "follow": True,
                                                 "timeout": 10})  # fmt: skip
                t0 = time.perf_counter()
                c.sock.sendall(req)
                os.write(w, f"line {i}\n".encode())
                r: Any = json.loads(c.readline())["result"]
                ours.append(time.perf_counter() - t0)
                cursor = r["cursor"]
        finally:
            os.close(w)
            c.call("process.join", {"id": p, "timeout": 10})
    cat = subprocess.Popen(["cat"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, bufsize=0)
    assert cat.stdin is not None and cat.stdout is not None
    anchor = []
    for i in range(rounds):
        t0 = time.perf_counter()
        cat.stdin.write(f"line {i}\n".encode())
        cat.stdout.readline()
        anchor.append(time.perf_counter() - t0)
    cat.stdin.close()
    cat.wait()
    return Row("process.logs follow: child's write → client's read", "the same line through a pipe",
               "ms", statistics.median(anchor), statistics.median(ours),
               "(for scale)")  # fmt: skip


def supervisord_restart_cycle(proxy: Any, cycles: int) -> float | None:
    """supervisord restarting /bin/false (autorestart=true, startsecs=0): the time from one run's
    pid to the next one's, polled over XML-RPC (its own stamps are whole seconds). Each cycle
    includes /bin/false's run, about a millisecond."""
    proxy.supervisor.startProcess("crash", False)
    seen: list[float] = []
    last = None
    deadline = time.monotonic() + 30
    while len(seen) <= cycles and time.monotonic() < deadline:
        pid = proxy.supervisor.getProcessInfo("crash")["pid"]
        if pid and pid != last:
            seen.append(time.perf_counter())
            last = pid
    with contextlib.suppress(Exception):
        proxy.supervisor.stopProcess("crash")
    gaps = [b - a for a, b in itertools.pairwise(seen)]
    return statistics.median(gaps) if gaps else None
