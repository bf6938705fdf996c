"""The zygote as its owner sees it: the process (a fresh interpreter, or one of another zygote's
spares that became a zygote for a `__main__` script) and the owner's end of its socket.

What runs inside it is `owner/zygote.py`; what asks it for children is `owner/python_targets.py`.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping

from supervisord_lite.owner.pidfd import PidfdChild, StatusReader
from supervisord_lite.owner.reaper import Reaper
from supervisord_lite.owner.spec import close_all


class ZygoteProcess:
    """The zygote process and the daemon's end of its SOCK_SEQPACKET socket."""

    _process: PidfdChild | None  # None while a forked one's pid is not known

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        *,
        python: str,
        env: Mapping[str, str],
        preload: Iterable[str],
        spares: int,
        reaper: Reaper,
        on_exit: Callable[[ZygoteProcess, int], None],
        script: Mapping[str, object] | None = None,
    ) -> None:
        self._init(loop, on_exit)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            # A fresh interpreter with nothing but its socket: no listening socket, no client
            # connection, no systemd variable reaches it.
            popen = subprocess.Popen(
                [
                    python,
                    "-m",
                    "supervisord_lite.owner.zygote",
                    str(theirs.fileno()),
                    str(spares),
                    *(() if script is None else ("--script=" + json.dumps(dict(script)),)),
                    *preload,
                ],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=2,
                env=dict(env),
                close_fds=True,
                pass_fds=(theirs.fileno(),),
                start_new_session=True,
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        self.pid = popen.pid
        self._process = PidfdChild(popen.pid, self._exited, loop, popen=popen, reaper=reaper)
        self._listen(ours)

    def _init(
        self, loop: asyncio.AbstractEventLoop, on_exit: Callable[[ZygoteProcess, int], None]
    ) -> None:
        self._loop = loop
        self.ready = False
        self.was_ready = False  # stays True once it has been ready, closed or not
        self.started = time.monotonic()
        self.pid = 0  # 0 until known
        self._process = None
        self._queue: deque[tuple[bytes, list[int]]] = deque()
        self._closed = False
        self._on_exit = on_exit

    def _listen(self, sock: socket.socket) -> None:
        self._sock = sock
        sock.setblocking(False)
        self._loop.add_reader(sock.fileno(), self._readable)

    @classmethod
    def forked(
        cls,
        parent: ZygoteProcess,
        *,
        script: Mapping[str, object],
        spares: int,
        reaper: Reaper,
        on_exit: Callable[[ZygoteProcess, int], None],
    ) -> ZygoteProcess:
        """A zygote made of one of `parent`'s spares (zygote.BECOME), which has imported
        everything but the script already; its pid comes on a status pipe, as a child's does."""
        self = cls.__new__(cls)
        self._init(parent._loop, on_exit)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        status_r, status_w = os.pipe2(os.O_CLOEXEC)
        self._listen(ours)
        payload = b"Z" + json.dumps({**script, "spares": spares}).encode()
        reaper.pending += 1  # until the pid is known, an exited child may be this one
        parent.submit([theirs.detach(), status_w], payload)
        task = self._loop.create_task(self._adopt(StatusReader(status_r, self._loop), reaper))
        task.add_done_callback(lambda t: t.cancelled() or t.exception())
        return self

    async def _adopt(self, status: StatusReader, reaper: Reaper) -> None:
        try:
            line = await status.line()
            if line is None or not line.isdigit():  # the parent died first: no such zygote
                self.close()
                self._on_exit(self, -signal.SIGKILL)
                return
            self.pid = int(line)
            self._process = PidfdChild(self.pid, self._exited, self._loop, reaper=reaper)
            if self._closed:  # stopped meanwhile
                self._process.signal(signal.SIGKILL)
        finally:
            status.close()
            reaper.resolved()

    def _readable(self) -> None:
        try:
            data = self._sock.recv(16)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            data = b""
        if data == b"R":
            self.ready = self.was_ready = True
        elif not data:
            self.close()

    def submit(self, fds: list[int], message: bytes = b"S") -> None:
        """Send one request; the fds are this object's to close (after sending, or if it cannot)."""
        if self._closed:
            close_all(fds)  # the child's status pipe reaches EOF: the caller falls back
            return
        self._queue.append((message, fds))
        if len(self._queue) == 1:
            self._flush()

    def _flush(self) -> None:
        while self._queue:
            message, fds = self._queue[0]
            try:
                socket.send_fds(self._sock, [message], fds)
            except (BlockingIOError, InterruptedError):
                self._loop.add_writer(self._sock.fileno(), self._writable)
                return
            except OSError:
                self.close()
                return
            self._queue.popleft()
            close_all(fds)

    def _writable(self) -> None:
        self._loop.remove_writer(self._sock.fileno())
        self._flush()

    def _exited(self, code: int) -> None:
        self.close()
        self._on_exit(self, code)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.ready = False
        self._loop.remove_reader(self._sock.fileno())
        self._loop.remove_writer(self._sock.fileno())
        self._sock.close()
        while self._queue:
            close_all(self._queue.popleft()[1])

    def kill(self) -> None:
        self.close()
        if self._process is not None:  # else it is killed once its pid is known
            self._process.signal(signal.SIGKILL)
