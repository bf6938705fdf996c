"""A child's output on its node: a pipe drained into a log file, read back by offset.

The actor holds the read end of each pipe in its event loop and appends what comes to a 0600 file,
so that a reader can ask for "what follows offset N" and, with `wait`, be answered when more comes
or the stream ends (every writer closed it), never by polling the file.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from dataclasses import dataclass

CHUNK = 1 << 16


@dataclass(frozen=True)
class Chunk:
    data: bytes
    next_offset: int
    ended: bool  # no more will come: every writer has closed the pipe


class Capture:
    """One stream (stdout or stderr) of one child."""

    def __init__(self, path: str | None, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.path = path
        self.size = 0
        self.ended = path is None  # nothing is kept for output "null"
        self._grew = asyncio.Event()
        self._file: int | None = None
        self._pipe: int | None = None
        self.write_end: int | None = None
        if path is not None:
            self._file = os.open(
                path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600
            )
            self._pipe, self.write_end = os.pipe2(os.O_CLOEXEC)
            os.set_blocking(self._pipe, False)
            loop.add_reader(self._pipe, self._readable)

    def writer_passed(self) -> None:
        """The child has its copy of the write end: ours goes, so EOF comes when the child's does."""
        end, self.write_end = self.write_end, None
        if end is not None:
            os.close(end)

    def _readable(self) -> None:
        assert self._pipe is not None and self._file is not None
        try:
            data = os.read(self._pipe, CHUNK)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            view = memoryview(data)
            while view:
                view = view[os.write(self._file, view) :]
            self.size += len(data)
        else:
            self._end()
        self._grew.set()
        self._grew = asyncio.Event()

    def _end(self) -> None:
        self.ended = True
        pipe, self._pipe = self._pipe, None
        if pipe is not None:
            self._loop.remove_reader(pipe)
            os.close(pipe)
        file, self._file = self._file, None
        if file is not None:
            os.close(file)

    async def read(self, offset: int, limit: int, wait: bool) -> Chunk:
        """What follows `offset` (at most `limit` bytes); with `wait`, not before something does."""
        while wait and offset >= self.size and not self.ended:
            await self._grew.wait()
        if offset >= self.size or self.path is None:
            return Chunk(b"", max(offset, self.size) if self.path else 0, self.ended)
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read(min(limit, self.size - offset))
        return Chunk(data, offset + len(data), self.ended and offset + len(data) >= self.size)

    def close(self) -> None:
        self.writer_passed()
        self._end()

    def remove(self) -> None:
        self.close()
        if self.path is not None:
            with contextlib.suppress(OSError):
                os.unlink(self.path)
