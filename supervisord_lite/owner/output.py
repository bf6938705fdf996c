"""Output mode "log": the child's stdout and stderr are pipes that the owner reads into its log
files (format: supervisord_lite/logfiles.py), rotated by size.

The owner reads each pipe as it becomes readable, one bounded chunk a turn (no reader can hold
the loop), and writes whole records with one write each: a reader of the files (supervision/
logs.py) never slows the child and costs the owner nothing. `on_output(process_id)` tells the
front that a log grew (or closed), once per loop turn at most, so a `follow` waits without polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
from collections.abc import Callable

from supervisord_lite import logfiles
from supervisord_lite.core import errors
from supervisord_lite.core.model import Output, SpawnRequest
from supervisord_lite.core.times import rfc3339

_CHUNK = 65536
log = logging.getLogger(__name__)


class LogSink:
    """Makes the pipes and writers for the children started with output "log"."""

    def __init__(self, log_dir: str, on_output: Callable[[int], None] | None = None) -> None:
        self.log_dir = log_dir
        self.on_output = on_output or (lambda process_id: None)
        os.makedirs(log_dir, mode=0o700, exist_ok=True)

    def redirect(self, request: SpawnRequest) -> SpawnRequest:
        """The request with output "log" turned into output "passed" with the write ends of two
        fresh pipes (the spawner closes them after the spawn, as it does passed fds); their read
        ends are watched by a LogWriter until EOF. Other requests are returned as they are."""
        if request.output is not Output.LOG:
            return request
        directory = self.directory(request.process_id)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        LogWriter(
            directory,
            request.process_id,
            (out_r, err_r),
            max_bytes=request.log_max_bytes,
            backups=request.log_backups,
            on_output=self.on_output,
        )
        return dataclasses.replace(request, output=Output.PASSED, fds=(out_w, err_w))

    def writer(self, process_id: int, *, max_bytes: int, backups: int) -> LogWriter:
        """A log with no pipes, fed by its caller (`LogWriter.feed`): a remote owner's."""
        directory = self.directory(process_id)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        return LogWriter(
            directory,
            process_id,
            (),
            max_bytes=max_bytes,
            backups=backups,
            on_output=self.on_output,
        )

    def directory(self, process_id: int) -> str:
        return os.path.join(self.log_dir, str(process_id))


class LogWriter:
    def __init__(
        self,
        directory: str,
        process_id: int,
        fds: tuple[int, int] | tuple[()],
        *,
        max_bytes: int,
        backups: int,
        on_output: Callable[[int], None],
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._dir = directory
        self._id = process_id
        self._max = max(1, max_bytes)
        self._backups = max(0, backups)
        self._on_output = on_output
        self._notify_pending = False
        self._dropped = False
        kept = logfiles.segments(directory)
        self._start = kept[-1] if kept else 0
        self._fd = self._open(self._start)
        self._size = os.fstat(self._fd).st_size
        self._offset = self._start + self._size
        self._open_pipes: dict[int, str] = {}
        # What came of each stream after its last newline, until the rest of the line comes.
        self._pending: dict[str, bytearray] = {"stdout": bytearray(), "stderr": bytearray()}
        for fd, stream in zip(fds, ("stdout", "stderr"), strict=bool(fds)):
            os.set_blocking(fd, False)
            self._open_pipes[fd] = stream
            self._loop.add_reader(fd, self._readable, fd)

    def _open(self, start: int) -> int:
        path = os.path.join(self._dir, logfiles.segment_name(start))
        return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def _readable(self, fd: int) -> None:
        stream = self._open_pipes[fd]
        try:
            chunk = os.read(fd, _CHUNK)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        if not chunk:
            self._loop.remove_reader(fd)
            os.close(fd)
            del self._open_pipes[fd]
        self.feed(stream, chunk)

    def feed(self, stream: str, chunk: bytes) -> bool:
        """Write what came of `stream` as records; an empty chunk is the stream's end (the log is
        closed once every stream has ended). False if the log cannot be written (it is dropped).
        Pipes feed it as they are read; a remote owner (cluster/) feeds it what it fetched."""
        buf = self._pending.get(stream)
        if buf is None:
            return not self._dropped  # this stream has ended already
        ts = rfc3339()
        try:
            if chunk:
                buf += chunk
                self._lines(stream, buf, ts)
            else:
                del self._pending[stream]
                if buf:
                    self._write(logfiles.record(stream, bytes(buf), ts, partial=True))
        except OSError as exc:  # the disk is full, or the log directory went away
            log.error("the log of process %d cannot be written (%s); it is dropped", self._id, exc)
            self._drop()
            return False
        if not self._pending:
            self._close()
        self._notify()
        return True

    def unwritten(self, stream: str) -> int:
        """How many bytes of `stream` are held for the rest of their line (not in the log yet)."""
        buf = self._pending.get(stream)
        return 0 if buf is None else len(buf)

    def _drop(self) -> None:
        """Stop writing: the pipes are closed (the child gets EPIPE, as with a closed stdout)."""
        self._dropped = True
        for fd in list(self._open_pipes):
            self._loop.remove_reader(fd)
            os.close(fd)
        self._open_pipes.clear()
        self._pending.clear()
        with contextlib.suppress(OSError):
            os.close(self._fd)

    def _lines(self, stream: str, buf: bytearray, ts: str) -> None:
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            end = nl if nl >= 0 else len(buf)
            if end - start > logfiles.LINE_MAX:
                cut = start + logfiles.split_point(buf[start:], logfiles.LINE_MAX)
                self._write(logfiles.record(stream, bytes(buf[start:cut]), ts, partial=True))
                start = cut
                continue
            if nl < 0:
                break
            self._write(logfiles.record(stream, bytes(buf[start:nl]), ts))
            start = nl + 1
        del buf[:start]

    def _write(self, data: bytes) -> None:
        if self._size and self._size + len(data) > self._max:
            self._rotate()
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]
        self._size += len(data)
        self._offset += len(data)

    def _rotate(self) -> None:
        os.close(self._fd)
        self._start, self._size = self._offset, 0
        self._fd = self._open(self._start)
        for old in logfiles.segments(self._dir)[: -(self._backups + 1)]:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self._dir, logfiles.segment_name(old)))

    def _close(self) -> None:
        os.close(self._fd)
        closed = os.path.join(self._dir, logfiles.CLOSED)
        with contextlib.suppress(OSError):  # the directory may be gone (the daemon stops)
            os.close(os.open(closed, os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC, 0o600))

    def _notify(self) -> None:
        if not self._notify_pending:
            self._notify_pending = True
            self._loop.call_soon(self._notified)

    def _notified(self) -> None:
        self._notify_pending = False
        self._on_output(self._id)


def no_log_directory(process_id: int) -> errors.SpawnFailed:
    """The error of a start with output "log" on a daemon that has no log directory (every
    owner's: the keeper's, and the cluster's)."""
    return errors.SpawnFailed(
        'output "log" needs a log directory, and this daemon has none', id=process_id
    )


def redirect(sink: LogSink | None, request: SpawnRequest) -> SpawnRequest:
    """What a spawner does first: output "log" becomes two pipes into the log (SpawnFailed if
    there is no log directory, or it cannot be written)."""
    if request.output is not Output.LOG:
        return request
    if sink is None:
        raise no_log_directory(request.process_id)
    try:
        return sink.redirect(request)
    except OSError as exc:
        raise errors.SpawnFailed(
            f"cannot open the log of process {request.process_id} in {sink.log_dir}: "
            f"{exc.strerror or exc}",
            id=request.process_id,
        ) from None
