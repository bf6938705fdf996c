"""The protocol/vectors replayer: the rules of protocol/vectors/README.md, exactly (no test here).

A vector file is {"description", "steps"} and an optional "framing" ("ndjson", the default, or
"content-length"); each step has exactly one of `send` (a JSON value, sent compactly on one line, or
as one Content-Length message), `send_raw` (a string written as is), `send_oversize` (N bytes of "x"
and a newline, or a message of N bytes of "x") or `send_eof` (true: the writing side is shut), then
an optional `expect` (absent or null: nothing is read) and an optional `unordered` (every array in
that step's `expect` matches as a multiset). Every file runs on a fresh connection.
"""

from __future__ import annotations

import json
import re
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VECTORS_DIR = Path(__file__).resolve().parent.parent / "protocol" / "vectors"
FILE_KEYS = {"description", "steps"}
FRAMINGS = ("ndjson", "content-length")
SEND_KEYS = ("send", "send_raw", "send_oversize", "send_eof")
STEP_KEYS = {*SEND_KEYS, "expect", "unordered"}

_CAPTURE = re.compile(r"^<<capture:(.+)>>$")
_VAR = re.compile(r"^<<var:(.+)>>$")
_HEX = re.compile(r"^[0-9a-f]+$")


class VectorError(AssertionError):
    """A vector file that breaks the format, or a response that does not match."""


def vector_files(directory: Path = VECTORS_DIR) -> list[Path]:
    return sorted(directory.glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    """Parse and check one vector file against the format (not against a daemon)."""
    vector = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(vector, dict) or set(vector) - {"framing"} != FILE_KEYS:
        raise VectorError(
            f'{path.name}: a vector is an object with exactly {sorted(FILE_KEYS)} (and "framing")'
        )
    if vector.get("framing", "ndjson") not in FRAMINGS:
        raise VectorError(f"{path.name}: framing is one of {', '.join(FRAMINGS)}")
    if not isinstance(vector["description"], str) or not vector["description"]:
        raise VectorError(f"{path.name}: the description is a non-empty string")
    steps = vector["steps"]
    if not isinstance(steps, list) or not steps:
        raise VectorError(f"{path.name}: steps is a non-empty array")
    for i, step in enumerate(steps):
        where = f"{path.name} step {i}"
        if not isinstance(step, dict):
            raise VectorError(f"{where}: a step is an object")
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise VectorError(f"{where}: unknown key(s) {sorted(unknown)}")
        if sum(key in step for key in SEND_KEYS) != 1:
            raise VectorError(f"{where}: exactly one of {', '.join(SEND_KEYS)}")
        if "send_raw" in step and not isinstance(step["send_raw"], str):
            raise VectorError(f"{where}: send_raw is a string")
        if "send_oversize" in step and not (
            type(step["send_oversize"]) is int and step["send_oversize"] >= 0
        ):
            raise VectorError(f"{where}: send_oversize is a non-negative integer")
        if "send_eof" in step and step["send_eof"] is not True:
            raise VectorError(f"{where}: send_eof is true")
        if "send_eof" in step and i != len(steps) - 1:
            raise VectorError(f"{where}: nothing can be sent after send_eof: it is the last step")
        if "unordered" in step and not isinstance(step["unordered"], bool):
            raise VectorError(f"{where}: unordered is true or false")
    return vector


# ---------------------------------------------------------------- matching


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def same(a: Any, b: Any) -> bool:
    """JSON equality: numbers by value (1 == 1.0), true is not 1, objects by keys."""
    if _is_number(a) and _is_number(b):
        return bool(a == b)
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


@dataclass
class Matcher:
    """Matches a response against `expect`; captures go into `vars` only when the whole match
    succeeds. `where` names the deepest mismatch, for the failure message."""

    unordered: bool = False
    where: str = ""

    def _miss(self, path: str, why: str) -> bool:
        if len(path) >= len(self.where.partition(": ")[0]):
            self.where = f"{path}: {why}"
        return False

    def match(self, expect: Any, got: Any, vars: dict[str, Any]) -> dict[str, Any] | None:
        """The variables after a match (a new dict), or None if `got` does not match."""
        found = next(self._match(expect, got, dict(vars), "$"), None)
        return found

    # Generators of every way to match (several only under `unordered`, where a capture made
    # while pairing one element must be undone if the rest cannot be paired).
    def _match(
        self, expect: Any, got: Any, vars: dict[str, Any], path: str
    ) -> Iterator[dict[str, Any]]:
        if isinstance(expect, str):
            yield from self._match_string(expect, got, vars, path)
        elif isinstance(expect, dict):
            if not isinstance(got, dict):
                self._miss(path, "not an object")
                return
            if got.keys() != expect.keys():
                extra = sorted(got.keys() - expect.keys())
                missing = sorted(expect.keys() - got.keys())
                self._miss(path, f"unexpected members {extra}, missing members {missing}")
                return
            yield from self._match_all([(expect[k], got[k], f"{path}.{k}") for k in expect], vars)
        elif isinstance(expect, list):
            if not isinstance(got, list):
                self._miss(path, "not an array")
                return
            if len(got) != len(expect):
                self._miss(path, f"{len(got)} elements, want {len(expect)}")
                return
            if self.unordered:
                yield from self._match_multiset(expect, got, [False] * len(got), vars, path)
            else:
                yield from self._match_all(
                    [
                        (e, g, f"{path}[{i}]")
                        for i, (e, g) in enumerate(zip(expect, got, strict=True))
                    ],
                    vars,
                )
        elif same(expect, got):
            yield vars
        else:
            self._miss(path, f"{json.dumps(got)} is not {json.dumps(expect)}")

    def _match_string(
        self, expect: str, got: Any, vars: dict[str, Any], path: str
    ) -> Iterator[dict[str, Any]]:
        kinds: dict[str, Callable[[Any], bool]] = {
            "<<any>>": lambda v: True,
            "<<string>>": lambda v: isinstance(v, str),
            "<<int>>": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "<<hex>>": lambda v: isinstance(v, str) and _HEX.match(v) is not None,
        }
        if expect in kinds:
            if kinds[expect](got):
                yield vars
            else:
                self._miss(path, f"{json.dumps(got)} is not {expect}")
            return
        if (capture := _CAPTURE.match(expect)) is not None:
            yield {**vars, capture.group(1): got}
            return
        if (var := _VAR.match(expect)) is not None:
            name = var.group(1)
            if name not in vars:
                self._miss(path, f"<<var:{name}>> before its capture")
            elif same(vars[name], got):
                yield vars
            else:
                self._miss(path, f"{json.dumps(got)} is not the stored {name} ({vars[name]!r})")
            return
        if isinstance(got, str) and got == expect:
            yield vars
        else:
            self._miss(path, f"{json.dumps(got)} is not {json.dumps(expect)}")

    def _match_all(
        self, pairs: list[tuple[Any, Any, str]], vars: dict[str, Any]
    ) -> Iterator[dict[str, Any]]:
        if not pairs:
            yield vars
            return
        (expect, got, path), rest = pairs[0], pairs[1:]
        for after in self._match(expect, got, vars, path):
            yield from self._match_all(rest, after)

    def _match_multiset(
        self, expect: list[Any], got: list[Any], used: list[bool], vars: dict[str, Any], path: str
    ) -> Iterator[dict[str, Any]]:
        if not expect:
            yield vars
            return
        for j, item in enumerate(got):
            if used[j]:
                continue
            for after in self._match(expect[0], item, vars, f"{path}[{j}]"):
                used[j] = True
                yield from self._match_multiset(expect[1:], got, used, after, path)
                used[j] = False
        self._miss(path, "no pairing of the elements (in any order) matches")


def substitute(value: Any, vars: dict[str, Any]) -> Any:
    """Replace every string "<<var:NAME>>" in a `send` value by the stored value."""
    if isinstance(value, str):
        var = _VAR.match(value)
        if var is None:
            return value
        if var.group(1) not in vars:
            raise VectorError(f"{value} is sent before its capture")
        return vars[var.group(1)]
    if isinstance(value, list):
        return [substitute(v, vars) for v in value]
    if isinstance(value, dict):
        return {k: substitute(v, vars) for k, v in value.items()}
    return value


# ---------------------------------------------------------------- replaying


@dataclass
class Exchange:
    """One step as it happened: what was sent (the value, when `send`) and what came back."""

    step: int
    sent: Any
    response: Any


@dataclass
class Replay:
    path: Path
    exchanges: list[Exchange] = field(default_factory=list)


class _Lines:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise VectorError(f"the daemon closed the connection (unread: {self.buf!r})")
        self.buf += chunk

    def read(self) -> bytes:
        """The next non-blank line (blank lines are ignored, as in PROTOCOL.md)."""
        while True:
            while b"\n" not in self.buf:
                self._fill()
            line, _, self.buf = self.buf.partition(b"\n")
            if line.strip():
                return line


class _Messages(_Lines):
    """Content-Length framing: header lines, a blank line, then the body of that length."""

    def read(self) -> bytes:
        while b"\r\n\r\n" not in self.buf:
            self._fill()
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        lengths = [
            value.strip()
            for name, _, value in (h.partition(b":") for h in head.split(b"\r\n"))
            if name.strip().lower() == b"content-length"
        ]
        if len(lengths) != 1 or not lengths[0].isdigit():
            raise VectorError(f"a reply without one Content-Length header: {head!r}")
        n = int(lengths[0])
        while len(self.buf) < n:
            self._fill()
        body, self.buf = self.buf[:n], self.buf[n:]
        return body


def _framed(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%b" % (len(body), body)


def _clip(data: bytes) -> str:
    text = data.rstrip(b"\n").decode("utf-8", "replace")
    return text if len(text) <= 300 else f"{text[:300]}... ({len(data)} bytes)"


def replay(path: Path, socket_path: Path | str, *, read_timeout: float = 15.0) -> Replay:
    """Replay one vector file on a fresh connection; raise VectorError on the first mismatch."""
    vector = load(path)
    done = Replay(path)
    vars: dict[str, Any] = {}
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(read_timeout)
        sock.connect(str(socket_path))
        headers = vector.get("framing") == "content-length"
        lines = _Messages(sock) if headers else _Lines(sock)
        for i, step in enumerate(vector["steps"]):
            sent: Any = None
            if "send" in step:
                sent = substitute(step["send"], vars)
                data = json.dumps(sent, separators=(",", ":"), ensure_ascii=False).encode()
                data = _framed(data) if headers else data + b"\n"
            elif "send_raw" in step:
                data = step["send_raw"].encode("utf-8")
            elif "send_oversize" in step:
                data = b"x" * step["send_oversize"]
                data = _framed(data) if headers else data + b"\n"
            else:
                data = b""
                sock.shutdown(socket.SHUT_WR)
            if data:
                sock.sendall(data)
            expect = step.get("expect")
            if expect is None:
                done.exchanges.append(Exchange(i, sent, None))
                continue
            try:
                raw = lines.read()
            except TimeoutError:
                raise VectorError(
                    f"{path.name} step {i}: no response within {read_timeout}s to {_clip(data)}"
                ) from None
            response = json.loads(raw)
            matcher = Matcher(unordered=step.get("unordered", False))
            after = matcher.match(expect, response, vars)
            if after is None:
                raise VectorError(
                    f"{path.name} step {i}: sent {_clip(data)}\n"
                    f"  got  {_clip(raw)}\n"
                    f"  want {json.dumps(expect, ensure_ascii=False)}\n"
                    f"  at   {matcher.where}"
                )
            vars = after
            done.exchanges.append(Exchange(i, sent, response))
    return done
