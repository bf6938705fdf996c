"""Newline-delimited framing with a size limit, and file descriptors tied to the line they came with.

The kernel ends a recvmsg() right after the segment that carried SCM_RIGHTS, so fds received with a
chunk belong to the line that holds the chunk's last byte. A client sends a line and its fds with
one sendmsg(); that is all it has to know.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

DEFAULT_LIMIT = 4 * 1024 * 1024
DEFAULT_BUFFER_BUDGET = 64 * 1024 * 1024  # partial lines held, all connections together


@dataclass
class Line:
    data: bytes
    fds: list[int] = field(default_factory=list)


@dataclass
class Oversized:
    """A line went past the limit; it was (or is being) discarded."""


def close_fds(fds: list[int]) -> None:
    for fd in fds:
        with contextlib.suppress(OSError):
            os.close(fd)
    fds.clear()


class LineSplitter:
    def __init__(self, limit: int = DEFAULT_LIMIT) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._fds: list[int] = []
        self._discarding = False

    @property
    def idle(self) -> bool:
        """Nothing held back: the next chunk starts a new line."""
        return not self._buf and not self._fds and not self._discarding

    @property
    def buffered(self) -> int:
        """Bytes of the line still being read, held here."""
        return len(self._buf)

    def feed(self, data: bytes, fds: list[int] | None = None) -> list[Line | Oversized]:
        out: list[Line | Oversized] = []
        tail_fds = fds or []
        if tail_fds and not data.endswith(b"\n"):
            self._fds.extend(tail_fds)  # they belong to the line still being read
            tail_fds = []
        start = 0
        while (nl := data.find(b"\n", start)) >= 0:
            self._complete(data[start:nl], out)
            start = nl + 1
        if tail_fds:
            if out and isinstance(out[-1], Line):
                out[-1].fds.extend(tail_fds)
            else:
                close_fds(tail_fds)
        rest = data[start:]
        if rest and not self._discarding:
            self._buf += rest
            if len(self._buf) > self.limit:
                self._buf.clear()
                close_fds(self._fds)
                self._discarding = True
                out.append(Oversized())
        return out

    def _complete(self, piece: bytes, out: list[Line | Oversized]) -> None:
        if self._discarding:
            self._discarding = False
            close_fds(self._fds)
            return
        if self._buf:
            self._buf += piece
            data = bytes(self._buf)
            self._buf.clear()
        else:
            data = piece
        fds, self._fds = self._fds, []
        if len(data) > self.limit:
            close_fds(fds)
            out.append(Oversized())
            return
        data = data.rstrip(b"\r")
        if data.strip():
            out.append(Line(data, fds))
        else:
            close_fds(fds)

    def finish(self) -> list[Line | Oversized]:
        """At the end of input: a last line that never got its newline is a line all the same
        (`printf '{...}' | socat`), so it is answered rather than dropped."""
        out: list[Line | Oversized] = []
        if self._buf or self._fds:
            self._complete(b"", out)
        self._discarding = False
        return out

    def close(self) -> None:
        close_fds(self._fds)
        self._buf.clear()
