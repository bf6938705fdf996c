"""systemd integration: sd_notify, watchdog and socket activation, written by hand (no dependency).

STUB: the interface the server calls; filled in by the systemd work (issue 6).
"""

from __future__ import annotations

import asyncio
import socket


class Notifier:
    """Sends sd_notify messages to $NOTIFY_SOCKET; does nothing when it is not set."""

    @classmethod
    def from_environment(cls) -> Notifier:
        """Read (and remove from os.environ) NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID."""
        return cls()

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start watchdog pings from the event loop itself, if the watchdog is enabled."""

    def ready(self, status: str) -> None:
        """READY=1 plus a STATUS= line."""

    def status(self, status: str) -> None:
        """A STATUS= line."""

    def stopping(self) -> None:
        """STOPPING=1."""

    def close(self) -> None:
        """Stop the watchdog and close the notify socket."""


def listen_sockets() -> list[socket.socket]:
    """Sockets passed by systemd socket activation (LISTEN_FDS for this pid), removing LISTEN_*."""
    return []
