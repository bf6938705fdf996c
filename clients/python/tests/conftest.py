"""Fixtures: a real supervisord-lite daemon on a short private socket path, and clients for it.

This directory is not a package (no __init__.py): pytest puts it first on sys.path, so the tests
and the children they start (which get the caller's sys.path) import `slc_helpers` by name.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from slc_helpers import wait_until
from supervisord_lite_client import Client, set_default_client


class Daemon:
    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.socket_path = directory / "s.sock"
        self.log_path = directory / "daemon.log"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SUPERVISORD_LITE_")}
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "supervisord_lite",
                    "serve",
                    "--socket",
                    str(self.socket_path),
                ],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=env,
            )
        wait_until(self._accepts, timeout=20, what="the daemon to accept connections")

    def _accepts(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"the daemon exited with {self.proc.returncode}: {self.log()}")
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket_path))
            except OSError:
                return False
        return True

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def client(self) -> Client:
        return Client(self.socket_path)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def _short_dir() -> Path:
    # A Unix socket path must fit in 108 bytes: pytest's tmp_path may not.
    return Path(tempfile.mkdtemp(prefix="slc-"))


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    directory = _short_dir()
    d = Daemon(directory)
    yield d
    d.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def own_daemon() -> Iterator[Daemon]:
    """A daemon of this test's own (for tests that stop it)."""
    directory = _short_dir()
    d = Daemon(directory)
    yield d
    d.stop()
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def client(daemon: Daemon) -> Iterator[Client]:
    with daemon.client() as c:
        yield c


@pytest.fixture
def short_dir() -> Iterator[Path]:
    directory = _short_dir()
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(autouse=True)
def _no_default_client_leak() -> Iterator[None]:
    yield
    set_default_client(None)
