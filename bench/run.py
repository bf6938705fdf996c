"""Runs every anchor and our path in the same run, alternating, and prints medians and ratios.

`python -m bench [--quick]` (what `make bench` runs). Each figure is measured in `reps` rounds; in
each round the anchor and ours run back to back, in alternating order, and the figure is the median
of the rounds' medians. The `/bin/true` figures, short and the most disturbed by other load, are
interleaved call by call instead. supervisord's figures come from `--supervisord PATH` (bench/.venv
has it).
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import xmlrpc.client
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import supervision
from bench.memory import release_cycles
from bench.targets import noop

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Plan:
    reps: int
    rtt_calls: int
    tput_seconds: float
    spawn_runs: int
    py_runs: int
    fresh_runs: int
    concurrent: int
    concurrent_reps: int
    sleepers: int
    idle_seconds: float
    release_cycles: int


FULL = Plan(7, 2000, 2.0, 100, 100, 10, 200, 5, 1000, 10.0, 20_000)
QUICK = Plan(3, 200, 0.3, 15, 15, 3, 200, 1, 100, 1.0, 1000)


@dataclass
class Row:
    what: str
    anchor_name: str
    unit: str
    anchor: float | None
    ours: float | None
    target: str = ""
    higher_is_better: bool = False
    note: str = ""

    @property
    def ratio(self) -> float | None:
        if self.anchor is None or self.ours is None or self.anchor == 0:
            return None
        return self.ours / self.anchor


@dataclass
class Report:
    rows: list[Row] = field(default_factory=list)
    extra: list[tuple[str, str]] = field(default_factory=list)

    def print(self, out: Any = sys.stdout) -> None:
        print("\n| what | anchor | anchor | ours | ours/anchor | target |", file=out)
        print("|---|---|---|---|---|---|", file=out)
        for r in self.rows:
            ratio = "—" if r.ratio is None else f"{r.ratio:.2f}"
            print(
                f"| {r.what} | {r.anchor_name} | {_fmt(r.anchor, r.unit)} | "
                f"{_fmt(r.ours, r.unit)}{' ' + r.note if r.note else ''} | {ratio} | {r.target} |",
                file=out,
            )
        if self.extra:
            print("\n| figure | value |", file=out)
            print("|---|---|", file=out)
            for name, value in self.extra:
                print(f"| {name} | {value} |", file=out)


def _fmt(value: float | None, unit: str) -> str:
    if value is None:
        return "—"
    if unit == "µs":
        return f"{value * 1e6:.1f} µs"
    if unit == "ms":
        return f"{value * 1e3:.2f} ms"
    if unit == "calls/s":
        return f"{value:,.0f} calls/s"
    return f"{value:g} {unit}"


def cpu_times() -> list[int]:
    """The machine's CPU time so far, by kind (the "cpu" line of /proc/stat; 8th field: steal)."""
    with open("/proc/stat") as f:
        return [int(x) for x in f.readline().split()[1:]]


def steal_share(before: list[int], after: list[int]) -> float:
    """Of the CPU time this machine wanted between two cpu_times(), the share the hypervisor gave
    to other guests instead (steal counts only while a CPU here has work to run)."""
    spent = [b - a for a, b in zip(before, after, strict=False)]
    if len(spent) < 8:
        return 0.0
    user, nice, system, _idle, _iowait, irq, softirq, steal = spent[:8]
    wanted = user + nice + system + irq + softirq + steal
    return steal / wanted if wanted > 0 else 0.0


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# -- servers --------------------------------------------------------------------------------
@dataclass
class Server:
    proc: subprocess.Popen[bytes]
    path: Path
    stderr: Path

    def pids(self) -> list[int]:
        """The server's process, its keeper (a daemon's, from its state dir) and their children."""
        roots = [self.proc.pid]
        with contextlib.suppress(OSError, ValueError):
            roots.append(int((self.path.parent / "state" / "keeper.pid").read_text()))
        found: list[int] = []
        while roots:
            pid = roots.pop()
            found.append(pid)
            with contextlib.suppress(OSError):
                for tid in os.listdir(f"/proc/{pid}/task"):
                    roots += map(int, Path(f"/proc/{pid}/task/{tid}/children").read_text().split())
        return found

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _wait_for_socket(path: Path, proc: subprocess.Popen[bytes], what: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}")
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(path))
                return
            except OSError:
                pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not listen on {path} within {timeout}s")
        time.sleep(0.005)


def start_daemon(directory: Path, *extra: str) -> Server:
    path = directory / "sl.sock"
    err = directory / "daemon.stderr"
    env = {k: v for k, v in os.environ.items() if k != "SUPERVISORD_LITE_SOCKET"}
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "supervisord_lite", "serve", "--socket", str(path)),
            *("--state-dir", str(directory / "state"), *extra),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err.open("wb"),
        env=env,
        cwd=REPO,
    )
    _wait_for_socket(path, proc, "supervisord-lite", 20)
    return Server(proc, path, err)


def start_echo(directory: Path) -> Server:
    return _start_bare(directory, "echo_server", "the echo server")


def start_floor(directory: Path) -> Server:
    return _start_bare(directory, "floor_server", "the floor server")


def start_floor_keeper(directory: Path) -> Server:
    return _start_bare(directory, "floor_keeper", "the floor server with a keeper")


def _start_bare(directory: Path, module: str, what: str) -> Server:
    """One of the bench's own servers (bench/MODULE.py), serving on DIRECTORY/MODULE.sock."""
    path = directory / f"{module}.sock"
    err = directory / f"{module}.stderr"
    proc = subprocess.Popen(
        [sys.executable, "-m", f"bench.{module}", str(path)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=err.open("wb"),
        cwd=REPO,
    )
    _wait_for_socket(path, proc, what, 20)
    return Server(proc, path, err)


def zygote_ready(daemon: Server) -> bool:
    return any(_comm(pid) == "sl-spare" for pid in daemon.pids())  # the keeper's, or ours


def _comm(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""


def proc_status(pid: int) -> dict[str, str]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


# -- a blocking NDJSON client (the same code talks to the echo server and to the daemon) -----
class Raw:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(str(path))
        self.buf = b""
        self.next_id = 0

    def close(self) -> None:
        self.sock.close()

    def roundtrip(self, line: bytes) -> Any:
        self.sock.sendall(line)
        return json.loads(self.readline())

    def readline(self) -> bytes:
        while (nl := self.buf.find(b"\n")) < 0:
            # 64 KiB, as the Python client reads. A 256 KiB buffer is above glibc's first mmap
            # threshold: each read was an mmap, a page fault, an mremap and a munmap (~15 µs of
            # the client's CPU a call), which the figures then measured along with the servers.
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        line, self.buf = self.buf[:nl], self.buf[nl + 1 :]
        return line

    def request(self, method: str, params: Any = None) -> bytes:
        self.next_id += 1
        msg: dict[str, Any] = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        return json.dumps(msg, separators=(",", ":")).encode() + b"\n"

    def call(self, method: str, params: Any = None) -> Any:
        resp = self.roundtrip(self.request(method, params))
        if "error" in resp:
            raise RuntimeError(f"{method}: {resp['error']}")
        return resp["result"]

    def send_many(self, method: str, params: list[Any]) -> list[Any]:
        """Pipelined: all requests first, then all responses (any order), by request order."""
        first = self.next_id + 1
        self.sock.sendall(b"".join(self.request(method, p) for p in params))
        by_id = {}
        for _ in params:
            resp = json.loads(self.readline())
            if "error" in resp:
                raise RuntimeError(f"{method}: {resp['error']}")
            by_id[resp["id"]] = resp["result"]
        return [by_id[i] for i in range(first, first + len(params))]


def _median(values: list[float]) -> float:
    return statistics.median(values)


def alternate(
    reps: int, anchor: Callable[[], float], ours: Callable[[], float]
) -> tuple[float, float]:
    """Median of per-round figures, anchor and ours back to back, the order flipped every round."""
    a: list[float] = []
    o: list[float] = []
    for i in range(reps):
        if i % 2 == 0:
            a.append(anchor())
            o.append(ours())
        else:
            o.append(ours())
            a.append(anchor())
    return _median(a), _median(o)


def interleaved(n: int, fns: dict[str, Callable[[], object]]) -> dict[str, float]:
    """Median time of one call of each fn over n rounds; each round calls every fn once, in an
    order rotated round by round. Call by call, so that load that comes and goes on the machine
    falls on all of them alike (rounds of 100 calls each saw the anchor itself move by 25 %)."""
    names = list(fns)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(n):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            t = time.perf_counter_ns()
            fns[name]()
            times[name].append(time.perf_counter_ns() - t)
    return {name: _median(ts) / 1e9 for name, ts in times.items()}


def per_call(n: int, fn: Callable[[], object]) -> float:
    times = []
    for _ in range(n):
        t = time.perf_counter_ns()
        fn()
        times.append(time.perf_counter_ns() - t)
    return _median([float(x) for x in times]) / 1e9


@contextlib.contextmanager
def pinned(servers: list[Server], *, together: bool = False) -> Iterator[None]:
    """For the duration, the servers on the last CPU and this process (the client) on the first;
    or, `together`, all of them on the first. Children started meanwhile inherit their parent's CPU.

    Left to the scheduler, a client and a server share a CPU in some runs and not in others, and a
    round trip costs twice as much across CPUs: the echo server read 34 µs in one run and 62 µs in
    the next, and the ratio swung from 1.3 to 3.0. Pinned, each side pays the same in every run."""
    cpus = sorted(os.sched_getaffinity(0))
    # A daemon is its front and its keeper (with the zygote and spares under it): all of them,
    # or the keeper's spawns would run on another CPU than the front, for free.
    before = {pid: os.sched_getaffinity(pid) for s in servers for pid in s.pids()}
    try:
        for pid in before:
            os.sched_setaffinity(pid, {cpus[0] if together else cpus[-1]})
        os.sched_setaffinity(0, {cpus[0]})
        yield
    finally:
        os.sched_setaffinity(0, cpus)
        for pid, mask in before.items():
            with contextlib.suppress(OSError):
                os.sched_setaffinity(pid, mask)


# -- the figures ----------------------------------------------------------------------------
def rtt(plan: Plan, echo: Server, daemon: Server, pid: int) -> list[Row]:
    """Across two CPUs, as a client elsewhere on the machine sees it; and on one CPU, where the
    figure is the CPU time both sides spend. Across CPUs this VM's wake-ups of an idle CPU take most
    of a round trip, and how long they take depends on how long the CPU has been idle: that
    figure moves with the client's own habits (a client that spent 15 µs more per call in mmap
    and munmap put ours 30 % above the echo server, and one that does not puts it level)."""
    rows = []
    for together, what in (
        (False, "round trip of process.getName, one client, across two CPUs"),
        (True, "same, client and servers on one CPU"),
    ):
        with pinned([echo, daemon], together=together):
            rows.append(_rtt(plan, echo, daemon, pid, what))
    return rows


def _rtt(plan: Plan, echo: Server, daemon: Server, pid: int, what: str) -> Row:
    e, d = Raw(echo.path), Raw(daemon.path)
    line = d.request("process.getName", {"id": pid})
    for client in (e, d):  # warm up
        for _ in range(50):
            client.roundtrip(line)
    # Ten times the rounds, a tenth of the calls each: the turns are short (~15 ms), so that load
    # that comes and goes on the machine falls on both alike.
    anchor, ours = alternate(
        plan.reps * 10,
        lambda: per_call(plan.rtt_calls // 10, lambda: e.roundtrip(line)),
        lambda: per_call(plan.rtt_calls // 10, lambda: d.roundtrip(line)),
    )
    e.close()
    d.close()
    return Row(
        what,
        "raw NDJSON echo server (asyncio)",
        "µs",
        anchor,
        ours,
        "≤ 1.3",
    )


def _tput_client(path: str, line: bytes, start: float, stop: float, out: Any) -> None:
    c = Raw(Path(path))
    c.roundtrip(line)
    while time.monotonic() < start:
        time.sleep(0.0005)
    n = 0
    while time.monotonic() < stop:
        c.roundtrip(line)
        n += 1
    out.send(n)
    c.close()


def throughput(path: Path, line: bytes, clients: int, seconds: float) -> float:
    ctx = multiprocessing.get_context("fork")
    pipes = [ctx.Pipe(duplex=False) for _ in range(clients)]
    start = time.monotonic() + 0.2
    procs = [
        ctx.Process(target=_tput_client, args=(str(path), line, start, start + seconds, w))
        for _r, w in pipes
    ]
    for p in procs:
        p.start()
    total: int = sum(r.recv() for r, _w in pipes)
    for p in procs:
        p.join()
    return total / seconds


def tput(plan: Plan, echo: Server, daemon: Server, pid: int) -> Row:
    line = (
        json.dumps(
            {"jsonrpc": "2.0", "id": 1, "method": "process.getName", "params": {"id": pid}},
            separators=(",", ":"),
        ).encode()
        + b"\n"
    )
    anchor, ours = alternate(
        plan.reps,
        lambda: throughput(echo.path, line, 8, plan.tput_seconds),
        lambda: throughput(daemon.path, line, 8, plan.tput_seconds),
    )
    return Row(
        "calls/s of process.getName, 8 concurrent clients",
        "the same echo server",
        "calls/s",
        anchor,
        ours,
        "≥ 0.7",
        higher_is_better=True,
    )


def create_start_join(client: Raw, *, pipelined: bool = False) -> None:
    """Run /bin/true to its end in three round trips, or in two with start and join sent together
    (PROTOCOL.md, "Order")."""
    pid = client.call("process.create", {"target": {"argv": ["/bin/true"]}})["id"]
    start, join = ("process.start", {"id": pid, "output": "null"}), ("process.join", {"id": pid})
    if not pipelined:
        client.call(*start)
        client.call(*join)
        return
    client.sock.sendall(client.request(*start) + client.request(*join))
    for _ in range(2):
        if "error" in json.loads(client.readline()):
            raise RuntimeError("start or join failed")


def run_true(
    plan: Plan, daemon: Server, floors: tuple[Server, Server], ephemeral: Server
) -> list[Row]:
    d = Raw(daemon.path)
    f = Raw(floors[0].path)
    k = Raw(floors[1].path)
    e = Raw(ephemeral.path)
    fns: dict[str, Callable[[], object]] = {
        "anchor": lambda: subprocess.run(["/bin/true"], check=True),
        "ours": lambda: create_start_join(d),
        "pipelined": lambda: create_start_join(d, pipelined=True),
        "ephemeral": lambda: create_start_join(e),
        "floor": lambda: create_start_join(f),
        "floor_keeper": lambda: create_start_join(k),
    }
    # All on one CPU, children included (the anchor's too): unpinned, where the scheduler put the
    # servers against the client moved ours from 1.44 to 1.75 across five runs of the same code,
    # and the floor from 1.27 to 1.51. On one CPU, eight runs read 1.48 to 1.53 and 1.39 to 1.41.
    with pinned([daemon, *floors, ephemeral], together=True):
        interleaved(5, fns)  # warm up
        median = interleaved(plan.reps * plan.spawn_runs, fns)
    rows = [
        Row(what, 'subprocess.run(["/bin/true"])', "ms", median["anchor"], median[name], target)
        for what, name, target in (
            ('create+start+join of argv ["/bin/true"]', "ours", "≤ 1.5"),
            ("same, start and join sent together", "pipelined", "(for scale)"),
            ("same, --ephemeral: no keeper, no state on disk", "ephemeral", "(for scale)"),
            ("same, the floor: bench/floor_server.py (no JSON-RPC, no checks)", "floor",
             "(for scale)"),
            ("same, the floor with a keeper: bench/floor_keeper.py (the hop alone)",
             "floor_keeper", "(for scale)"),
        )
    ]  # fmt: skip
    d.close()
    f.close()
    k.close()
    e.close()
    return rows


def python_client() -> Any:
    """The Python client's Process class once it exists (clients/python), else None."""
    try:
        client = importlib.import_module("supervisord_lite_client")
    except ImportError:
        return None
    return getattr(client, "Process", None)


class RawPython:
    """Python targets through the raw client, while the Python client is not there yet."""

    def __init__(self, daemon: Server) -> None:
        self.c = Raw(daemon.path)
        self.target = {"callable": "bench.targets:noop", "sys_path": [str(REPO)]}

    def one(self) -> None:
        c = self.c
        p = c.call("process.create", {"target": self.target})
        c.call("process.start", {"id": p["id"], "output": "null"})
        c.call("process.join", {"id": p["id"]})

    def many(self, n: int) -> None:
        c = self.c
        ids = [p["id"] for p in c.send_many("process.create", [{"target": self.target}] * n)]
        c.send_many("process.start", [{"id": i, "output": "null"} for i in ids])
        c.send_many("process.join", [{"id": i} for i in ids])


def py_noop(plan: Plan, daemon: Server, fresh: Server) -> list[Row]:
    Process = python_client()
    os.environ["SUPERVISORD_LITE_SOCKET"] = str(daemon.path)
    raw = RawPython(daemon)
    if Process is not None:

        def ours() -> None:
            p = Process(target=noop)
            p.start()
            p.join()

        how = "Python client"
    else:
        ours = raw.one
        how = "raw client (the Python client is not there yet)"
    fork = multiprocessing.get_context("fork")

    def anchor() -> None:
        p = fork.Process(target=noop)
        p.start()
        p.join()

    for _ in range(5):
        ours()
        anchor()
    a, o = alternate(
        plan.reps, lambda: per_call(plan.py_runs, anchor), lambda: per_call(plan.py_runs, ours)
    )
    rows = [
        Row(
            "create+start+join of a no-op Python function",
            "multiprocessing fork: start(); join()",
            "ms",
            a,
            o,
            "≤ 1.5",
            note=f"({how})",
        )
    ]
    # The same through a daemon without a zygote (every child a fresh interpreter), for scale.
    raw_fresh = RawPython(fresh)
    spawn = multiprocessing.get_context("spawn")

    def spawn_anchor() -> None:
        p = spawn.Process(target=noop)
        p.start()
        p.join()

    a2, o2 = alternate(
        max(1, plan.reps // 2),
        lambda: per_call(plan.fresh_runs, spawn_anchor),
        lambda: per_call(plan.fresh_runs, raw_fresh.one),
    )
    rows.append(
        Row(
            "same, daemon with --no-zygote (raw client)",
            "multiprocessing spawn: start(); join()",
            "ms",
            a2,
            o2,
            "(for scale)",
        )
    )
    raw.c.close()
    raw_fresh.c.close()
    return rows


# The seed's own example shape: the target defined in the caller's __main__ script. The bench's
# __main__ is a package's (never re-run), so the measuring is done by a script of its own. It
# interleaves the two call by call, as interleaved() does (load that comes and goes on the machine
# then falls on both alike), and prints each one's median.
MAIN_SCRIPT = """\
import json, multiprocessing, statistics, sys, time
from supervisord_lite_client import Process

def noop():
    pass

def ours():
    p = Process(target=noop)
    p.start()
    p.join()

def anchor():
    p = multiprocessing.get_context("fork").Process(target=noop)
    p.start()
    p.join()

if __name__ == "__main__":
    n = int(sys.argv[1])
    end = time.monotonic() + 1.0  # the first starts make the script's zygote: not measured
    while time.monotonic() < end:
        ours()
        anchor()
    times = {"anchor": [], "ours": []}
    for i in range(n):
        for side, fn in (("anchor", anchor), ("ours", ours))[:: 1 if i % 2 else -1]:
            t = time.perf_counter_ns()
            fn()
            times[side].append(time.perf_counter_ns() - t)
    print(json.dumps({side: statistics.median(ts) / 1e9 for side, ts in times.items()}))
"""


def py_main_noop(plan: Plan, daemon: Server, directory: Path) -> Row:
    script = directory / "seed_shape.py"
    script.write_text(MAIN_SCRIPT)
    env = {**os.environ, "SUPERVISORD_LITE_SOCKET": str(daemon.path)}
    done = subprocess.run(
        [sys.executable, str(script), str(plan.reps * plan.py_runs)],
        capture_output=True, text=True, env=env, cwd=directory, timeout=600, check=False,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"{script.name} failed: {done.stderr[-2000:]}")
    median = json.loads(done.stdout)
    return Row(
        "same, the function defined in the __main__ script (which imports multiprocessing)",
        "multiprocessing fork: start(); join()",
        "ms",
        median["anchor"],
        median["ours"],
        "≤ 1.5",
        note="(Python client)",
    )


def py_concurrent(plan: Plan, daemon: Server) -> Row:
    Process = python_client()
    n = plan.concurrent
    forkserver = multiprocessing.get_context("forkserver")
    raw = RawPython(daemon)

    def anchor() -> float:
        t = time.perf_counter()
        ps = [forkserver.Process(target=noop) for _ in range(n)]
        for p in ps:
            p.start()
        for p in ps:
            p.join()
        return time.perf_counter() - t

    if Process is not None:

        def ours() -> float:
            t = time.perf_counter()
            ps = [Process(target=noop) for _ in range(n)]
            for p in ps:
                p.start()
            for p in ps:
                p.join()
            return time.perf_counter() - t

        how = "Python client"
    else:

        def ours() -> float:
            t = time.perf_counter()
            raw.many(n)
            return time.perf_counter() - t

        how = "raw client, pipelined"
    p = forkserver.Process(target=noop)  # starts the fork server outside the timing
    p.start()
    p.join()
    a, o = alternate(plan.concurrent_reps, anchor, ours)
    raw.c.close()
    return Row(
        f"same, {n} processes started concurrently then joined",
        f"multiprocessing forkserver, same {n}",
        "ms",
        a,
        o,
        "≤ 1.0",
        note=f"({how})",
    )


def idle(plan: Plan, directory: Path, report: Report) -> None:
    daemon = start_daemon(directory)
    try:
        d = Raw(daemon.path)
        n = plan.sleepers
        ids = [
            p["id"]
            for p in d.send_many("process.create", [{"target": {"argv": ["sleep", "3600"]}}] * n)
        ]
        for chunk in range(0, n, 100):
            d.send_many(
                "process.start", [{"id": i, "output": "null"} for i in ids[chunk : chunk + 100]]
            )
        time.sleep(0.5)  # let the spawn burst settle (this is a benchmark, not a test)
        pid = daemon.proc.pid
        before = proc_status(pid)
        time.sleep(plan.idle_seconds)
        after = proc_status(pid)
        wakeups = int(after["voluntary_ctxt_switches"]) - int(before["voluntary_ctxt_switches"])
        wakeups += int(after["nonvoluntary_ctxt_switches"]) - int(
            before["nonvoluntary_ctxt_switches"]
        )
        # The keeper's children since the keeper holds them (daemon.pids() walks from both).
        helpers = [p for p in daemon.pids() if _comm(p) in ("sl-zygote", "sl-spare")]
        helper_rss = sum(_rss_kib(p) for p in helpers)
        report.extra += [
            (f"{n} sleeping children: daemon threads", after["Threads"]),
            (f"{n} sleeping children: daemon RSS", after["VmRSS"]),
            (
                f"{n} sleeping children: zygote + spares ({len(helpers)} processes), RSS",
                f"{helper_rss} kB (shared pages counted in each)",
            ),
            (
                f"{n} sleeping children: daemon wake-ups over {plan.idle_seconds:g} s",
                f"{wakeups} ({wakeups / plan.idle_seconds:.2f}/s)",
            ),
        ]
        d.close()
    finally:
        daemon.stop()


def _rss_kib(pid: int) -> int:
    try:
        return int(proc_status(pid)["VmRSS"].split()[0])
    except (OSError, KeyError):
        return 0


# -- supervisord ----------------------------------------------------------------------------
class _UnixHTTPConnection(http.client.HTTPConnection):
    def __init__(self, path: str) -> None:
        super().__init__("localhost")
        self.path = path

    def connect(self) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.connect(self.path)


class _UnixTransport(xmlrpc.client.Transport):
    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path

    def make_connection(self, host: Any) -> http.client.HTTPConnection:
        if self._connection and host == self._connection[0] and self._connection[1]:
            return self._connection[1]
        conn = _UnixHTTPConnection(self.path)
        self._connection = host, conn
        return conn


SUPERVISORD_CONF = """\
[unix_http_server]
file={dir}/supervisor.sock
[supervisord]
logfile={dir}/supervisord.log
pidfile={dir}/supervisord.pid
childlogdir={dir}
nodaemon=true
loglevel=warn
[rpcinterface:supervisor]
supervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface
[program:true]
command=/bin/true
autostart=false
autorestart=false
startsecs=0
startretries=0
[program:crash]
command=/bin/false
autostart=false
autorestart=true
startsecs=0
startretries=0
"""


@contextlib.contextmanager
def supervisord(exe: str, directory: Path) -> Iterator[tuple[Any, subprocess.Popen[bytes]]]:
    conf = directory / "supervisord.conf"
    conf.write_text(SUPERVISORD_CONF.format(dir=directory))
    proc = subprocess.Popen(
        [exe, "-n", "-c", str(conf)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=(directory / "supervisord.stderr").open("wb"),
    )
    try:
        _wait_for_socket(directory / "supervisor.sock", proc, "supervisord", 30)
        proxy = xmlrpc.client.ServerProxy(
            "http://localhost", transport=_UnixTransport(str(directory / "supervisor.sock"))
        )
        yield proxy, proc
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def supervisord_figures(plan: Plan, exe: str, directory: Path, report: Report) -> None:
    with supervisord(exe, directory) as (proxy, proc):
        for _ in range(20):
            proxy.supervisor.getState()
        rtts = [per_call(plan.rtt_calls // 4, proxy.supervisor.getState) for _ in range(plan.reps)]

        def start_true() -> None:
            # It may be seen exiting before it is seen running (a Fault): still a start.
            with contextlib.suppress(xmlrpc.client.Fault):
                proxy.supervisor.startProcess("true", True)
            while proxy.supervisor.getProcessInfo("true")["state"] != 100:  # EXITED
                pass

        start_true()
        starts = [per_call(plan.spawn_runs, start_true) for _ in range(plan.reps)]
        cycle = supervision.supervisord_restart_cycle(proxy, max(5, plan.spawn_runs // 5))
        before = proc_status(proc.pid)
        time.sleep(plan.idle_seconds)
        after = proc_status(proc.pid)
        wakeups = sum(
            int(after[k]) - int(before[k])
            for k in ("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")
        )
    report.extra += [
        ("supervisord: XML-RPC getState round trip", _fmt(_median(rtts), "µs")),
        (
            "supervisord: startProcess /bin/true (startsecs=0) + poll to EXITED",
            _fmt(_median(starts), "ms"),
        ),
        (
            "supervisord: a crashing program's restart cycle (autorestart, startsecs=0), "
            "pid to next pid",
            _fmt(cycle, "ms"),
        ),
        (
            f"supervisord: idle wake-ups over {plan.idle_seconds:g} s",
            f"{wakeups} ({wakeups / plan.idle_seconds:.2f}/s)",
        ),
    ]


# -- main -----------------------------------------------------------------------------------
def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="few repetitions (a smoke run)")
    parser.add_argument(
        "--supervisord",
        default=str(REPO / "bench" / ".venv" / "bin" / "supervisord"),
        help="the supervisord executable for its figures (skipped when missing)",
    )
    args = parser.parse_args(argv)
    plan = QUICK if args.quick else FULL
    report = Report()
    started, times = time.monotonic(), cpu_times()
    log(f"bench: {'quick' if args.quick else 'full'} run, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, Linux {platform.release()}")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="sl-bench-") as tmp:
        directory = Path(tmp)
        (directory / "z").mkdir()
        (directory / "f").mkdir()
        (directory / "i").mkdir()
        (directory / "s").mkdir()
        (directory / "e").mkdir()
        echo = start_echo(directory)
        floor = start_floor(directory)
        floor_keeper = start_floor_keeper(directory)
        # The anchors run functions whose module the parent has already imported; the zygote
        # is told to preload it too (what --preload is for).
        daemon = start_daemon(directory / "z", "--preload", "bench.targets")
        fresh = start_daemon(directory / "f", "--no-zygote")
        ephemeral = start_daemon(directory / "e", "--ephemeral")
        try:
            deadline = time.monotonic() + 20
            while not zygote_ready(daemon) and time.monotonic() < deadline:
                time.sleep(0.01)
            c = Raw(daemon.path)
            pid = c.call("process.create", {"target": None})["id"]
            c.close()
            log("bench: round trips")
            report.rows += rtt(plan, echo, daemon, pid)
            log("bench: throughput, 8 clients")
            report.rows.append(tput(plan, echo, daemon, pid))
            log("bench: /bin/true")
            report.rows += run_true(plan, daemon, (floor, floor_keeper), ephemeral)
            log("bench: no-op Python function")
            report.rows += py_noop(plan, daemon, fresh)
            log("bench: no-op Python function of a __main__ script")
            report.rows.append(py_main_noop(plan, daemon, directory))
            log(f"bench: {plan.concurrent} concurrent Python functions")
            report.rows.append(py_concurrent(plan, daemon))
            log("bench: supervision (restart, log follow)")
            c = Raw(daemon.path)
            report.rows += [supervision.restart(plan, c), supervision.follow_latency(plan, c)]
            c.close()
        finally:
            for server in (echo, floor, floor_keeper, daemon, fresh, ephemeral):
                server.stop()
        log(f"bench: {plan.release_cycles} create+start+join+release cycles")
        (directory / "m").mkdir()
        mem = start_daemon(directory / "m", "--keep-exited", str(2 * plan.release_cycles))
        try:
            rss = release_cycles(Raw(mem.path), mem.proc.pid, plan.release_cycles, log)
            report.extra.append((f"daemon RSS, {plan.release_cycles} cycles of /bin/true "
                                 "with process.release", rss))  # fmt: skip
        finally:
            mem.stop()
        log(f"bench: {plan.sleepers} sleeping children")
        idle(plan, directory / "i", report)
        if shutil.which(args.supervisord) or os.path.exists(args.supervisord):
            log("bench: supervisord")
            try:
                supervisord_figures(plan, args.supervisord, directory / "s", report)
            except (OSError, RuntimeError, xmlrpc.client.Error) as exc:
                report.extra.append(("supervisord", f"failed: {exc}"))
        else:
            report.extra.append(("supervisord", f"not measured: {args.supervisord} is missing"))
    # On a virtual machine, time stolen by other guests moves every figure, and not in proportion
    # (what waits on wake-ups suffers most): a run's ratios are to be read against it.
    steal = steal_share(times, cpu_times())
    report.extra.append(("CPU time stolen by the hypervisor (of the time wanted)", f"{steal:.1%}"))
    report.print()
    log(f"bench: done in {time.monotonic() - started:.1f} s")
    return 0
