"""Misbehaving clients, and a probe that measures what they cost everyone else.

Used by tests/test_fairness.py (short, bounded runs that check what must hold: the probe is served
throughout, the daemon's memory stays bounded, the misbehaver gets the documented treatment) and
by `make stress` (longer runs that print the probe's latencies; speed is reported, not asserted):

    python -m tests.misbehave [--seconds S] [SCENARIO ...]

Each misbehaver runs in a process of its own (`python -m tests.misbehave --run SCENARIO SOCK`),
so that its work does not share a GIL with the probe; it prints "ready" once in position.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

DISCOVER = b'{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}\n'
INFO = b'{"jsonrpc":"2.0","id":1,"method":"daemon.info"}\n'


def _connect(path: str) -> socket.socket:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s


def _ready() -> None:
    print("ready", flush=True)


def _forever() -> None:
    while True:  # until the parent's signal ends this process
        signal.pause()


def pipeline_without_reading(path: str) -> None:
    """Requests as fast as the daemon takes them; never reads a reply."""
    s = _connect(path)
    burst = DISCOVER * 6000  # one write of 6,000 rpc.discover, then more
    s.setblocking(False)
    announced = False
    while True:
        try:
            s.send(burst)
        except BlockingIOError:
            if not announced:
                _ready()  # the daemon has stopped taking them: it is holding back
                announced = True
            select.select([], [s], [])  # until the daemon takes some again


def huge_batches(path: str) -> None:
    """Batches of 1,000 rpc.discover (each over the reply cap) and over-long batches, read."""
    s = _connect(path)
    member = b'{"jsonrpc":"2.0","id":1,"method":"rpc.discover"}'
    big = b"[" + b",".join([member] * 1000) + b"]\n"
    too_many = b"[" + b",".join([member] * 6000) + b"]\n"
    f = s.makefile("rb")
    _ready()
    while True:
        for line in (big, too_many):
            s.sendall(line)
            reply = json.loads(f.readline())
            assert reply["error"]["code"] == 1021, reply


def half_lines(path: str, conns: int = 20, size: int = 4 * 1024 * 1024 - 100) -> None:
    """Connections that each send an almost 4 MiB line and never end it."""
    held = []
    chunk = b'{"jsonrpc":"2.0","id":1,"method":"x","params":["' + b"a" * size
    for _ in range(conns):
        s = _connect(path)
        s.sendall(chunk)
        held.append(s)
    _ready()
    _forever()


def slowloris(path: str, conns: int = 500) -> None:
    """Connections that each send a request one byte at a time, a byte a second."""
    held = [_connect(path) for _ in range(conns)]
    line = INFO
    _ready()
    at = 0
    while True:
        for s in held:
            with contextlib.suppress(OSError):
                s.send(line[at : at + 1])
        at = (at + 1) % (len(line) - 1)  # never the newline
        time.sleep(1)


def big_lines(path: str) -> None:
    """Lines just under the 4 MiB limit (process.create with 1.9M small args: refused, but parsed
    first), one after another, replies read."""
    s = _connect(path)
    args = b",".join([b"0"] * 1_900_000)
    line = b'{"jsonrpc":"2.0","id":1,"method":"process.create","params":{"args":[' + args + b"]}}\n"
    f = s.makefile("rb")
    _ready()
    while True:
        s.sendall(line)
        reply = json.loads(f.readline())
        assert reply["error"]["code"] == -32602, reply


SCENARIOS: dict[str, Callable[[str], None]] = {
    "pipeline": pipeline_without_reading,
    "batches": huge_batches,
    "half-lines": half_lines,
    "slowloris": slowloris,
    "big-lines": big_lines,
}
# Connections each scenario opens (for the memory bound per misbehaving connection).
CONNECTIONS = {"pipeline": 1, "batches": 1, "half-lines": 20, "slowloris": 500, "big-lines": 1}


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


@dataclass
class Measure:
    scenario: str
    calls: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    rss_growth_kib: int
    misbehaver_alive: bool  # it ran to the end without an assertion of its own failing


def probe(path: str, calls: int) -> list[float]:
    """Round trips of process.list on a connection of its own; latencies in seconds."""
    out = []
    with _connect(path) as s, s.makefile("rb") as f:
        s.settimeout(30)
        for _ in range(calls):
            t0 = time.perf_counter()
            s.sendall(b'{"jsonrpc":"2.0","id":7,"method":"process.list"}\n')
            reply = json.loads(f.readline())
            out.append(time.perf_counter() - t0)
            assert reply.get("id") == 7 and "result" in reply, reply
    return out


def start_misbehaver(scenario: str, path: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.misbehave", "--run", scenario, path],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()  # blocks until in position (or it died: then "")
    if line.strip() != "ready":
        proc.kill()
        proc.wait()
        proc.stdout.close()
        raise AssertionError(f"misbehaver {scenario} did not get in position: {line!r}")
    return proc


def measure(scenario: str, path: str, daemon_pid: int, calls: int) -> Measure:
    probe(path, 50)  # warm
    before = rss_kib(daemon_pid)
    bad = start_misbehaver(scenario, path)
    try:
        lat = sorted(probe(path, calls))
        growth = rss_kib(daemon_pid) - before
        alive = bad.poll() is None
    finally:
        bad.kill()
        bad.wait()
        if bad.stdout is not None:
            bad.stdout.close()
    return Measure(
        scenario,
        calls,
        lat[len(lat) // 2] * 1e3,
        lat[min(len(lat) - 1, int(len(lat) * 0.99))] * 1e3,
        lat[-1] * 1e3,
        growth,
        alive,
    )


def _campaign(seconds: float, scenarios: list[str]) -> int:
    from tests.conftest import start_daemon, stop_daemon

    with tempfile.TemporaryDirectory(prefix="sl-") as d:
        daemon = start_daemon(Path(d))
        try:
            print("| scenario | probe calls | p50 ms | p99 ms | max ms | RSS growth MiB |")
            print("|---|---|---|---|---|---|")
            for name in scenarios:
                calls = max(200, int(seconds * 2000))
                m = measure(name, str(daemon.socket_path), daemon.proc.pid, calls)
                print(
                    f"| {m.scenario} | {m.calls} | {m.p50_ms:.2f} | {m.p99_ms:.2f} | "
                    f"{m.max_ms:.2f} | {m.rss_growth_kib / 1024:.1f} |",
                    flush=True,
                )
        finally:
            stop_daemon(daemon)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.misbehave")
    parser.add_argument("--run", nargs=2, metavar=("SCENARIO", "SOCKET"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("scenarios", nargs="*", default=list(SCENARIOS))
    args = parser.parse_args(argv)
    if args.run:
        name, path = args.run
        os.setpgrp()  # a Ctrl-C for the campaign is not its
        SCENARIOS[name](path)
        return 0
    return _campaign(args.seconds, args.scenarios)


if __name__ == "__main__":
    raise SystemExit(main())
