"""`status` as a person sees it: in a terminal (a pty), with coloured states, columns aligned."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys

from supervisord_lite_client import Client

from tests.conftest import REPO, Daemon
from tests.ctl_helpers import ctl_env

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def test_status_in_a_terminal_is_coloured_and_aligned(daemon: Daemon) -> None:
    with Client(daemon.socket_path) as c:
        running = c.call("process.create", {"target": {"argv": ["sleep", "60"]}, "name": "nap"})
        c.call("process.start", {"id": running["id"]})
        crashed = c.call("process.create", {"target": {"argv": ["false"]}, "name": "oops"})
        c.call("process.start", {"id": crashed["id"]})
        c.call("process.join", {"id": crashed["id"]})
    leader, follower = pty.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "supervisord_lite", "status", "--socket",
             str(daemon.socket_path)], stdout=follower, stderr=follower, cwd=REPO, env=ctl_env(),
        )  # fmt: skip
        os.close(follower)
        follower = -1
        seen = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO: every writer of the terminal has gone
                break
            if not chunk:
                break
            seen += chunk
        assert proc.wait(timeout=20) == 0
    finally:
        os.close(leader)
        if follower >= 0:
            os.close(follower)
    screen = seen.decode().replace("\r\n", "\n")
    assert "\x1b[32mrunning" in screen  # green
    assert "\x1b[0mexited" in screen
    plain = ANSI.sub("", screen).splitlines()
    header = plain[0]
    assert header.split() == ["NAME", "ID", "STATE", "PID", "UPTIME/EXIT", "RESTARTS", "COMMAND"]
    rows = {line.split()[0]: line for line in plain[1:]}
    for column in ("STATE", "PID", "COMMAND"):  # each column starts where its header does
        at = header.index(column)
        assert all(row[at - 1] == " " and row[at] != " " for row in rows.values()), column
    assert "exit 1" in rows["oops"] and "sleep 60" in rows["nap"]
