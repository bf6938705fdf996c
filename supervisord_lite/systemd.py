"""systemd integration: sd_notify, watchdog and socket activation, written by hand (no dependency).

The protocol is a few datagrams (see sd_notify(3), sd_listen_fds(3)):

- ``$NOTIFY_SOCKET`` names a Unix datagram socket, a filesystem path or, with a leading ``@``, an
  abstract name. Each message is newline-separated ``KEY=value`` assignments: ``READY=1``,
  ``STATUS=...``, ``STOPPING=1``, ``WATCHDOG=1``.
- ``$WATCHDOG_USEC`` (for ``$WATCHDOG_PID``, when set) asks for ``WATCHDOG=1`` more often than that;
  we ping at half the interval from the event loop itself, so a loop that is stuck stops the pings
  and systemd restarts the service.
- ``$LISTEN_FDS`` sockets start at fd 3 when ``$LISTEN_PID`` is our pid; ``$LISTEN_FDNAMES`` names
  them, colon-separated.

Every variable is removed from ``os.environ`` when it is read, so no child inherits it, and every
passed fd is made close-on-exec.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket

log = logging.getLogger(__name__)

SD_LISTEN_FDS_START = 3
NOTIFY_ENV = ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")
LISTEN_ENV = ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES")
_SEND_TIMEOUT = 1.0  # seconds a notification may wait for room in the manager's queue


def _take(name: str) -> str | None:
    """Read and remove one variable from the environment (empty counts as unset)."""
    return os.environ.pop(name, None) or None


def notify_address(value: str | None) -> str | bytes | None:
    """The socket address `$NOTIFY_SOCKET` names: a path, or bytes for an abstract name."""
    if not value:
        return None
    if value.startswith("@"):
        return b"\0" + value[1:].encode()
    if value.startswith("/"):
        return value
    log.warning("ignoring NOTIFY_SOCKET=%r: neither a path nor an abstract name", value)
    return None


def watchdog_usec(usec: str | None, pid: str | None, own_pid: int | None = None) -> int | None:
    """The watchdog interval in microseconds, when the watchdog is enabled for this process."""
    if not usec:
        return None
    own_pid = os.getpid() if own_pid is None else own_pid
    if pid:
        try:
            if int(pid) != own_pid:
                return None
        except ValueError:
            log.warning("ignoring the watchdog: WATCHDOG_PID=%r is not a pid", pid)
            return None
    try:
        value = int(usec)
    except ValueError:
        log.warning("ignoring the watchdog: WATCHDOG_USEC=%r is not a number", usec)
        return None
    return value if value > 0 else None


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Notifier:
    """Sends sd_notify messages to $NOTIFY_SOCKET; does nothing when it is not set."""

    def __init__(
        self, address: str | bytes | None = None, watchdog_usec: int | None = None
    ) -> None:
        self.address = address
        self.watchdog_usec = watchdog_usec if address is not None else None
        self._sock: socket.socket | None = None
        if address is not None:
            self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.settimeout(_SEND_TIMEOUT)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._ping: asyncio.Handle | None = None
        self._flush: asyncio.Handle | None = None
        self._pending_status: str | None = None
        self._sent_status: str | None = None
        self._failed = False

    @classmethod
    def from_environment(cls) -> Notifier:
        """Read (and remove from os.environ) NOTIFY_SOCKET and WATCHDOG_USEC/WATCHDOG_PID."""
        address = notify_address(_take("NOTIFY_SOCKET"))
        usec = watchdog_usec(_take("WATCHDOG_USEC"), _take("WATCHDOG_PID"))
        return cls(address, usec)

    @property
    def enabled(self) -> bool:
        """True when messages go somewhere."""
        return self._sock is not None

    @property
    def watchdog_interval(self) -> float | None:
        """Seconds between two pings (half the watchdog timeout), or None without a watchdog."""
        return None if self.watchdog_usec is None else self.watchdog_usec / 2_000_000

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start watchdog pings from the event loop itself, if the watchdog is enabled."""
        self._loop = loop
        if self.watchdog_interval is not None and self._ping is None and self.enabled:
            self._ping = loop.call_soon(self._watchdog)

    def _watchdog(self) -> None:
        if self._sock is None or self._loop is None or self.watchdog_interval is None:
            return
        self.send("WATCHDOG=1")
        self._ping = self._loop.call_later(self.watchdog_interval, self._watchdog)

    def ready(self, status: str) -> None:
        """READY=1 plus a STATUS= line."""
        self._cancel_flush()
        status = _one_line(status)
        self._sent_status = status
        self.send(f"READY=1\nSTATUS={status}")

    def status(self, status: str) -> None:
        """A STATUS= line. A burst of changes within one loop iteration sends only the last one."""
        if self._sock is None:
            return
        self._pending_status = _one_line(status)
        loop = self._loop
        if loop is None or loop.is_closed():
            self._send_status()
        elif self._flush is None:
            self._flush = loop.call_soon(self._send_status)

    def _send_status(self) -> None:
        self._flush = None
        status, self._pending_status = self._pending_status, None
        if status is not None and status != self._sent_status:
            self._sent_status = status
            self.send(f"STATUS={status}")

    def _cancel_flush(self) -> None:
        if self._flush is not None:
            self._flush.cancel()
            self._flush = None
        self._pending_status = None

    def _flush_now(self) -> None:
        """Send a status still waiting for the end of the loop iteration, now."""
        if self._flush is not None:
            self._flush.cancel()
        self._send_status()

    def stopping(self) -> None:
        """STOPPING=1."""
        self._flush_now()
        self.send("STOPPING=1")

    def send(self, message: str) -> bool:
        """Send one notification; True when it was sent. Failures are logged, never raised."""
        if self._sock is None or self.address is None:
            return False
        try:
            self._sock.sendto(message.encode(), self.address)
        except OSError as exc:
            if not self._failed:  # once: a manager that went away must not flood the log
                log.warning("could not notify systemd (%s): %s", message.split("=", 1)[0], exc)
                self._failed = True
            return False
        self._failed = False
        return True

    def close(self) -> None:
        """Stop the watchdog and close the notify socket."""
        if self._ping is not None:
            self._ping.cancel()
            self._ping = None
        self._flush_now()
        if self._sock is not None:
            self._sock.close()
            self._sock = None


def listen_sockets_with_names() -> list[tuple[str, socket.socket]]:
    """(name, socket) for each socket passed by systemd to this pid, removing LISTEN_* from the
    environment in every case. Each fd is made close-on-exec. Only listening Unix stream sockets are
    kept: anything else (a datagram or TCP socket, a FIFO, an accepted connection) is logged and closed.
    """
    pid, count, names = (_take(name) for name in LISTEN_ENV)
    if not pid or not count:
        return []
    try:
        if int(pid) != os.getpid():
            return []  # meant for another process (our parent): not ours to touch
        n = int(count)
    except ValueError:
        log.warning("ignoring socket activation: LISTEN_PID=%r LISTEN_FDS=%r", pid, count)
        return []
    labels = names.split(":") if names else []
    result: list[tuple[str, socket.socket]] = []
    for i in range(max(n, 0)):
        fd = SD_LISTEN_FDS_START + i
        name = labels[i] if i < len(labels) else "unknown"
        try:
            os.set_inheritable(fd, False)
        except OSError as exc:
            log.warning("socket activation: fd %d (%s) is not open: %s", fd, name, exc)
            continue
        try:
            sock = socket.socket(fileno=fd)
        except OSError as exc:
            log.warning("socket activation: fd %d (%s) is not a socket: %s", fd, name, exc)
            with contextlib.suppress(OSError):
                os.close(fd)
            continue
        if sock.family != socket.AF_UNIX or sock.type != socket.SOCK_STREAM or not _listening(sock):
            log.warning(
                "socket activation: fd %d (%s) is not a listening Unix stream socket; "
                "use ListenStream=/path with Accept=no",
                fd,
                name,
            )
            sock.close()
            continue
        result.append((name, sock))
    return result


def _listening(sock: socket.socket) -> bool:
    try:
        return bool(sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN))
    except OSError:
        return False


def listen_sockets() -> list[socket.socket]:
    """Sockets passed by systemd socket activation (LISTEN_FDS for this pid), removing LISTEN_*."""
    return [sock for _name, sock in listen_sockets_with_names()]
