"""The Unix-socket listener: a private directory, a 0600 socket, one daemon per path, peer checks."""

from __future__ import annotations

import asyncio
import contextlib
import errno
import fcntl
import logging
import os
import socket
import stat
import struct
from collections.abc import Callable
from pathlib import Path

from supervisord_lite.rpc.dispatch import error_response
from supervisord_lite.rpc.errors import ErrorCode
from supervisord_lite.rpc.methods import Peer
from supervisord_lite.transport.connection import (
    BufferBudget,
    Connection,
    Handler,
    socket_reader,
)

log = logging.getLogger(__name__)


# accept() errors that say "not now" rather than "never": the listener is paused, not spun on.
_OUT_OF_RESOURCES = frozenset((errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM))
ACCEPT_PAUSE = 0.1  # seconds between tries while out of fds


class AlreadyServing(Exception):
    """Another live daemon serves this path."""


class UnsafeDirectory(Exception):
    """The socket's directory could let another user put a socket of theirs in our place."""


def check_directory(directory: Path) -> None:
    """As OpenSSH's StrictModes: the socket's directory must be this user's (or root's) and
    writable by nobody else. Otherwise another user could have made it first and put a socket
    there that clients would take for ours (`/tmp/supervisord-lite-$UID` is a fixed name)."""
    st = os.lstat(directory)
    me = os.geteuid()
    if not stat.S_ISDIR(st.st_mode):
        raise UnsafeDirectory(
            f"{directory} is not a directory (a symlink?); refusing to serve there"
        )
    if st.st_uid not in (me, 0):
        raise UnsafeDirectory(
            f"refusing to serve in {directory}: it belongs to uid {st.st_uid}, not to this "
            f"daemon's user (uid {me}) or root, so another user could intercept clients there; "
            "remove it (or choose another --socket) and start again"
        )
    if st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
        raise UnsafeDirectory(
            f"refusing to serve in {directory}: its mode {stat.S_IMODE(st.st_mode):04o} lets "
            f"others write in it; `chmod 700 {directory}` (or choose another --socket)"
        )


def _acquire_lock(path: Path) -> int:
    """An flock next to the socket: of two daemons started on one path, exactly one goes on."""
    fd = os.open(f"{path}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise AlreadyServing(f"another supervisord-lite daemon is serving {path}") from None
    return fd


def bind_socket(path: Path, *, group: int | None = None) -> tuple[socket.socket, int]:
    """Bind a listening socket at `path`; returns it and the lock fd to keep for its lifetime.

    With `group` (--allow-group) the directory is 0750 and the socket 0660, both of that group,
    so its members can connect (who may then do what is docs/security.md)."""
    directory = path.parent
    if not directory.exists():
        with contextlib.suppress(FileExistsError):  # made meanwhile: checked below all the same
            directory.mkdir(mode=0o700, parents=True)
            os.chmod(directory, 0o700)  # mkdir's mode is filtered by the umask
    check_directory(directory)
    if group is not None:
        os.chown(directory, -1, group)
        os.chmod(directory, 0o750)
    lock_fd = _acquire_lock(path)
    try:
        if path.exists() or path.is_symlink():
            if not stat.S_ISSOCK(path.lstat().st_mode):
                raise AlreadyServing(f"{path} exists and is not a socket; refusing to replace it")
            if _answers(path):
                raise AlreadyServing(f"another daemon is accepting connections on {path}")
            path.unlink()  # a stale socket left by a daemon that died
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_CLOEXEC)
        old_umask = os.umask(0o177)  # created 0600, with no window where it is wider
        try:
            sock.bind(str(path))
        finally:
            os.umask(old_umask)
        if group is None:
            os.chmod(path, 0o600)
        else:
            os.chown(path, -1, group)
            os.chmod(path, 0o660)
        sock.listen(socket.SOMAXCONN)  # a burst of connects waits in the kernel, not refused
    except BaseException:
        os.close(lock_fd)
        raise
    return sock, lock_fd


def _answers(path: Path) -> bool:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        try:
            probe.connect(str(path))
        except OSError as exc:
            if exc.errno in (errno.ECONNREFUSED, errno.ENOENT):
                return False
            raise
        return True


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process that connected, as the kernel recorded it."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


SO_PEERGROUPS = getattr(socket, "SO_PEERGROUPS", 59)  # Linux 4.13; not named by Python 3.11


def peer_groups(sock: socket.socket) -> set[int]:
    """The supplementary groups of the process that connected, as the kernel recorded them."""
    size = struct.calcsize("I")
    try:
        raw = sock.getsockopt(socket.SOL_SOCKET, SO_PEERGROUPS, 256 * size)
    except OSError:
        return set()
    return set(struct.unpack(f"{len(raw) // size}I", raw[: len(raw) // size * size]))


class Admission:
    """Who may connect: the daemon's user and root; members of --allow-group; and any process the
    daemon supervises (or a descendant of one), whatever user it runs as (`supervised`)."""

    def __init__(
        self,
        *,
        group: int | None = None,
        group_name: str | None = None,
        supervised: Callable[[int], bool] = lambda pid: False,
    ) -> None:
        self._uids = {os.geteuid(), 0}
        self._group = group
        self._supervised = supervised
        self.who = (
            "the daemon's user and root"
            + (f", members of group {group_name or group}" if group is not None else "")
            + " and the processes it supervises"
        )

    def __call__(self, conn: socket.socket, pid: int, uid: int, gid: int) -> bool:
        if uid in self._uids:
            return True
        if self._group is not None and (gid == self._group or self._group in peer_groups(conn)):
            return True
        return pid > 0 and self._supervised(pid)


class UnixServer:
    def __init__(
        self,
        sock: socket.socket,
        handler: Handler,
        *,
        limit: int,
        budget: BufferBudget | None = None,
        admit: Admission | None = None,
    ) -> None:
        self._sock = sock
        self._budget = budget or BufferBudget()
        self._handler = handler
        self._limit = limit
        self._loop = asyncio.get_running_loop()
        self._connections: set[Connection] = set()
        self._admit = admit or Admission()
        self._uid = os.geteuid()
        self._paused: asyncio.TimerHandle | None = None
        self._starved = False  # in an episode of accept failing for want of fds
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._accept)

    def _pause_accepting(self, exc: OSError) -> None:
        """Out of fds (or memory): the pending connect stays pending and the listener readable, so
        accepting again at once would spin. Stop for a moment instead; one log line an episode."""
        if not self._starved:
            self._starved = True
            log.error(
                "cannot accept connections: %s; pausing accept (retried every %.1f s) until fds "
                "are freed; raise RLIMIT_NOFILE if this recurs",
                exc.strerror or exc,
                ACCEPT_PAUSE,
            )
        self._loop.remove_reader(self._sock.fileno())
        self._paused = self._loop.call_later(ACCEPT_PAUSE, self._retry_accept)

    def _fed(self) -> None:
        """accept() had an fd again: the episode is over."""
        if self._starved:
            self._starved = False
            log.info("accepting connections again")

    def _retry_accept(self) -> None:
        self._paused = None
        self._loop.add_reader(self._sock.fileno(), self._accept)
        self._accept()

    def _accept(self) -> None:
        for _ in range(64):  # a burst of connects is taken in one wake-up
            try:
                conn, _ = self._sock.accept()
            except (BlockingIOError, InterruptedError):
                self._fed()  # (accept takes an fd before it looks at the queue: EMFILE first)
                return
            except OSError as exc:
                if exc.errno in _OUT_OF_RESOURCES:
                    self._pause_accepting(exc)
                else:
                    log.warning("accept failed: %s", exc)
                return
            self._fed()
            conn.setblocking(False)
            pid, uid, gid = peer_credentials(conn)
            if not self._admit(conn, pid, uid, gid):
                log.warning("refused a connection from uid %d (pid %d)", uid, pid)
                self._refuse(conn)
                continue
            groups = () if uid == 0 or uid == self._uid else tuple(sorted(peer_groups(conn)))
            self._serve(conn, Peer(pid=pid or None, uid=uid, gid=gid, groups=groups))

    def _refuse(self, conn: socket.socket) -> None:
        """Say why, then close gracefully: closing with unread input would reset the connection
        and the peer would never see the error. What it sent is read and dropped, unparsed."""
        with contextlib.suppress(OSError):
            conn.send(
                error_response(
                    ErrorCode.PERMISSION_DENIED,
                    f"Permission denied: only {self._admit.who} may connect",
                )
            )
            conn.shutdown(socket.SHUT_WR)
        fd = conn.fileno()
        budget = [1 << 20]

        def finish() -> None:
            if conn.fileno() >= 0:
                self._loop.remove_reader(fd)
                conn.close()

        def drain() -> None:
            try:
                data = conn.recv(65536)
            except BlockingIOError:
                return
            except OSError:
                data = b""
            budget[0] -= len(data)
            if not data or budget[0] <= 0:
                finish()

        self._loop.add_reader(fd, drain)
        self._loop.call_later(5.0, finish)  # a peer that never closes is cut off

    def _serve(self, conn: socket.socket, peer: Peer) -> None:
        def closed(c: Connection) -> None:
            self._connections.discard(c)
            conn.close()

        connection = Connection(
            read_fd=conn.fileno(),
            write_fd=conn.fileno(),
            reader=socket_reader(conn),
            writer=conn.send,
            handler=self._handler,
            peer=peer,
            limit=self._limit,
            on_close=closed,
            budget=self._budget,
        )
        self._connections.add(connection)

    def close(self) -> None:
        """Stop accepting and drop every connection."""
        if self._paused is not None:
            self._paused.cancel()
        self._loop.remove_reader(self._sock.fileno())
        self._sock.close()
        for connection in list(self._connections):
            connection.close()
