"""Where the socket lives when nobody says: the same rule for the daemon and every client."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

ENV_SOCKET = "SUPERVISORD_LITE_SOCKET"


def default_socket_path(env: Mapping[str, str] | None = None, uid: int | None = None) -> Path:
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    if env.get(ENV_SOCKET):
        return Path(env[ENV_SOCKET])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "supervisord-lite" / "sock"
    if uid == 0:
        return Path("/run/supervisord-lite/sock")
    return Path(f"/tmp/supervisord-lite-{uid}/sock")


def parent_of(pid: int) -> int | None:
    """The parent pid from /proc (None when the process is gone)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: the fields start after the last ')'.
    fields = stat[stat.rfind(b")") + 2 :].split()
    return int(fields[1])
