"""Shared fixtures: a real daemon on a temporary socket, and a raw NDJSON client for it."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.wire import RawClient, socket_accepts, terminate, wait_until


class Daemon:
    """A supervisord-lite daemon process serving on its own socket in a private directory."""

    def __init__(self, socket_path: Path, proc: subprocess.Popen[bytes], stderr_path: Path) -> None:
        self.socket_path = socket_path
        self.proc = proc
        self.stderr_path = stderr_path

    def client(self) -> RawClient:
        return RawClient(self.socket_path)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")


REPO = Path(__file__).resolve().parent.parent


def launch_daemon(
    args: list[str],
    sock: Path,
    stderr: Path,
    *,
    env: dict[str, str] | None = None,
    umask: int = -1,
    pass_fds: tuple[int, ...] = (),
) -> subprocess.Popen[bytes]:
    """`python -m supervisord_lite serve ARGS` from the repository root, with exactly this
    environment (None: ours); returns once `sock` accepts, and stops a daemon that fails to."""
    with stderr.open("wb") as err_file:  # the child keeps its own copy of the fd
        proc = subprocess.Popen(
            [sys.executable, "-m", "supervisord_lite", "serve", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            env=env,
            cwd=REPO,
            umask=umask,
            pass_fds=pass_fds,
        )

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode}: {stderr.read_text()}")
        return socket_accepts(sock)

    try:
        wait_until(up, timeout=15, what=f"the daemon to accept on {sock}")
    except BaseException:
        terminate(proc)
        raise
    return proc


def start_daemon(
    directory: Path, *extra: str, env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = ()
) -> Daemon:
    """Serve on `directory`/sl.sock; return once the socket accepts."""
    sock = directory / "sl.sock"
    err = directory / "daemon.stderr"
    full_env = {**os.environ, **(env or {})}
    full_env.pop("SUPERVISORD_LITE_SOCKET", None)
    proc = launch_daemon(
        ["--socket", str(sock), *extra], sock, err, env=full_env, pass_fds=pass_fds
    )
    return Daemon(sock, proc, err)


def stop_daemon(d: Daemon) -> int:
    return terminate(d.proc)


@pytest.fixture
def private_dir() -> Iterator[Path]:
    # Short paths: a Unix socket path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="sl-") as d:
        yield Path(d)


@pytest.fixture
def daemon(private_dir: Path) -> Iterator[Daemon]:
    d = start_daemon(private_dir)
    yield d
    stop_daemon(d)


@pytest.fixture
def c(daemon: Daemon) -> Iterator[RawClient]:
    """A raw wire client on the test's daemon."""
    with daemon.client() as client:
        yield client


@dataclass(frozen=True)
class OtherUser:
    name: str
    uid: int
    gid: int


@pytest.fixture(scope="session")
def other_user() -> Iterator[OtherUser]:
    """A second user, made for the session with useradd (root only) and removed after it."""
    if os.geteuid() != 0:
        pytest.skip("needs root, to create a second user with useradd")
    if shutil.which("useradd") is None:
        pytest.skip("needs useradd, to create a second user")
    name = f"sltest{os.getpid()}"
    subprocess.run(["useradd", "--no-create-home", "--shell", "/bin/false", name], check=True)
    try:
        record = pwd.getpwnam(name)
        yield OtherUser(name, record.pw_uid, record.pw_gid)
    finally:
        subprocess.run(["userdel", name], check=False)
