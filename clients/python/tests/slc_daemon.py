"""A real supervisord-lite daemon on a private socket, for the tests (see conftest.py)."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from slc_helpers import wait_until
from supervisord_lite_client import Client


class Daemon:
    def __init__(self, directory: Path, *extra: str) -> None:
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
                    "--state-dir",
                    str(directory / "state"),
                    *extra,
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
        # A front stopped by SIGKILL leaves its keeper holding what ran (as it must): end it.
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.directory / "state" / "keeper.pid").read_text())
            os.kill(pid, signal.SIGTERM)
