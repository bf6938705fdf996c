"""Where the daemon listens when nobody says: the daemon's own rule (protocol/PROTOCOL.md)."""

from __future__ import annotations

import os
from collections.abc import Mapping

ENV_SOCKET = "SUPERVISORD_LITE_SOCKET"
"""Set by the user to pick a daemon; the daemon sets it in every child it starts."""

ENV_PROCESS_ID = "SUPERVISORD_LITE_PROCESS_ID"
"""Set by the daemon in every child it starts: that child's own process id."""


def default_socket_path(env: Mapping[str, str] | None = None, uid: int | None = None) -> str:
    """`$SUPERVISORD_LITE_SOCKET`, else `$XDG_RUNTIME_DIR/supervisord-lite/sock`, else
    `/run/supervisord-lite/sock` for root, else `/tmp/supervisord-lite-$UID/sock`."""
    env = os.environ if env is None else env
    uid = os.getuid() if uid is None else uid
    if env.get(ENV_SOCKET):
        return env[ENV_SOCKET]
    if env.get("XDG_RUNTIME_DIR"):
        return os.path.join(env["XDG_RUNTIME_DIR"], "supervisord-lite", "sock")
    if uid == 0:
        return "/run/supervisord-lite/sock"
    return f"/tmp/supervisord-lite-{uid}/sock"
