"""Replay protocol/vectors/ against the live daemon, and read every answer with this client.

Each case runs on a fresh raw connection, exactly as the vector says (protocol/vectors/README.md).
Each answer to a single request is also fed through the client's own sans-I/O layer, which must
read it: a result parses (ProcessInfo, DaemonInfo, ...) and an error becomes the exception class of
its code. So whatever the daemon answers, this client understands it.
"""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path
from typing import Any

import pytest
from slc_daemon import Daemon
from supervisord_lite_client import errors
from supervisord_lite_client.protocol import (
    RpcProtocol,
    _Pending,
    parse_daemon_info,
    parse_process_info,
)

VECTORS = Path(
    os.environ.get("SUPERVISORD_LITE_VECTORS")
    or Path(__file__).resolve().parents[3] / "protocol" / "vectors"
)
CASES = sorted(VECTORS.glob("*.json")) if VECTORS.is_dir() else []
HEX = re.compile(r"^[0-9a-f]+$")

INFO_METHODS = {
    "process.create",
    "process.start",
    "process.join",
    "process.info",
    "process.terminate",
    "process.kill",
}


class Mismatch(AssertionError):
    pass


def substitute(value: Any, env: dict[str, Any]) -> Any:
    if isinstance(value, str) and value.startswith("<<var:") and value.endswith(">>"):
        return env[value[6:-2]]
    if isinstance(value, list):
        return [substitute(v, env) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, env) for k, v in value.items()}
    return value


def match(expect: Any, got: Any, env: dict[str, Any], where: str, unordered: bool = False) -> None:
    if isinstance(expect, str) and expect.startswith("<<") and expect.endswith(">>"):
        kind = expect[2:-2]
        ok = {
            "any": lambda: True,
            "string": lambda: isinstance(got, str),
            "int": lambda: isinstance(got, int) and not isinstance(got, bool),
            "hex": lambda: isinstance(got, str) and bool(HEX.match(got)),
        }
        if kind.startswith("capture:"):
            env[kind[8:]] = got
            return
        if kind.startswith("var:"):
            if got != env[kind[4:]]:
                raise Mismatch(f"{where}: {got!r} is not {kind[4:]}={env[kind[4:]]!r}")
            return
        if kind in ok:
            if not ok[kind]():
                raise Mismatch(f"{where}: {got!r} is not {expect}")
            return
    if isinstance(expect, dict):
        if not isinstance(got, dict) or set(expect) != set(got):
            raise Mismatch(f"{where}: {got!r} does not have the keys of {expect!r}")
        for key in expect:
            match(expect[key], got[key], env, f"{where}.{key}")
        return
    if isinstance(expect, list):
        if not isinstance(got, list) or len(expect) != len(got):
            raise Mismatch(f"{where}: {got!r} is not a list like {expect!r}")
        if not unordered:
            for i, (e, g) in enumerate(zip(expect, got, strict=True)):
                match(e, g, env, f"{where}[{i}]")
            return
        left = list(got)
        for i, e in enumerate(expect):
            for j, g in enumerate(left):
                trial = dict(env)
                try:
                    match(e, g, trial, f"{where}[{i}]")
                except Mismatch:
                    continue
                env.update(trial)
                del left[j]
                break
            else:
                raise Mismatch(f"{where}: nothing in {got!r} matches {e!r}")
        return
    if expect != got or type(expect) is not type(got):
        raise Mismatch(f"{where}: {got!r} != {expect!r}")


class Raw:
    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(30)
        self.sock.connect(str(path))
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(1 << 16)
        if not chunk:
            raise EOFError("the daemon closed the connection")
        self.buf += chunk

    def line(self) -> bytes:
        while b"\n" not in self.buf:
            self._fill()
        line, _, self.buf = self.buf.partition(b"\n")
        return line

    def message(self) -> bytes:
        """One reply in Content-Length framing (a vector's "framing": "content-length")."""
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        [length] = [
            v
            for n, _, v in (h.partition(b":") for h in head.split(b"\r\n"))
            if n.strip().lower() == b"content-length"
        ]
        while len(self.buf) < int(length):
            self._fill()
        body, self.buf = self.buf[: int(length)], self.buf[int(length) :]
        return body


def framed(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n" % len(body) + body


def read_with_client(request: Any, line: bytes) -> None:
    """The answer to a single well-formed request, read by the client's own protocol layer."""
    if not (isinstance(request, dict) and isinstance(request.get("id"), int)):
        return
    if not isinstance(request.get("method"), str) or set(request) - {
        "jsonrpc",
        "id",
        "method",
        "params",
    }:
        return
    proto = RpcProtocol()
    proto._pending[request["id"]] = _Pending(request["method"], 0)
    response = json.loads(line)
    if response.get("id") != request["id"]:
        return
    [reply] = proto.receive(line + b"\n")
    if "error" in response:
        assert isinstance(reply.error, errors.RemoteError)
        assert reply.error.code == response["error"]["code"]
        expected = errors.ERROR_CLASSES.get(reply.error.code, errors.RemoteError)
        assert type(reply.error) is expected
        return
    assert reply.error is None
    method = request["method"]
    if method in INFO_METHODS:
        parse_process_info(reply.result)
    elif method == "daemon.info":
        parse_daemon_info(reply.result)
    elif method == "process.list":
        for item in reply.result:
            parse_process_info(item)


@pytest.mark.skipif(not CASES, reason=f"no vectors at {VECTORS}")
@pytest.mark.parametrize("case", CASES, ids=[c.stem for c in CASES])
def test_vector(case: Path, daemon: Daemon) -> None:
    spec = json.loads(case.read_text())
    env: dict[str, Any] = {}
    raw = Raw(daemon.socket_path)
    headers = spec.get("framing") == "content-length"
    try:
        for n, step in enumerate(spec["steps"]):
            request: Any = None
            if "send" in step:
                request = substitute(step["send"], env)
                body = json.dumps(request, separators=(",", ":")).encode()
                raw.sock.sendall(framed(body) if headers else body + b"\n")
            elif "send_raw" in step:
                raw.sock.sendall(step["send_raw"].encode())
            elif "send_oversize" in step:
                body = b"x" * step["send_oversize"]
                raw.sock.sendall(framed(body) if headers else body + b"\n")
            else:  # send_eof
                raw.sock.shutdown(socket.SHUT_WR)
            expect = step.get("expect")
            if expect is None:
                continue  # a notification: the next step's answer shows nothing came for it
            line = raw.message() if headers else raw.line()
            match(
                expect, json.loads(line), env, f"{case.stem} step {n}", bool(step.get("unordered"))
            )
            read_with_client(request, line)
    finally:
        raw.sock.close()
