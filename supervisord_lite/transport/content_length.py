"""LSP's base protocol, the other framing JSON-RPC tools speak: `Content-Length: N` (and optional
`Content-Type`) header lines ended by CRLF, an empty line, then exactly N bytes of JSON.

vscode-jsonrpc, python-lsp-jsonrpc and sourcegraph's jsonrpc2 (VSCodeObjectCodec) frame so. Header
names are matched without regard to case, a bare LF is taken for CRLF, other headers are ignored
(Content-Type included: the body is UTF-8 JSON, as LSP says). File descriptors follow the rule of
NDJSON lines (framing.py): those received with a chunk belong to the message holding the chunk's
last byte.
"""

from __future__ import annotations

from dataclasses import dataclass

from supervisord_lite.transport.framing import Line, Oversized, close_fds

HEADER_LIMIT = 8192  # a header section is a few dozen bytes; past this it is not one


@dataclass
class Malformed:
    """The header section cannot be read, so no later message boundary can be trusted either:
    answer `reason` and read no further."""

    reason: str


Item = Line | Oversized | Malformed


def frame(reply: bytes) -> bytes:
    """One reply line (JSON and its newline) as a Content-Length message."""
    body = reply[:-1] if reply.endswith(b"\n") else reply
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


class ContentLengthSplitter:
    # Never "idle" in the sense of the connection's fast path (a chunk that is one whole NDJSON
    # request): here a chunk starting with "{" is at best the middle of a message.
    idle = False

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._buf = bytearray()
        self._fds: list[int] = []
        self._headers = 0  # bytes of the header section read so far (0: between messages)
        self._length: int | None = None  # its Content-Length, once that header is read
        self._need: int | None = None  # body bytes still to come; None while reading headers
        self._skipping = False  # the body being read is over the limit: dropped, not kept
        self._broken = False

    @property
    def buffered(self) -> int:
        """Bytes of the message still being read, held here (counted in the daemon's budget)."""
        return len(self._buf)

    def feed(self, data: bytes, fds: list[int] | None = None) -> list[Item]:
        out: list[Item] = []
        if self._broken:
            close_fds(fds or [])
            return out
        self._buf += data
        while not self._broken:
            if self._need is None:
                if not self._read_header_line(out):
                    break
            elif not self._read_body(out):
                break
        if fds:
            if self._broken or self._skipping:
                close_fds(fds)
            elif self._headers or self._need is not None or self._buf.strip():
                self._fds.extend(fds)  # the message still being read
            elif out and isinstance(out[-1], Line):
                out[-1].fds.extend(fds)
            else:
                close_fds(fds)
        return out

    def _read_header_line(self, out: list[Item]) -> bool:
        """Take one header line; False when more input is needed (or the stream broke)."""
        nl = self._buf.find(b"\n")
        if nl < 0:
            if self._headers + len(self._buf) > HEADER_LIMIT:
                self._break(out, f"no end of the header section within {HEADER_LIMIT} bytes")
            return False
        line = bytes(self._buf[:nl]).rstrip(b"\r")
        del self._buf[: nl + 1]
        if not line.strip():
            if self._headers:
                self._end_of_headers(out)
            return True  # (blank lines between messages are let pass)
        self._headers += nl + 1
        if self._headers > HEADER_LIMIT:
            self._break(out, f"a header section longer than {HEADER_LIMIT} bytes")
            return False
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            self._break(out, f"a header line is not 'Name: value': {_show(line)}")
            return False
        if name.strip().lower() == b"content-length":
            text = value.strip()
            if not text.isdigit() or not text.isascii():
                self._break(out, f"Content-Length is not a number of bytes: {_show(text)}")
                return False
            length = int(text)
            if self._length is not None and self._length != length:
                self._break(out, "two different Content-Length headers")
                return False
            self._length = length
        return True

    def _end_of_headers(self, out: list[Item]) -> None:
        length, self._length, self._headers = self._length, None, 0
        if length is None:
            self._break(out, "a header section without Content-Length")
            return
        self._need = length
        if length > self.limit:
            self._skipping = True
            close_fds(self._fds)
            out.append(Oversized())

    def _read_body(self, out: list[Item]) -> bool:
        need = self._need
        assert need is not None
        if self._skipping:
            take = min(need, len(self._buf))
            del self._buf[:take]
            if take < need:
                self._need = need - take
                return False
            self._need, self._skipping = None, False
            return True
        if len(self._buf) < need:
            return False
        body = bytes(self._buf[:need])
        del self._buf[:need]
        fds, self._fds = self._fds, []
        self._need = None
        out.append(Line(body, fds))
        return True

    def _break(self, out: list[Item], reason: str) -> None:
        self._broken = True
        self._buf.clear()
        close_fds(self._fds)
        out.append(Malformed(reason))

    def finish(self) -> list[Item]:
        """At the end of input: a message cut short is said so, never guessed at."""
        out: list[Item] = []
        if self._broken:
            return out
        if self._need is not None and not self._skipping:
            self._break(
                out,
                f"the input ended {len(self._buf)} bytes into a body of {self._need} "
                "(its Content-Length)",
            )
        elif self._headers or self._buf.strip():
            self._break(out, "the input ended inside a header section")
        return out

    def close(self) -> None:
        close_fds(self._fds)
        self._buf.clear()


def _show(data: bytes, limit: int = 60) -> str:
    text = repr(data[:limit])[2:-1]
    return text + ("..." if len(data) > limit else "")
