"""Which way the daemon holds a child's tree, and the pieces of the process-group path."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

from supervisord_lite.owner import tree
from tests.test_wire_support import pid_gone
from tests.wire import wait_until


def test_no_cgroup_v2_here_means_the_process_group_path(tmp_path: Path) -> None:
    v1 = tmp_path / "cgroup-v1"
    v1.write_text("12:pids:/user.slice\n1:name=systemd:/user.slice\n")
    assert tree.delegated_cgroup(str(v1), str(tmp_path)) is None
    missing = tmp_path / "nothing"
    assert tree.delegated_cgroup(str(missing), str(tmp_path)) is None


def test_a_writable_unified_cgroup_is_taken(tmp_path: Path) -> None:
    root = tmp_path / "fs"
    (root / "system.slice" / "sl.service").mkdir(parents=True)
    (root / "cgroup.controllers").write_text("cpu memory pids\n")
    proc = tmp_path / "cgroup"
    proc.write_text("0::/system.slice/sl.service\n")
    assert tree.delegated_cgroup(str(proc), str(root)) == str(root / "system.slice/sl.service")
    hybrid = tmp_path / "hybrid"
    hybrid.write_text("0::/system.slice/gone.service\n")
    assert tree.delegated_cgroup(str(hybrid), str(root)) is None  # no such directory


def test_this_machine_takes_the_path_its_cgroups_allow() -> None:
    writable_v2 = os.path.exists("/sys/fs/cgroup/cgroup.controllers") and (
        tree.delegated_cgroup() is not None
    )
    assert tree.tree_mode() == ("cgroup" if writable_v2 else "process-group")


def test_kill_group_reaches_a_grandchild() -> None:
    sh = subprocess.Popen(
        ["sh", "-c", "sleep 1004 & echo $!; wait"],
        stdout=subprocess.PIPE,
        start_new_session=True,
    )
    assert sh.stdout is not None
    with sh.stdout:
        grandchild = int(sh.stdout.readline())
    tree.kill_group(sh.pid, signal.SIGTERM)
    assert sh.wait(timeout=10) == -signal.SIGTERM
    wait_until(lambda: pid_gone(grandchild), timeout=10, what="the grandchild to die")
    tree.kill_group(sh.pid, signal.SIGTERM)  # a group that is gone: no error
