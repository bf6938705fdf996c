"""What survives what, with real processes: the front killed, a normal stop, the keeper gone too.

Each test runs a real daemon (front + keeper) on a private socket and state directory, really
`kill -9`s what it says, starts a new front on the same state directory, and checks every record.
"""

from __future__ import annotations

import json
import os
import re
import signal
import sqlite3
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    REPO,
    Daemon,
    keeper_pid,
    launch_daemon,
    start_daemon,
    stop_daemon,
)
from tests.test_wire_support import kill_pid, pid_gone, run, sleeper
from tests.wire import RawClient, socket_accepts, wait_until


def by_id(c: RawClient) -> dict[int, dict[str, Any]]:
    return {p["id"]: p for p in c.call("process.list")}


def kill9(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    wait_until(lambda: pid_gone(pid), timeout=15, what=f"pid {pid} to be gone")


def kill9_front(d: Daemon) -> None:
    d.proc.kill()
    d.proc.wait(timeout=15)


def stored(d: Daemon) -> dict[int, dict[str, Any]]:
    """The process records as the state file has them now (read beside the running daemon)."""
    with sqlite3.connect(d.state_dir / "state.sqlite3") as db:
        rows = db.execute("SELECT key, doc FROM process").fetchall()
    return {int(k): json.loads(v) for k, v in rows}


def wait_stored(d: Daemon, check: Any, what: str) -> None:
    """Wait until the batch holding a change is written (within FLUSH_DELAY, 10 ms): a record
    created or renamed a moment before a crash of the front may not be (PROTOCOL.md)."""
    wait_until(lambda: check(stored(d)), timeout=15, what=what)


@pytest.fixture
def cleanup() -> Iterator[list[int]]:
    """Pids to SIGKILL at the end whatever happened (children a failed test left behind)."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        kill_pid(pid)


@pytest.mark.timeout(90)
def test_kill_9_of_the_front_loses_no_child_and_no_exit_status(
    private_dir: Path, cleanup: list[int]
) -> None:
    d = start_daemon(private_dir)
    fifos = [private_dir / f"gap{i}" for i in range(5)]
    with d.client() as c:
        # 15 that go on running, 5 that end during the gap (each when its fifo is opened).
        running = [sleeper(c) for _ in range(15)]
        for fifo in fifos:
            os.mkfifo(fifo)
        ending = []
        for i, fifo in enumerate(fifos):
            p = c.call(
                "process.create", {"target": {"argv": ["sh", "-c", f"cat {fifo}; exit {11 + i}"]}}
            )
            ending.append(c.call("process.start", {"id": p["id"], "output": "null"}))
        unstarted = c.call("process.create", {"target": {"argv": ["true"]}, "name": "later"})
        c.call("process.setName", {"id": running[0]["id"], "name": "renamed"})
        before = by_id(c)
    cleanup += [p["pid"] for p in running + ending]
    keeper = d.owner_pid()
    assert keeper != d.proc.pid, "the children's parent is the keeper, not the front"
    wait_stored(
        d,
        lambda s: unstarted["id"] in s and s[running[0]["id"]]["name"] == "renamed",
        "the last create and rename to be written",
    )

    kill9_front(d)
    for fifo in fifos:  # they exit now, while no front is there to hear it
        os.close(os.open(fifo, os.O_WRONLY))
    for p in ending:
        wait_until(lambda p=p: pid_gone(p["pid"]), timeout=15, what="a child to exit in the gap")
    assert keeper_pid(d.state_dir) == keeper, "the keeper outlives the front"

    d2 = start_daemon(private_dir)
    try:
        with d2.client() as c:
            after = by_id(c)
            assert set(after) == set(before), "every record is back under its old id"
            for p in running:
                got = after[p["id"]]
                assert (got["state"], got["pid"], got["name"]) == (
                    "running",
                    p["pid"],
                    before[p["id"]]["name"],
                ), got
            assert after[running[0]["id"]]["name"] == "renamed"
            for i, p in enumerate(ending):
                joined = c.call("process.join", {"id": p["id"]})
                assert (joined["state"], joined["exitcode"], joined["pid"]) == (
                    "exited",
                    11 + i,
                    p["pid"],
                ), joined
            assert after[unstarted["id"]]["state"] == "created"
            assert c.call("process.start", {"id": unstarted["id"]})["state"] in (
                "running",
                "exited",
            )
            fresh = c.call("process.create", {"target": None})
            assert fresh["id"] > max(before), "ids go on past the highest ever given"
            # The reattached children are still controlled: terminate one, join it.
            c.call("process.terminate", {"id": running[1]["id"]})
            assert c.call("process.join", {"id": running[1]["id"]})["exitcode"] == -signal.SIGTERM
    finally:
        assert stop_daemon(d2) == 0, d2.stderr()
    assert all(pid_gone(p["pid"]) for p in running), "a normal stop stops the reattached children"
    wait_until(lambda: keeper_pid(d.state_dir) is None, timeout=15, what="the keeper to end")


def test_a_sigterm_while_the_daemon_starts_is_a_clean_stop(private_dir: Path) -> None:
    # The socket accepts as soon as it is bound, before the front has its keeper and records:
    # a unit's stop (or a Ctrl-C) in that window must stop the daemon as any other stop does,
    # keeper included, not kill the front by SIGTERM's default action and leave the keeper.
    sock, err, state = private_dir / "sl.sock", private_dir / "daemon.stderr", private_dir / "st"
    with err.open("wb") as err_file:
        proc = subprocess.Popen(
            [sys.executable, "-m", "supervisord_lite", "serve", "--socket", str(sock),
             "--state-dir", str(state)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err_file, cwd=REPO,
        )  # fmt: skip
    try:
        wait_until(lambda: socket_accepts(sock) or proc.poll() is not None, timeout=15,
                   what="the socket to be bound")  # fmt: skip
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0, err.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
    assert "stopped" in err.read_text()
    wait_until(lambda: keeper_pid(state) is None, timeout=15, what="the keeper to end")
    assert not sock.exists()


@pytest.mark.timeout(60)
def test_a_normal_stop_keeps_records_and_never_reuses_ids(private_dir: Path) -> None:
    d = start_daemon(private_dir)
    with d.client() as c:
        s = sleeper(c)
        done = run(c, target={"argv": ["sh", "-c", "exit 4"]})
        last = c.call("process.create", {"target": None})
    assert stop_daemon(d) == 0, d.stderr()
    assert pid_gone(s["pid"]), "SIGTERM to the daemon stops its children"
    wait_until(lambda: keeper_pid(d.state_dir) is None, timeout=15, what="the keeper to end")

    d2 = start_daemon(private_dir)
    try:
        with d2.client() as c:
            after = by_id(c)
            assert after[s["id"]]["state"] == "exited"
            assert after[s["id"]]["exitcode"] == -signal.SIGTERM
            assert (after[done["id"]]["state"], after[done["id"]]["exitcode"]) == ("exited", 4)
            assert after[last["id"]]["state"] == "created"
            # After a clean stop numbering goes on exactly where it was: no id is given twice.
            assert c.call("process.create", {"target": None})["id"] == last["id"] + 1
            assert c.call("process.join", {"id": s["id"]})["exitcode"] == -signal.SIGTERM
    finally:
        stop_daemon(d2)


@pytest.mark.timeout(60)
def test_the_keeper_gone_too_turns_running_processes_lost(
    private_dir: Path, cleanup: list[int]
) -> None:
    d = start_daemon(private_dir)
    with d.client() as c:
        s = sleeper(c)
        done = run(c, target={"argv": ["sh", "-c", "exit 5"]})
    cleanup.append(s["pid"])
    keeper = d.owner_pid()
    wait_stored(d, lambda st: st.get(done["id"], {}).get("exitcode") == 5, "the exit to be written")
    # Everything killed, as a reboot would: the front, the keeper, the child.
    kill9_front(d)
    for pid in (keeper, s["pid"]):
        kill9(pid)

    d2 = start_daemon(private_dir)
    try:
        with d2.client() as c:
            after = by_id(c)
            lost = after[s["id"]]
            assert (lost["state"], lost["exitcode"]) == ("lost", None), lost
            assert (after[done["id"]]["state"], after[done["id"]]["exitcode"]) == ("exited", 5)
            joined = c.call("process.join", {"id": s["id"]})  # at once: it will never end
            assert joined["state"] == "lost"
        assert "is lost" in d2.stderr()
    finally:
        stop_daemon(d2)


@pytest.mark.timeout(30)
def test_state_files_are_private_and_an_open_directory_is_refused(private_dir: Path) -> None:
    d = start_daemon(private_dir)
    try:
        with d.client() as c:
            run(c, target=None)
        state = d.state_dir
        assert stat.S_IMODE(state.stat().st_mode) == 0o700
        for f in state.rglob("*"):  # logs/ too: directories 0700, everything else 0600
            mode = f.lstat().st_mode
            assert stat.S_IMODE(mode) == (0o700 if stat.S_ISDIR(mode) else 0o600), f
        assert {"state.sqlite3", "keeper.sock"} <= {f.name for f in state.iterdir()}
    finally:
        stop_daemon(d)
    with sqlite3.connect(state / "state.sqlite3") as db:
        (mode,) = db.execute("PRAGMA journal_mode").fetchone()
    assert mode == "wal"

    open_dir = private_dir / "open"
    open_dir.mkdir()
    open_dir.chmod(0o777)
    r = subprocess.run(
        [sys.executable, "-m", "supervisord_lite", "serve", "--socket", str(private_dir / "o.sock"),
         "--state-dir", str(open_dir)],
        capture_output=True, text=True, timeout=30, cwd=REPO,
    )  # fmt: skip
    assert r.returncode == 1, r
    assert "chmod 700" in r.stderr and str(open_dir) in r.stderr and "Traceback" not in r.stderr


@pytest.mark.timeout(30)
def test_ephemeral_keeps_nothing(private_dir: Path) -> None:
    d = start_daemon(private_dir, "--ephemeral")
    try:
        with d.client() as c:
            assert run(c, target={"argv": ["sh", "-c", "exit 3"]})["exitcode"] == 3
        assert d.owner_pid() == d.proc.pid, "no keeper: the daemon owns its children itself"
        assert not d.state_dir.exists()
    finally:
        stop_daemon(d)


# ------------------------------------------------- signals the daemon was started with

IGNORING = "import signal, os, sys; signal.signal(signal.SIGINT, signal.SIG_IGN); " \
    "signal.signal(signal.SIGQUIT, signal.SIG_IGN); os.execv(sys.executable, sys.argv[1:])"  # fmt: skip


def start_ignoring(directory: Path, *extra: str) -> Daemon:
    """A daemon started as `cmd &` starts it: SIGINT and SIGQUIT ignored (exec keeps that)."""
    sock = directory / "sl.sock"
    err = directory / "daemon.stderr"
    env = {k: v for k, v in os.environ.items() if k != "SUPERVISORD_LITE_SOCKET"}
    proc = launch_daemon(["--socket", str(sock), *extra], sock, err, env=env, prefix=IGNORING)
    return Daemon(sock, proc, err)


def ignored_signals(status: str) -> list[int]:
    sig_ign = re.search(r"^SigIgn:\s*([0-9a-f]+)$", status, re.M)
    sig_blk = re.search(r"^SigBlk:\s*([0-9a-f]+)$", status, re.M)
    assert sig_ign is not None and sig_blk is not None, status
    assert int(sig_blk[1], 16) == 0, f"a child starts with signals blocked: {status}"
    return [n for n in range(1, 32) if int(sig_ign[1], 16) & (1 << (n - 1))]


@pytest.mark.timeout(60)
@pytest.mark.parametrize("mode", ["keeper", "ephemeral"])
def test_children_start_with_default_signals_whatever_the_daemon_ignored(
    private_dir: Path, mode: str
) -> None:
    # The launcher really ignores them (else this test would prove nothing).
    probe = (
        "import signal; print(signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGQUIT))"
    )
    seen = subprocess.run(
        [sys.executable, "-c", IGNORING, sys.executable, "-c", probe],
        capture_output=True, text=True, timeout=30, check=True,
    ).stdout.split()  # fmt: skip
    assert seen == [str(int(signal.SIG_IGN))] * 2, seen
    d = start_ignoring(private_dir, *(["--ephemeral"] if mode == "ephemeral" else []))
    try:
        with d.client() as c:
            for how, target in (
                ("posix_spawn", {"argv": ["sh", "-c", f"exec cat /proc/self/status > {private_dir}/a"]}),
                ("Popen (a cwd)", {"argv": ["sh", "-c", f"exec cat /proc/self/status > {private_dir}/b"], "cwd": "/"}),
            ):  # fmt: skip
                assert run(c, target=target)["exitcode"] == 0, how
            for name in ("a", "b"):
                assert ignored_signals((private_dir / name).read_text()) == [], name
            # A Python target that raises SIGINT dies of KeyboardInterrupt (exit 1), on both
            # Python paths: the zygote's and a fresh interpreter's (a changed PYTHON* var).
            for env in ({}, {"PYTHONSAFEPATH": "1"}):
                target = {"callable": "signal:raise_signal", "env": env}
                assert run(c, target=target, args=[int(signal.SIGINT)])["exitcode"] == 1, env
            # Nothing blocked on either Python path either (Python itself ignores SIGPIPE and
            # SIGXFSZ at start-up, in every interpreter: those two are not the daemon's doing).
            for name, env in (("c", {}), ("d", {"PYTHONSAFEPATH": "1"})):
                target = {"callable": "shutil:copyfile", "env": env}
                args = ["/proc/self/status", str(private_dir / name)]
                assert run(c, target=target, args=args)["exitcode"] == 0, env
                ignored = ignored_signals((private_dir / name).read_text())
                assert set(ignored) <= {signal.SIGPIPE, signal.SIGXFSZ}, (env, ignored)
    finally:
        stop_daemon(d)
