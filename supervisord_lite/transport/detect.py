"""A connection's framing, from its first non-blank byte: NDJSON unless it is a header.

An NDJSON message starts with "{" or "[" (or is not JSON at all); an LSP-style message starts with
its "Content-Length" (or "Content-Type") header. So the first byte that is not white space says
which, once per connection, and the connection then answers in the same framing. Until then
nothing is held: white space alone is blank lines in NDJSON and nothing in the other.
"""

from __future__ import annotations

from supervisord_lite.transport.content_length import ContentLengthSplitter
from supervisord_lite.transport.framing import Line, LineSplitter, Oversized

_HEADER_START = frozenset(b"Cc")


class Undecided:
    """The splitter of a connection that has sent nothing but white space yet."""

    idle = False  # so the first chunk goes the slow way, which chooses
    buffered = 0  # white space is not held

    def __init__(self, limit: int) -> None:
        self.limit = limit

    def choose(self, data: bytes) -> LineSplitter | ContentLengthSplitter | None:
        """The splitter for the framing `data` starts (it is to be fed all of `data`), or None
        while `data` is only white space."""
        start = data.lstrip()
        if not start:
            return None
        if start[0] in _HEADER_START:
            return ContentLengthSplitter(self.limit)
        return LineSplitter(self.limit)

    def finish(self) -> list[Line | Oversized]:
        return []

    def close(self) -> None:
        pass
