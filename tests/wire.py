"""A raw NDJSON JSON-RPC client for tests: speaks the wire exactly as another language would."""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait_until(cond: Callable[[], bool], *, timeout: float, what: str) -> None:
    """Poll `cond` until it is true or the deadline passes (then fail, saying what was awaited)."""
    deadline = time.monotonic() + timeout
    delay = 0.001
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(delay)  # poll with a deadline
        delay = min(delay * 2, 0.05)


async def poll_until(cond: Callable[[], bool], *, timeout: float, what: str) -> None:
    """In a test's event loop: give the loop a turn at a time until `cond` holds, failing (saying
    what was awaited) once the deadline passes. For conditions the code under test makes true in
    its own loop turns, with nothing to await."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not cond():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0)  # poll with a deadline: one loop turn


def socket_accepts(path: Path | str) -> bool:
    """True if a Unix-socket connection to `path` is accepted now."""
    with socket.socket(socket.AF_UNIX) as s:
        try:
            s.connect(str(path))
        except OSError:
            return False
        return True


def terminate(proc: subprocess.Popen[bytes], timeout: float = 15) -> int:
    """SIGTERM, wait (bounded), SIGKILL if need be; the exit status."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode


class RawClient:
    """One connection; send lines or objects, read response lines. Every read has a timeout."""

    def __init__(self, path: Path | str, timeout: float = 20.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(str(path))
        self.buf = b""
        self._next_id = 0

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RawClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send_raw(self, data: bytes) -> None:
        self.sock.sendall(data)

    def send(self, obj: Any) -> None:
        self.send_raw(json.dumps(obj, separators=(",", ":")).encode() + b"\n")

    def recv(self) -> Any:
        """The next response line, parsed. Raises on timeout or EOF."""
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("daemon closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return json.loads(line)

    def call_raw(self, method: str, params: Any = None) -> dict[str, Any]:
        """Send one request and return the whole response object (result or error)."""
        self._next_id += 1
        req: dict[str, Any] = {"jsonrpc": "2.0", "id": self._next_id, "method": method}
        if params is not None:
            req["params"] = params
        self.send(req)
        resp: dict[str, Any] = self.recv()
        assert resp.get("id") == self._next_id, resp
        return resp

    def call(self, method: str, params: Any = None) -> Any:
        """Send one request and return its result; fail the test on an error response."""
        resp = self.call_raw(method, params)
        assert "error" not in resp, resp
        return resp["result"]


def content_length_frame(body: bytes, *, headers: bytes = b"") -> bytes:
    """One message in LSP's base-protocol framing (extra `headers` lines go before the blank)."""
    return b"Content-Length: %d\r\n%b\r\n%b" % (len(body), headers, body)


class HeaderClient(RawClient):
    """A RawClient that frames as LSP does (Content-Length headers) and reads replies so framed."""

    def send(self, obj: Any) -> None:
        self.send_raw(content_length_frame(json.dumps(obj, separators=(",", ":")).encode()))

    def recv_message(self) -> tuple[dict[bytes, bytes], bytes]:
        """The next message: its headers (names lowercased) and its body. Raises on EOF."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        headers = {}
        for line in head.split(b"\r\n"):
            name, colon, value = line.partition(b":")
            assert colon, f"a header line without a colon: {line!r}"
            headers[name.strip().lower()] = value.strip()
        length = int(headers[b"content-length"])
        while len(self.buf) < length:
            self._fill()
        body, self.buf = self.buf[:length], self.buf[length:]
        return headers, body

    def recv(self) -> Any:
        return json.loads(self.recv_message()[1])

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise EOFError(f"daemon closed the connection (unread: {self.buf!r})")
        self.buf += chunk
