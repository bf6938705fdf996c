"""clients/shell/example.sh (bash, sed, socat) against a live daemon."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.conftest import Daemon
from tests.wire import wait_until

SCRIPT = Path(__file__).resolve().parent.parent / "clients" / "shell" / "example.sh"

pytestmark = pytest.mark.skipif(
    shutil.which("socat") is None,
    reason="socat is not installed (`make test-protocol-tools` installs it)",
)


def run(
    socket_path: Path | str, *argv: str, placement: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SUPERVISORD_LITE_SOCKET": str(socket_path)}
    env.pop("SUPERVISORD_LITE_PLACEMENT", None)
    if placement is not None:
        env["SUPERVISORD_LITE_PLACEMENT"] = placement
    return subprocess.run(
        ["bash", str(SCRIPT), *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )


def summary(out: str) -> list[str]:
    return [line for line in out.splitlines() if not line.startswith(("-> ", "<- "))]


def test_create_start_join(daemon: Daemon) -> None:
    done = run(daemon.socket_path)
    assert done.returncode == 0, done.stderr
    lines = summary(done.stdout)
    assert len(lines) == 3, done.stdout
    created = re.fullmatch(r"created process (\d+) \((Process-\d+)\)", lines[0])
    assert created, lines
    pid = re.fullmatch(r"started process (\d+): pid (\d+)", lines[1])
    assert pid and pid.group(1) == created.group(1), lines
    assert lines[2] == f"process {created.group(1)} exited: exitcode 3"
    # Every request and its response line are echoed, in order.
    echoed = [line[:3] for line in done.stdout.splitlines() if line.startswith(("-> ", "<- "))]
    assert echoed == ["-> ", "<- "] * 3
    # The child's output went to the daemon's stderr (output "daemon").
    wait_until(
        lambda: f"hello from a supervised process (pid {pid.group(2)})" in daemon.stderr(),
        timeout=10,
        what="the child's greeting in the daemon's log",
    )
    # The daemon agrees.
    with daemon.client() as c:
        info = c.call("process.info", {"id": int(created.group(1))})
    assert info["state"] == "exited" and info["exitcode"] == 3 and info["pid"] == int(pid.group(2))


def test_program_and_arguments_are_passed_as_json(daemon: Daemon) -> None:
    tricky = 'a "quoted" back\\slash\ttab $HOME ünï'
    done = run(daemon.socket_path, "sh", "-c", 'test "$1" = "$2" && exit 7', "x", tricky, tricky)
    assert done.returncode == 0, done.stderr
    assert summary(done.stdout)[-1].endswith("exited: exitcode 7"), done.stdout


def test_a_signal_is_a_negative_exit_code(daemon: Daemon) -> None:
    done = run(daemon.socket_path, "sh", "-c", "kill -TERM $$")
    assert done.returncode == 0, done.stderr
    assert summary(done.stdout)[-1].endswith("exited: exitcode -15"), done.stdout


def test_an_error_response_fails_the_script(daemon: Daemon) -> None:
    done = run(daemon.socket_path, "/nonexistent/program")
    assert done.returncode == 1
    assert '"code":1006' in done.stderr
    assert "exited: exitcode" not in done.stdout  # the summary line (JSON has "exited_at")


def test_a_placement_is_sent_and_a_local_daemon_refuses_it(daemon: Daemon) -> None:
    done = run(daemon.socket_path, "true", placement='{"resources":{"CPU":1}}')
    assert done.returncode == 1 and '"code":1020' in done.stderr
    assert '"placement":{"resources":{"CPU":1}}' in done.stdout  # as given, in the request


def test_no_daemon(private_dir: Path) -> None:
    done = run(private_dir / "nothing-here.sock")
    assert done.returncode == 2
    assert "no daemon socket" in done.stderr


def test_a_socket_others_could_have_put_there_is_refused(daemon: Daemon) -> None:
    os.chmod(daemon.socket_path.parent, 0o777)  # as a directory another user made first
    try:
        done = run(daemon.socket_path, "true")
    finally:
        os.chmod(daemon.socket_path.parent, 0o700)
    assert done.returncode == 2, done
    assert "refusing to talk" in done.stderr and "nothing was sent" in done.stderr
    assert "->" not in done.stdout
    with daemon.client() as c:
        assert c.call("process.list") == []  # nothing reached the daemon
