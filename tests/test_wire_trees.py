"""Both ways of holding a child's tree, on a real daemon: its process group (where no cgroup v2
is delegated, as on this project's machines), and a cgroup v2 of its own (a cgroup2 hierarchy
mounted for the test, where the machine lets root mount one)."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Daemon, keeper_pid, start_daemon, stop_daemon
from tests.test_wire_support import create, join, pid_gone, start
from tests.wire import RawClient, wait_until

# A child that leaves its process group (setsid) and prints its pid.
ESCAPER = ["sh", "-c", "setsid sleep 1005 & echo $!; wait"]


@pytest.fixture
def cgroup2() -> Iterator[Path]:
    if os.geteuid() != 0:
        pytest.skip("mounting a cgroup2 hierarchy needs root")
    with tempfile.TemporaryDirectory(prefix="sl-cg2-") as mnt:
        done = subprocess.run(["mount", "-t", "cgroup2", "none", mnt], capture_output=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount cgroup2 here: {done.stderr.decode().strip()}")
        try:
            yield Path(mnt)
        finally:
            subprocess.run(["umount", mnt], check=False)


def first_line(c: RawClient, process_id: int) -> str:
    r = c.call("process.logs", {"id": process_id, "follow": True, "timeout": 20})
    return str(r["lines"][0]["text"])


def escaped(c: RawClient) -> tuple[dict[str, Any], int]:
    p = create(c, target={"argv": ESCAPER})
    start(c, p["id"], output="log")
    pid = int(first_line(c, p["id"]))
    # `setsid` execs sleep once it has left the group: from then on it is out of it.
    comm = Path(f"/proc/{pid}/comm")
    wait_until(lambda: comm.read_text().strip() == "sleep", timeout=10, what="setsid to exec")
    return p, pid


def test_the_process_group_path_misses_what_left_the_group_until_the_daemon_stops(
    private_dir: Path,
) -> None:
    d = start_daemon(private_dir)
    try:
        line = "each child's tree is held by its process group"
        wait_until(lambda: line in d.stderr(), timeout=10, what="the daemon's start lines")
        with d.client() as c:
            p, sleeper = escaped(c)
            info = c.call("process.terminate", {"id": p["id"], "timeout": 5})
            assert info["exitcode"] == -15
            assert not pid_gone(sleeper)  # out of the group: the stop did not reach it
    finally:
        stop_daemon(d)
    wait_until(lambda: pid_gone(sleeper), timeout=10, what="the escapee to die with the daemon")


@pytest.fixture
def cg_daemon(private_dir: Path, cgroup2: Path) -> Iterator[Daemon]:
    d = start_daemon(private_dir, "--cgroup-root", str(cgroup2))
    yield d
    stop_daemon(d)


def cgroup_of(pid: int) -> str:
    lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
    return next(line[3:] for line in lines if line.startswith("0::"))


def test_the_cgroup_path_holds_what_left_the_group(cg_daemon: Daemon, cgroup2: Path) -> None:
    d = cg_daemon
    line = "each child's tree is held by a cgroup v2 of its own"
    wait_until(lambda: line in d.stderr(), timeout=10, what="the daemon's start lines")
    owner = d.owner_pid()  # the cgroups are the owner's: the keeper's, or the daemon's itself
    with d.client() as c:
        p, sleeper = escaped(c)
        own = f"/supervisord-lite-{owner}/{p['id']}"
        assert cgroup_of(sleeper) == own  # the escapee is in the child's cgroup
        assert (cgroup2 / own.lstrip("/")).is_dir()
        info = c.call("process.terminate", {"id": p["id"], "timeout": 5})
        assert info["exitcode"] == -15
        wait_until(lambda: pid_gone(sleeper), timeout=10, what="the escapee to die with it")
        # A program's run that exits leaves nothing behind: its cgroup is killed at its exit.
        st = c.call("program.add", {"name": "leaver", "restart": "no", "target": {
            "argv": ["sh", "-c", "setsid sleep 1006 & echo $!"]}})  # fmt: skip
        left = int(first_line(c, st["process"]["id"]))
        join(c, st["process"]["id"])
        wait_until(lambda: pid_gone(left), timeout=10, what="the run's leftover to die")
        # A Python target (from the zygote, or a fresh interpreter) is in its own cgroup too.
        py = create(c, target={"callable": "time:sleep"}, args=[30])
        pid = start(c, py["id"])["pid"]
        assert cgroup_of(pid) == f"/supervisord-lite-{owner}/{py['id']}"
        assert c.call("process.terminate", {"id": py["id"], "timeout": 5})["exitcode"] == -15
    stop_daemon(d)
    wait_until(lambda: keeper_pid(d.state_dir) is None, timeout=15, what="the keeper to end")
    assert not (cgroup2 / f"supervisord-lite-{owner}").exists()  # removed at the stop
