"""The blocking shell around the sans-I/O protocol: one Unix socket connection to the daemon.

Thread-safe without a thread of its own: any number of threads may call at once. Writes are
serialized by one lock; reading is done by whichever waiting thread gets there first (the others
wait on a condition and are woken as replies are matched by id), so a `join` that blocks in one
thread never holds up a `getName` in another, and nothing runs in the background.

A connection belongs to the process that opened it: the daemon identifies the caller by the peer
pid it saw at connect time (the nearest supervised process above it becomes the parent of what this
connection creates). So the default client is per process: after a `fork()` the child opens its own.
An explicit `Client` must not be used across a fork.
"""

from __future__ import annotations

import array
import contextlib
import os
import socket
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from supervisord_lite_client.connect import (
    PeerRefused,
    check_peer,
    connect_unix,
    hmac_response,
    trusted_uids,
)
from supervisord_lite_client.errors import (
    ConnectionLost,
    DaemonUnavailable,
    ProtocolError,
    SupervisordLiteError,
    UntrustedDaemon,
)
from supervisord_lite_client.paths import ENV_SOCKET, default_socket_path
from supervisord_lite_client.protocol import (
    DaemonInfo,
    ProcessInfo,
    Reply,
    RpcProtocol,
    State,
    check_protocol_version,
    parse_daemon_info,
    parse_process_info,
)
from supervisord_lite_client.supervision import (
    EventStream,
    LogFollower,
    ProgramStatus,
    parse_status,
)
from supervisord_lite_client.targets import Command, Reference, wire_target

_RECV_SIZE = 65536


class Client:
    """A connection to the daemon at `socket_path` (default: `$SUPERVISORD_LITE_SOCKET`, else the
    daemon's default path). Raises DaemonUnavailable, naming the path, when nobody answers there.

    With `check_version` (the default) it asks `daemon.info` once and refuses a daemon of another
    protocol major version (ProtocolVersionError).

    Before anything is sent it checks, from the kernel (SO_PEERCRED), that the daemon runs as this
    user, root, `daemon_uid` or `$SUPERVISORD_LITE_DAEMON_UID` (UntrustedDaemon otherwise). A
    connect to a busy daemon (full backlog) or one restarting is retried within `connect_timeout`.
    """

    def __init__(
        self,
        socket_path: str | os.PathLike[str] | None = None,
        *,
        check_version: bool = True,
        connect_timeout: float = 10.0,
        daemon_uid: int | None = None,
    ) -> None:
        path = default_socket_path() if socket_path is None else os.fspath(socket_path)
        self.socket_path: str = path
        self.pid = os.getpid()  # the process the daemon sees at the other end
        self._proto = RpcProtocol()
        self._cond = threading.Condition()  # guards _proto, _done, _reading, _broken
        self._write_lock = threading.Lock()
        self._done: dict[int, Reply] = {}
        self._reading = False
        self._broken: SupervisordLiteError | None = None
        self._closed = False
        try:
            sock = connect_unix(path, connect_timeout)
        except OSError as exc:
            why = exc.strerror or str(exc)
            hint = (
                f"start one with `supervisord-lite serve --socket {path}`"
                if socket_path is not None or os.environ.get(ENV_SOCKET)
                else f"start one with `supervisord-lite serve`, or set ${ENV_SOCKET}"
            )
            raise DaemonUnavailable(
                f"no supervisord-lite daemon answers at {path}: {why} ({hint})", path
            ) from exc
        try:
            check_peer(sock, path, trusted_uids(() if daemon_uid is None else (daemon_uid,)))
        except PeerRefused as exc:
            sock.close()
            raise UntrustedDaemon(str(exc), path) from None
        self._sock = sock
        if check_version:
            try:
                check_protocol_version(self.daemon_info())
            except BaseException:
                self.close()
                raise

    # -- lifecycle ------------------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once closed here or lost (the daemon went away); a closed client cannot call."""
        return self._closed or self._broken is not None

    def close(self) -> None:
        """Close the connection; calls still waiting fail with ConnectionLost."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            if self._broken is None:
                self._broken = ConnectionLost(
                    f"the connection to the daemon at {self.socket_path} was closed by this client",
                    self.socket_path,
                )
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked in recv
        with self._cond:
            self._fail_pending()
            if not self._reading:
                self._sock.close()
            self._cond.notify_all()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<Client {self.socket_path!r} {state}>"

    # -- calls ----------------------------------------------------------------------------------

    def call(
        self, method: str, params: dict[str, Any] | None = None, *, fds: Sequence[int] = ()
    ) -> Any:
        """Call `method` with params by name and return its result (or raise its error).

        `fds` are sent with the request line (SCM_RIGHTS), as `process.start` with
        `output: "passed"` wants.
        """
        with self._cond:
            if self._broken is not None:
                raise self._broken
            request_id, line = self._proto.request(method, params)
        try:
            with self._write_lock:
                self._send(line, fds)
        except OSError as exc:
            raise self._lose(f"sending {method} failed: {exc.strerror or exc}") from exc
        return self._wait(request_id)

    def _send(self, line: bytes, fds: Sequence[int]) -> None:
        if not fds:
            self._sock.sendall(line)
            return
        ancillary = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array("i", fds).tobytes())]
        sent = self._sock.sendmsg([line], ancillary)  # the fds travel with the first byte
        if sent < len(line):
            self._sock.sendall(line[sent:])

    def _wait(self, request_id: int) -> Any:
        with self._cond:
            try:
                while True:
                    reply = self._done.pop(request_id, None)
                    if reply is not None:
                        if reply.error is not None:
                            raise reply.error
                        return reply.result
                    if self._broken is not None:
                        raise self._broken
                    if self._reading:
                        self._cond.wait()
                    else:
                        self._read_once()
            except BaseException:
                # Gave up (error or KeyboardInterrupt): a late answer is dropped, not kept.
                self._proto.abandon(request_id)
                self._done.pop(request_id, None)
                raise

    def _read_once(self) -> None:
        """Read one chunk with the condition released, then match what it completes (lock held)."""
        self._reading = True
        self._cond.release()
        error: str | None = None
        try:
            try:
                data = self._sock.recv(_RECV_SIZE)
            except OSError as exc:
                data, error = b"", exc.strerror or str(exc)
        finally:
            self._cond.acquire()
            self._reading = False
            self._cond.notify_all()
        if self._closed:
            self._sock.close()
            return
        if not data:
            why = f": {error}" if error else ""
            self._mark_broken(
                ConnectionLost(
                    f"the daemon at {self.socket_path} closed the connection{why} "
                    "(it stopped or restarted; its processes may be gone)",
                    self.socket_path,
                )
            )
            return
        try:
            replies = self._proto.receive(data)
        except SupervisordLiteError as exc:
            self._mark_broken(exc)
            return
        for reply in replies:
            self._done[reply.request_id] = reply

    def _lose(self, why: str) -> SupervisordLiteError:
        error = ConnectionLost(f"lost the daemon at {self.socket_path}: {why}", self.socket_path)
        with self._cond:
            self._mark_broken(error)
            return self._broken or error

    def _mark_broken(self, error: SupervisordLiteError) -> None:
        if self._broken is None:
            self._broken = error
        self._fail_pending()
        self._cond.notify_all()
        if not self._reading:
            self._sock.close()

    def _fail_pending(self) -> None:
        if self._broken is None:
            return
        for reply in self._proto.fail_all(self._broken):
            self._done[reply.request_id] = reply

    # -- a few methods by name ------------------------------------------------------------------

    def authenticate(self, process_id: int, authkey: str) -> None:
        """Prove that this connection holds the key of process `process_id` (multiprocessing's
        HMAC challenge: the key never crosses the wire). From then on this connection may control
        that process and its descendants, whatever user it runs as. AuthenticationFailed if the
        key is wrong."""
        asked = self.call("daemon.authenticate", {"id": process_id})
        if not isinstance(asked, dict) or asked.get("digest") != "sha256":
            raise ProtocolError(f"daemon.authenticate: unexpected challenge {asked!r}")
        response = hmac_response(authkey, bytes.fromhex(asked["challenge"]))
        self.call("daemon.authenticate", {"id": process_id, "response": response})

    def daemon_info(self) -> DaemonInfo:
        """`daemon.info`: the daemon's version, protocol version and pid."""
        return parse_daemon_info(self.call("daemon.info"))

    def list_processes(
        self,
        *,
        state: State | None = None,
        parent: int | None = None,
        after: int | None = None,
        limit: int | None = None,
    ) -> list[ProcessInfo]:
        """`process.list`, by id: every process the daemon knows, or one page of them.

        `state` and `parent` filter (`parent=0`: the processes the daemon created itself);
        `after` and `limit` (1 to 10000) make a page. Filters need protocol 1.1; with none the
        call is the 1.0 one. `iter_processes()` pages for you."""
        params = {
            k: v
            for k, v in (("state", state), ("parent", parent), ("after", after), ("limit", limit))
            if v is not None
        }
        result = self.call("process.list", params or None)
        if not isinstance(result, list):
            result = [result]  # parse_process_info reports what it is
        return [parse_process_info(item) for item in result]

    def iter_processes(
        self, *, state: State | None = None, parent: int | None = None, page_size: int = 1000
    ) -> Iterator[ProcessInfo]:
        """Every process (filtered as `list_processes`), by id, asked for `page_size` at a time,
        so no answer holds every record. Processes created or released meanwhile may or may not
        be seen; none is seen twice."""
        after = 0
        while True:
            page = self.list_processes(state=state, parent=parent, after=after, limit=page_size)
            yield from page
            if len(page) < page_size:
                return
            after = page[-1].id

    def release(self, process_id: int) -> None:
        """`process.release`: forget an ended (or never started) process; its id is then
        unknown (NoSuchProcess). StillRunning if it runs."""
        self.call("process.release", {"id": process_id})

    def info(self, process_id: int) -> ProcessInfo:
        """`process.info` of one process."""
        return parse_process_info(self.call("process.info", {"id": process_id}))

    # -- programs, events, logs (protocol 1.1) --------------------------------------------------

    def add_program(
        self, name: str, target: Command | Reference, args: Sequence[Any] = (), **options: Any
    ) -> ProgramStatus:
        """`program.add`: options are the method's params (restart="always", restart_delay=0.5,
        max_restarts, stop_signal="SIGINT", output, start=False, ...)."""
        wire, wargs, wkwargs = wire_target(target, tuple(args), options.pop("kwargs", {}))
        params = {"name": name, "target": wire, "args": wargs, "kwargs": wkwargs, **options}
        return parse_status(self.call("program.add", params))

    def program(self, action: str, name: str) -> ProgramStatus:
        """`program.<action>` for action in start, stop, restart, status."""
        return parse_status(self.call(f"program.{action}", {"name": name}))

    def remove_program(self, name: str) -> None:
        self.call("program.remove", {"name": name})

    def list_programs(self) -> list[ProgramStatus]:
        return [parse_status(s) for s in self.call("program.list")]

    def follow_logs(
        self,
        process_id: int | None = None,
        *,
        program: str | None = None,
        cursor: int = 0,
        stream: str | None = None,
        follow: bool = True,
        timeout: float = 30.0,
    ) -> LogFollower:
        """An iterator over a process's captured lines, or a program's across its runs (from
        `process_id`, one of its runs, or its current run)."""
        target: dict[str, Any] = {"id": process_id} if process_id is not None else {}
        if program is not None:
            target["program"] = program
        return LogFollower(self, target, cursor=cursor, stream=stream, timeout=timeout,
                           follow=follow)  # fmt: skip

    def reload(self) -> dict[str, Any]:
        """`daemon.reload`: the config file read again and applied; the names of the programs
        `added`, `changed`, `removed` and `unchanged`. BadConfig (nothing changed) on a bad file."""
        result: dict[str, Any] = self.call("daemon.reload")
        return result

    def events(self, since: int = 0, *, timeout: float = 30.0) -> EventStream:
        """An endless iterator over the daemon's events after `since`."""
        return EventStream(self, since=since, timeout=timeout)


# -- the default client: one per process, made on first use ---------------------------------------

_default_lock = threading.Lock()
_default: Client | None = None
_default_is_explicit = False


def default_client() -> Client:
    """The client `Process` uses when none is given: the one set with `set_default_client`, else a
    connection to the default path made on first use (and again if it was lost or this process
    was forked since)."""
    global _default
    with _default_lock:
        if _default is not None and (
            _default_is_explicit or (not _default.closed and _default.pid == os.getpid())
        ):
            return _default
        _default = Client()
        return _default


def set_default_client(client: Client | None) -> None:
    """Make `client` the default for `Process` objects made without `client=`; None goes back to
    connecting to the default path on first use. A default connection this module opened itself
    is closed; one given here is the caller's to close."""
    global _default, _default_is_explicit
    with _default_lock:
        previous, made_here = _default, not _default_is_explicit
        _default = client
        _default_is_explicit = client is not None
    if (
        previous is not None
        and made_here
        and previous is not client
        and previous.pid == os.getpid()
    ):
        previous.close()  # the one this module opened itself


def _after_fork_in_child() -> None:
    global _default_lock, _default, _default_is_explicit
    _default_lock = threading.Lock()  # it may have been held by another thread at the fork
    if not _default_is_explicit:
        _default = None  # the inherited connection speaks for the parent: open our own on use


os.register_at_fork(after_in_child=_after_fork_in_child)
