"""Shared fixtures: a real daemon on a temporary socket, and a raw NDJSON client for it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.wire import RawClient, terminate, wait_until


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


def start_daemon(
    directory: Path, *extra: str, env: dict[str, str] | None = None, pass_fds: tuple[int, ...] = ()
) -> Daemon:
    """Serve on `directory`/sl.sock from the repository root; return once the socket accepts."""
    sock = directory / "sl.sock"
    err = directory / "daemon.stderr"
    full_env = {**os.environ, **(env or {})}
    full_env.pop("SUPERVISORD_LITE_SOCKET", None)
    with err.open("wb") as err_file:  # the child keeps its own copy of the fd
        proc = subprocess.Popen(
            [sys.executable, "-m", "supervisord_lite", "serve", "--socket", str(sock), *extra],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=err_file,
            env=full_env,
            cwd=REPO,
            pass_fds=pass_fds,
        )
    daemon = Daemon(sock, proc, err)

    def accepts() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"daemon exited with {proc.returncode}: {err.read_text()}")
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(sock))
            except OSError:
                return False
            return True

    try:
        wait_until(accepts, timeout=15, what="the daemon to accept connections")
    except BaseException:
        stop_daemon(daemon)
        raise
    return daemon


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
