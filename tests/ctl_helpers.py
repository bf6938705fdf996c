"""Running `supervisord-lite <command>` as a user does: a real process, on a test daemon."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.conftest import REPO, Daemon


def ctl(
    daemon: Daemon | Path, *args: str, timeout: float = 30, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """`supervisord-lite ARGS --socket <the daemon's>`, its output as text."""
    sock = daemon if isinstance(daemon, Path) else daemon.socket_path
    return subprocess.run(
        [sys.executable, "-m", "supervisord_lite", *args[:1], "--socket", str(sock), *args[1:]],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=REPO,
        env=ctl_env(),
        check=False,
        **kw,
    )


def ctl_env() -> dict[str, str]:
    env = dict(os.environ)
    env.pop("SUPERVISORD_LITE_SOCKET", None)
    return env


def follower(*args: str) -> subprocess.Popen[str]:
    """`supervisord-lite ARGS` left running, its stdout a pipe, as a terminal's foreground job runs.

    Ctrl-C reaches only a foreground job, and that job has SIGINT at its default; so SIGINT is
    reset in the child. Without it, a suite started as `make test &` passes its ignored SIGINT on,
    and the follower (like `tail -f` started that way) rightly goes on.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "supervisord_lite", *args],
        stdout=subprocess.PIPE,
        text=True,
        cwd=REPO,
        env=ctl_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
