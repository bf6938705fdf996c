"""Running `supervisord-lite <command>` as a user does: a real process, on a test daemon."""

from __future__ import annotations

import os
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
