"""Programs (argv targets without a cwd) start through posix_spawn, not Popen: what Popen gave
them still holds (see PopenSpawner._spawn_program)."""

from __future__ import annotations

import os
import re
import stat
from pathlib import Path

from tests.conftest import start_daemon, stop_daemon
from tests.test_wire_support import listed_fds, run
from tests.wire import RawClient


def test_a_program_runs_in_its_own_session_with_default_signals(
    c: RawClient, private_dir: Path
) -> None:
    out = private_dir / "out"
    # exec: the shell's pid becomes cat's, so /proc/self is the process the daemon started.
    script = f"exec cat /proc/self/stat /proc/self/status > {out}"
    assert run(c, target={"argv": ["sh", "-c", script]})["exitcode"] == 0
    text = out.read_text()
    stat_line = text.splitlines()[0]
    pid = stat_line.split(" ", 1)[0]
    fields = stat_line.rsplit(")", 1)[1].split()  # state ppid pgrp session ...
    assert fields[3] == pid and fields[2] == pid, "a new session, led by the program"
    # The daemon ignores SIGPIPE (Python does); the program must not inherit that, nor any other
    # standard signal ignored. (glibc's posix_spawn leaves its own two internal signals, 32 and
    # 33, ignored; glibc sets their handlers itself before it uses them, as subprocess's own
    # posix_spawn path has it too.)
    sig_ign = re.search(r"^SigIgn:\s*([0-9a-f]+)$", text, re.M)
    assert sig_ign is not None, text
    ignored = [n for n in range(1, 32) if int(sig_ign[1], 16) & (1 << (n - 1))]
    assert not ignored, ignored


def test_a_bare_name_is_looked_up_on_the_childs_path(c: RawClient, private_dir: Path) -> None:
    program = private_dir / "sl-only-here-xyz"
    program.write_text("#!/bin/sh\nexit 7\n")
    program.chmod(stat.S_IRWXU)
    target = {"argv": [program.name], "env": {"PATH": f"{private_dir}:/usr/bin:/bin"}}
    assert run(c, target=target)["exitcode"] == 7


def test_fds_the_daemon_inherited_do_not_reach_programs(private_dir: Path) -> None:
    r, w = os.pipe()
    os.set_inheritable(w, True)
    try:
        daemon = start_daemon(private_dir, pass_fds=(w,))
    finally:
        os.close(w)
    try:
        out = private_dir / "fds"
        with daemon.client() as c:
            script = f"ls -l /proc/self/fd > {out}"
            assert run(c, target={"argv": ["sh", "-c", script]})["exitcode"] == 0
        fds = listed_fds(out)
        # Only 0-2 and the directory ls opened to list /proc/self/fd.
        extra = {fd: t for fd, t in fds.items() if fd > 2 and not t.startswith("/proc/")}
        assert not extra, fds
    finally:
        stop_daemon(daemon)
        os.close(r)
