"""Opening the Unix socket: retried while the daemon is busy or restarting, and refused unless the
kernel says the other end runs as a user we trust (SO_PEERCRED), before a byte is sent.

Why the peer check: when `XDG_RUNTIME_DIR` is unset the default socket is under
`/tmp/supervisord-lite-$UID`, a name anyone can take first. A daemon of another user there would
receive our requests and the stdout/stderr fds we pass, and could answer with a fake pid.
"""

from __future__ import annotations

import errno
import hmac
import os
import socket
import struct
import time
from collections.abc import Iterable

ENV_DAEMON_UID = "SUPERVISORD_LITE_DAEMON_UID"
"""The uid the daemon runs as, when it is not ours (a shared daemon with `--allow-group`)."""

# ECONNREFUSED is a daemon between two lives (restarting) or a stale socket: retried briefly, so
# that "no daemon" is still reported at once. EAGAIN is a full backlog: retried until the timeout.
REFUSED_RETRY_SECONDS = 1.0


class PeerRefused(Exception):
    """The other end runs as a user this client does not trust; the message says why."""


def trusted_uids(extra: Iterable[int] = ()) -> set[int]:
    """Our own uid, root, and the uid in $SUPERVISORD_LITE_DAEMON_UID (if set), plus `extra`."""
    uids = {os.geteuid(), 0, *extra}
    named = os.environ.get(ENV_DAEMON_UID)
    if named:
        uids.add(int(named))
    return uids


def peer_uid(sock: socket.socket) -> int:
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", raw)[1])


def check_peer(sock: socket.socket, path: str, trusted: set[int]) -> None:
    uid = peer_uid(sock)
    if uid not in trusted:
        raise PeerRefused(
            f"refusing to talk to the daemon at {path}: it runs as uid {uid}, not as this user "
            f"(uid {os.geteuid()}), root or ${ENV_DAEMON_UID}; another user may have taken the "
            f"socket's directory ({os.path.dirname(path)}). Nothing was sent"
        )


def hmac_response(authkey: str, challenge: bytes) -> str:
    """daemon.authenticate's answer: hex HMAC-SHA256 of the challenge under the key's UTF-8."""
    return hmac.new(authkey.encode("utf-8"), challenge, "sha256").hexdigest()


def connect_unix(path: str, timeout: float) -> socket.socket:
    """A connected socket (blocking), or the last OSError once retrying is over."""
    start = time.monotonic()
    delay = 0.002
    while True:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(max(timeout - (time.monotonic() - start), 0.001))
            sock.connect(path)
            sock.settimeout(None)
            return sock
        except OSError as exc:
            sock.close()
            waited = time.monotonic() - start
            window = REFUSED_RETRY_SECONDS if exc.errno == errno.ECONNREFUSED else timeout
            if exc.errno not in (errno.EAGAIN, errno.ECONNREFUSED) or waited + delay > min(
                window, timeout
            ):
                raise
        time.sleep(delay)  # backoff between tries of a busy (or restarting) daemon
        delay = min(delay * 2, 0.1)
