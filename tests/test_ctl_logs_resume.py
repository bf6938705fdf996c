"""`logs -f` outlives a crash of the daemon's front: it waits for the next one and reads on from
its cursor, so no line is lost or shown twice."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from supervisord_lite_client import Client, Command

from tests.conftest import REPO, start_daemon, stop_daemon
from tests.ctl_helpers import ctl_env


def test_logs_follow_resumes_after_the_front_crashes(private_dir: Path) -> None:
    flag = private_dir / "go"
    d = start_daemon(private_dir)
    script = f"echo one; while [ ! -e {flag} ]; do sleep 0.05; done; echo two; exec sleep 60"
    with Client(d.socket_path) as c:
        c.add_program("talk", Command(["sh", "-c", script]), restart="no")
    follower = subprocess.Popen(
        [sys.executable, "-m", "supervisord_lite", "logs", "-f", "--socket", str(d.socket_path),
         "talk"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
        env=ctl_env(),
    )  # fmt: skip
    d2 = None
    with follower:
        try:
            assert follower.stdout is not None and follower.stdout.readline() == "one\n"
            d.proc.kill()  # the front crashes; the keeper goes on holding the program's run
            d.proc.wait(timeout=15)
            flag.touch()  # "two" is written while no front is there
            d2 = start_daemon(private_dir)  # the same socket and state dir
            assert follower.stdout.readline() == "two\n"
            with Client(d2.socket_path) as c:
                c.program("stop", "talk")
            assert follower.wait(timeout=30) == 0
            assert follower.stdout.read() == ""  # nothing twice
        finally:
            if follower.poll() is None:
                follower.kill()
            if d2 is not None:
                stop_daemon(d2)
            if d.proc.poll() is None:
                stop_daemon(d)
