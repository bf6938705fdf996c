"""No squatting: the daemon refuses a socket directory another user could have prepared, and a
client refuses, before it sends a byte or an fd, a daemon that runs as another user (a second user
is made for the test; skipped with the reason when not root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from supervisord_lite_client import Client, UntrustedDaemon

from tests.conftest import REPO, OtherUser, launch_daemon
from tests.wire import terminate

SYSTEM_PYTHON = shutil.which("python3", path="/usr/bin:/bin")  # readable by any user


def _serve(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "supervisord_lite", "serve", "--socket", str(directory / "sock")],
        cwd=REPO,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_daemon_refuses_a_directory_of_another_user(
    private_dir: Path, other_user: OtherUser
) -> None:
    squatted = private_dir / "supervisord-lite-x"
    squatted.mkdir(mode=0o700)
    os.chown(squatted, other_user.uid, other_user.gid)
    done = _serve(squatted)
    assert done.returncode == 1, done
    assert f"belongs to uid {other_user.uid}" in done.stderr, done.stderr
    assert not (squatted / "sock").exists()


@pytest.mark.parametrize("mode", [0o777, 0o770, 0o702])
def test_the_daemon_refuses_a_directory_others_can_write(private_dir: Path, mode: int) -> None:
    shared = private_dir / "shared"
    shared.mkdir()
    os.chmod(shared, mode)
    done = _serve(shared)
    assert done.returncode == 1, done
    assert f"mode {mode:04o} lets others write" in done.stderr, done.stderr
    assert not (shared / "sock").exists()


def test_the_daemon_makes_its_missing_directory_private(private_dir: Path) -> None:
    sock = private_dir / "new" / "deeper" / "sock"
    proc = launch_daemon(["--socket", str(sock)], sock, private_dir / "err")
    try:
        assert (os.stat(sock.parent).st_mode & 0o777) == 0o700
        assert (os.stat(sock.parent.parent).st_mode & 0o022) == 0  # nobody else writes above
    finally:
        terminate(proc)


@pytest.fixture
def squatter(
    private_dir: Path, other_user: OtherUser
) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    """Another user's fake daemon in a 0777 directory of theirs, as in /tmp/supervisord-lite-$UID."""
    if SYSTEM_PYTHON is None:
        pytest.skip("needs a python3 in /usr/bin that another user may run")
    os.chmod(private_dir, 0o755)
    squatted = private_dir / "squatted"
    squatted.mkdir()
    os.chown(squatted, other_user.uid, other_user.gid)
    os.chmod(squatted, 0o777)
    sock = squatted / "sock"
    proc = subprocess.Popen(
        [SYSTEM_PYTHON, str(REPO / "tests" / "squatter.py"), str(sock)],
        user=other_user.uid,
        group=other_user.gid,
        extra_groups=[],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    try:
        yield sock, proc
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_the_python_client_refuses_a_daemon_of_another_user(
    squatter: tuple[Path, subprocess.Popen[str]], other_user: OtherUser
) -> None:
    sock, proc = squatter
    with pytest.raises(UntrustedDaemon) as caught:
        Client(sock)
    assert f"runs as uid {other_user.uid}" in str(caught.value)
    assert "Nothing was sent" in str(caught.value)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "received 0 bytes, 0 fds"


def test_a_named_daemon_uid_is_trusted(
    squatter: tuple[Path, subprocess.Popen[str]], other_user: OtherUser
) -> None:
    """A shared daemon of another user (--allow-group) is trusted once named."""
    sock, proc = squatter
    client = Client(sock, daemon_uid=other_user.uid, check_version=False)
    client.close()
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "received 0 bytes, 0 fds"
