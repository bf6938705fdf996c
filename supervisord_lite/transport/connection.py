"""One client connection: read messages, answer each concurrently, write replies in one ordered
stream, in the framing the client's first bytes chose (NDJSON, or Content-Length headers).

Writes are synchronous non-blocking sends with a buffer for the rest (no lock, no await), so replies
of concurrent requests never interleave. Reading pauses while too many requests are in flight.

Fairness: a connection costs itself, never the others. The lines of one read are run a bounded
number (and time) at a time, then the connection yields to the loop; its lines wait (and reading
pauses) while its peer does not read its replies; a partial line counts against a daemon-wide
budget (`BufferBudget`), and the oldest stalled connections are closed when it runs out.
"""

from __future__ import annotations

import array
import asyncio
import logging
import socket
import time
from collections import deque
from collections.abc import Callable, Coroutine
from typing import Any

from supervisord_lite.eager import resume
from supervisord_lite.rpc.dispatch import Answer, error_response
from supervisord_lite.rpc.errors import ErrorCode
from supervisord_lite.rpc.methods import Peer
from supervisord_lite.transport.content_length import ContentLengthSplitter, Item, Malformed, frame
from supervisord_lite.transport.detect import Undecided
from supervisord_lite.transport.framing import DEFAULT_BUFFER_BUDGET, Line, LineSplitter, close_fds

log = logging.getLogger(__name__)

# A handler answers one line: its reply (or None) at once, or a coroutine making it. Fds it does
# not take (it removes what it takes) are closed once it has answered.
Handler = Callable[[bytes, Peer, list[int]], Answer]
Reader = Callable[[], tuple[bytes, list[int]]]  # raises BlockingIOError when nothing is there
Writer = Callable[[bytes | memoryview], int]

MAX_IN_FLIGHT = 1024
HIGH_WATER = 1024 * 1024  # unsent reply bytes past which the peer's further lines wait
MAX_UNSENT = 16 * 1024 * 1024  # past this (replies finishing while it waits) it is closed
LINES_PER_TURN = 64  # lines run before yielding to the loop (others' turn), at most ...
TURN_SECONDS = 0.002  # ... and for at most this long


class BufferBudget:
    """Bytes of partial lines held across connections. When a connection's holding takes the
    total past the limit, the connections that have held a partial line longest are closed
    (with a log line each) until it fits: a slow or hostile client cannot make the daemon hold
    more than the limit, and the newest (most likely live) ones go on."""

    def __init__(self, limit: int = DEFAULT_BUFFER_BUDGET) -> None:
        self.limit = limit
        self.total = 0
        self._held: dict[Connection, tuple[int, float]] = {}  # in the order they began holding

    def hold(self, conn: Connection, size: int) -> None:
        old, since = self._held.get(conn, (0, 0.0))
        if size == 0:
            if old:
                del self._held[conn]
                self.total -= old
            return
        self._held[conn] = (size, since if old else time.monotonic())
        self.total += size - old
        if self.total > self.limit:
            self._evict()

    def _evict(self) -> None:
        now = time.monotonic()
        victims = []
        excess = self.total - self.limit
        for conn, (size, since) in self._held.items():
            if excess <= 0:
                break
            victims.append((conn, size, now - since))
            excess -= size
        for conn, size, age in victims:
            log.warning(
                "closing a connection (peer pid %s) holding a partial line of %d bytes for %.1f s: "
                "the daemon's buffer budget of %d bytes for partial lines is used up",
                conn.peer.pid,
                size,
                age,
                self.limit,
            )
            conn.close()  # which releases its holding


class Connection:
    def __init__(
        self,
        *,
        read_fd: int,
        write_fd: int,
        reader: Reader,
        writer: Writer,
        handler: Handler,
        peer: Peer,
        limit: int,
        on_close: Callable[[Connection], None] = lambda c: None,
        budget: BufferBudget | None = None,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._rfd, self._wfd = read_fd, write_fd
        self._read, self._write = reader, writer
        self._handler = handler
        self.peer = peer
        self._limit = limit
        self._splitter: Undecided | LineSplitter | ContentLengthSplitter = Undecided(limit)
        self._send: Callable[[bytes], None] = self.write  # a reply, in the chosen framing
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsent = bytearray()
        self._backlog: deque[Item] = deque()  # messages read, not yet run
        self._scheduled = False  # a turn to run more of the backlog is due
        self._budget = budget
        self._held = 0  # bytes of a partial line, as told to the budget
        self._reading = False
        self._eof = False
        self._closed = False
        self._on_close = on_close
        self.done = self._loop.create_future()
        self._resume_reading()

    # -- reading ---------------------------------------------------------------------------
    def _resume_reading(self) -> None:
        if not self._reading and not self._eof and not self._closed:
            self._loop.add_reader(self._rfd, self._on_readable)
            self._reading = True

    def _pause_reading(self) -> None:
        if self._reading:
            self._loop.remove_reader(self._rfd)
            self._reading = False

    def _on_readable(self) -> None:
        try:
            data, fds = self._read()
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        if not data:
            # The peer will send no more; answer what is in flight, then close (socat-style
            # clients half-close after their request and wait for the reply).
            close_fds(fds)
            self._backlog.extend(self._splitter.finish())  # a last line without its newline too
            self._eof = True
            self._pause_reading()
            self._run_backlog()
            return
        if (
            data[0] == 0x7B  # "{": a single request object, not blank, not a batch
            and data.find(b"\n") == len(data) - 1
            and len(data) <= self._limit
            and not fds
            and self._splitter.idle
        ):
            # The common case, one whole request in one read: no splitting, no Line.
            # (orjson ignores the trailing newline, and a "\r" before it.)
            self._start(data, fds)
            if len(self._tasks) >= MAX_IN_FLIGHT or len(self._unsent) > HIGH_WATER:
                self._pause_reading()
            return
        splitter = self._splitter
        if isinstance(splitter, Undecided):
            chosen = self._choose(splitter, data)
            if chosen is None:  # white space only, so far
                close_fds(fds)
                return
            splitter = chosen
        self._backlog.extend(splitter.feed(data, fds))
        if self._budget is not None:
            held = self._splitter.buffered
            if held != self._held:
                self._held = held
                self._budget.hold(self, held)  # may close this very connection
        self._run_backlog()

    def _blocked(self) -> bool:
        """Its peer does not read its replies, or too many of its requests wait."""
        return len(self._unsent) > HIGH_WATER or len(self._tasks) >= MAX_IN_FLIGHT

    def _run_backlog(self) -> None:
        """Run lines of the backlog, a bounded amount, then yield to the loop (another turn is
        scheduled) or, once it is empty, read again."""
        self._scheduled = False
        if self._closed:
            return
        backlog = self._backlog
        deadline = time.perf_counter() + TURN_SECONDS
        for _ in range(LINES_PER_TURN):
            if not backlog or self._blocked() or self._closed:
                break
            item = backlog.popleft()
            if isinstance(item, Line):
                self._start(item.data, item.fds)
            elif isinstance(item, Malformed):
                # No later message boundary can be trusted: answer, finish what is in flight
                # (as at the end of input), read nothing more.
                self._send(
                    error_response(
                        ErrorCode.PARSE_ERROR,
                        f"Parse error: {item.reason}; nothing more is read on this connection",
                    )
                )
                self._eof = True
                self._pause_reading()
                for rest in backlog:
                    if isinstance(rest, Line):
                        close_fds(rest.fds)
                backlog.clear()
            else:
                self._send(
                    error_response(
                        ErrorCode.INVALID_REQUEST,
                        f"Invalid Request: message longer than the limit of {self._limit} bytes",
                        {"limit": self._limit},
                    )
                )
            if time.perf_counter() > deadline:
                break
        self._flow()

    def _flow(self) -> None:
        """Read, run the backlog, or wait (for the peer to read, or for requests to finish)."""
        if self._closed:
            return
        if self._blocked():
            self._pause_reading()
        elif self._backlog:
            self._pause_reading()
            if not self._scheduled:
                self._scheduled = True
                self._loop.call_soon(self._run_backlog)
        else:
            self._resume_reading()
            self._maybe_finish()

    def _choose(
        self, undecided: Undecided, data: bytes
    ) -> LineSplitter | ContentLengthSplitter | None:
        """Settle the framing once, from the first bytes that are not white space."""
        splitter = undecided.choose(data)
        if isinstance(splitter, ContentLengthSplitter):
            self._send = self._send_framed
        if splitter is not None:
            self._splitter = splitter
        return splitter

    def _start(self, line: bytes, fds: list[int]) -> None:
        """Run the handler at once, up to its first real wait: most requests end right here, and
        only one that waits (a join, say) becomes a task. A task per line cost two more event-loop
        turns (start, done) per request. (So the first step runs outside any task: handlers must
        not need asyncio.current_task() there, as asyncio.timeout() and TaskGroup do.)"""
        try:
            coro = self._handler(line, self.peer, fds)
        except Exception:
            close_fds(fds)
            log.exception("request handler failed")
            return
        if coro is None or isinstance(coro, bytes):  # answered without a coroutine at all
            self._answered(coro, fds)
            return
        try:
            waiting = coro.send(None)
        except StopIteration as done:
            self._answered(done.value, fds)
            return
        except Exception:
            close_fds(fds)
            log.exception("request handler failed")
            return
        task = self._loop.create_task(self._finish(coro, waiting, fds))
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    async def _finish(
        self, coro: Coroutine[Any, Any, bytes | None], waiting: Any, fds: list[int]
    ) -> None:
        try:
            reply = await resume(coro, waiting)
        except BaseException:
            close_fds(fds)
            raise
        self._answered(reply, fds)

    def _answered(self, reply: bytes | None, fds: list[int]) -> None:
        if fds:
            close_fds(fds)  # what the handler did not take
        if reply is not None:
            self._send(reply)

    def _task_done(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("request handler failed", exc_info=task.exception())
        self._flow()

    # -- writing ---------------------------------------------------------------------------
    def _send_framed(self, reply: bytes) -> None:
        self.write(frame(reply))

    def write(self, data: bytes) -> None:
        if self._closed:
            return
        if self._unsent:
            self._unsent += data
        else:
            try:
                sent = self._write(data)
            except (BlockingIOError, InterruptedError):
                sent = 0
            except OSError:
                self.close()
                return
            if sent == len(data):
                return
            self._unsent += memoryview(data)[sent:]
            self._loop.add_writer(self._wfd, self._on_writable)
        # Every reply counts, the first one too: the peer holds this much of the daemon's memory.
        if len(self._unsent) > MAX_UNSENT:
            log.warning(
                "closing a connection (peer pid %s) that does not read its replies: %d bytes "
                "unsent, the limit is %d",
                self.peer.pid,
                len(self._unsent),
                MAX_UNSENT,
            )
            self.close()

    def _on_writable(self) -> None:
        try:
            sent = self._write(memoryview(self._unsent))
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            self.close()
            return
        del self._unsent[:sent]
        if not self._unsent:
            self._loop.remove_writer(self._wfd)
        if len(self._unsent) <= HIGH_WATER:
            self._flow()

    # -- closing ---------------------------------------------------------------------------
    def _maybe_finish(self) -> None:
        if self._eof and not self._tasks and not self._unsent and not self._backlog:
            self.close()

    def close(self) -> None:
        """Drop the connection: waiting requests (a join, say) are cancelled; nothing else changes."""
        if self._closed:
            return
        self._closed = True
        self._pause_reading()
        if self._unsent:
            self._loop.remove_writer(self._wfd)
            self._unsent.clear()
        for task in list(self._tasks):
            task.cancel()
        for item in self._backlog:
            if isinstance(item, Line):
                close_fds(item.fds)
        self._backlog.clear()
        if self._budget is not None and self._held:
            self._held = 0
            self._budget.hold(self, 0)
        self._splitter.close()
        self._on_close(self)
        if not self.done.done():
            self.done.set_result(None)


def socket_reader(sock: socket.socket) -> Reader:
    """recvmsg with room for a few fds; fds that arrive come back with the data, close-on-exec."""
    ancsize = socket.CMSG_SPACE(8 * array.array("i").itemsize)

    def read() -> tuple[bytes, list[int]]:
        data, ancdata, _flags, _ = sock.recvmsg(262144, ancsize, socket.MSG_CMSG_CLOEXEC)
        fds: list[int] = []
        for level, kind, payload in ancdata:
            if level == socket.SOL_SOCKET and kind == socket.SCM_RIGHTS:
                arr = array.array("i")
                arr.frombytes(payload[: len(payload) - (len(payload) % arr.itemsize)])
                fds.extend(arr)
        return data, fds

    return read
