"""The wire protocol without I/O: requests out as bytes, bytes in as matched replies.

`RpcProtocol` is a state machine in the manner of h11/httpcore: the caller hands it bytes it read
and gets back `Reply` objects matched to the requests it built; it never touches a socket, so it is
tested with plain bytes and shared by any shell (the blocking one is `client.py`). It is not
thread-safe by itself: the shell serializes calls into it.

Framing is newline-delimited JSON (protocol/PROTOCOL.md): one compact JSON text a line, `\\r\\n`
accepted, blank lines ignored. Ids are integers from 1, never reused on a connection.

Error responses whose `id` is null cannot be matched by id. The daemon sends them for a line over its
size limit (`-32600`, `data: {"limit": N}`: given to every pending request whose line was longer than
N), for a refused peer (`1010`: given to every pending request; the daemon then closes the
connection), and for input this client never sends (then it is a `ProtocolError` for everything
pending).
"""

from __future__ import annotations

import json
from typing import Any, Literal, NamedTuple

from supervisord_lite_client.errors import (
    InvalidRequest,
    PermissionDenied,
    ProtocolError,
    ProtocolVersionError,
    SupervisordLiteError,
    remote_error,
)

PROTOCOL_MAJOR = 1
"""The major version of protocol/PROTOCOL.md this client speaks (it checks the daemon's)."""

State = Literal["created", "running", "exited", "lost"]
STATES: tuple[State, ...] = ("created", "running", "exited", "lost")
ENDED: tuple[State, ...] = ("exited", "lost")
"""States a process never leaves: `lost` (protocol 1.1) is one whose exit status is unknown."""


class ProcessInfo(NamedTuple):
    """A process as the daemon reports it (ProcessInfo of PROTOCOL.md; never an authkey)."""

    id: int
    name: str
    parent: int | None
    state: State
    pid: int | None
    exitcode: int | None
    program: str | None = None  # protocol 1.1: the program this process is a run of
    argv: tuple[str, ...] = ()  # what it runs (an argv, or a callable's "module:function")
    started_at: str | None = None  # RFC 3339 UTC
    exited_at: str | None = None
    node: str | None = None  # the cluster node it runs on (protocol 1.1, cluster backends only)


class DaemonInfo(NamedTuple):
    version: str
    protocol_version: str
    pid: int


class Reply(NamedTuple):
    """The outcome of one request: `result`, or `error` (an exception to raise) when it failed."""

    request_id: int
    method: str
    result: Any = None
    error: SupervisordLiteError | None = None


class _Pending(NamedTuple):
    method: str
    size: int


def encode_message(message: dict[str, Any]) -> bytes:
    """One message as one line: compact UTF-8 JSON and `\\n` (NaN and infinities are refused)."""
    text = json.dumps(message, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    return text.encode("utf-8") + b"\n"


class RpcProtocol:
    """Client side of one connection: builds requests, matches responses to them by id."""

    def __init__(self) -> None:
        self._next_id = 0
        self._pending: dict[int, _Pending] = {}
        self._buffer = bytearray()

    @property
    def pending(self) -> frozenset[int]:
        """Ids of requests sent and not yet answered (nor abandoned)."""
        return frozenset(self._pending)

    def request(self, method: str, params: dict[str, Any] | None = None) -> tuple[int, bytes]:
        """A new request: its id and the bytes to send. Params go by name.

        Raises TypeError when a param cannot be sent as JSON (nothing is then pending).
        """
        self._next_id += 1
        request_id = self._next_id
        message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
        if params is not None:
            message["params"] = params
        try:
            line = encode_message(message)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"the params of {method} cannot be sent as JSON: {exc}") from exc
        self._pending[request_id] = _Pending(method, len(line))
        return request_id, line

    def abandon(self, request_id: int) -> None:
        """Forget a request whose caller stopped waiting: its answer, if it comes, is dropped."""
        self._pending.pop(request_id, None)

    def receive(self, data: bytes) -> list[Reply]:
        """Feed bytes read from the daemon; returns the replies they complete.

        Raises ProtocolError when a line is not a JSON-RPC response (the connection is then
        unusable: the caller should call `fail_all`).
        """
        self._buffer += data
        replies: list[Reply] = []
        while (end := self._buffer.find(b"\n")) >= 0:
            line = bytes(self._buffer[:end]).rstrip(b"\r")
            del self._buffer[: end + 1]
            if line.strip():
                replies.extend(self._response(line))
        return replies

    def fail_all(self, error: SupervisordLiteError) -> list[Reply]:
        """Every pending request fails with `error` (the connection is gone); nothing stays pending."""
        replies = [Reply(rid, p.method, error=error) for rid, p in self._pending.items()]
        self._pending.clear()
        return replies

    def _response(self, line: bytes) -> list[Reply]:
        try:
            message = json.loads(line)
        except ValueError as exc:
            raise ProtocolError(f"the daemon sent a line that is not JSON: {line[:200]!r}") from exc
        if isinstance(message, list):
            raise ProtocolError(
                "the daemon sent a batch response, but this client sends no batches"
            )
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            raise ProtocolError(
                f"the daemon sent something that is not a JSON-RPC 2.0 response: {line[:200]!r}"
            )
        has_result, error = "result" in message, message.get("error")
        if has_result == (error is not None):
            raise ProtocolError(
                f"a response must have exactly one of result and error: {line[:200]!r}"
            )
        request_id = message.get("id")
        if error is not None:
            code, text, data = _error_fields(error, line)
            if request_id is None:
                return self._unmatched_error(code, text, data)
        if isinstance(request_id, bool) or not isinstance(request_id, int):
            raise ProtocolError(
                f"the daemon answered with an id this client never uses: {line[:200]!r}"
            )
        pending = self._pending.pop(request_id, None)
        if pending is None:
            return []  # abandoned by its caller (or answered twice): nobody waits for it
        if error is None:
            return [Reply(request_id, pending.method, result=message["result"])]
        return [
            Reply(request_id, pending.method, error=remote_error(code, text, data, pending.method))
        ]

    def _unmatched_error(self, code: int, text: str, data: Any) -> list[Reply]:
        if (
            code == InvalidRequest.code
            and isinstance(data, dict)
            and isinstance(data.get("limit"), int)
        ):
            limit = data["limit"]
            hit = [rid for rid, p in self._pending.items() if p.size > limit]
        elif code == PermissionDenied.code:
            hit = list(self._pending)
        else:
            failure = ProtocolError(
                f"the daemon could not read a request of this client: {text} (code {code}, data {data!r})"
            )
            return self.fail_all(failure)
        return [
            Reply(rid, p.method, error=remote_error(code, text, data, p.method))
            for rid in hit
            if (p := self._pending.pop(rid, None)) is not None
        ]


def _error_fields(error: Any, line: bytes) -> tuple[int, str, Any]:
    if not isinstance(error, dict):
        raise ProtocolError(f"a JSON-RPC error must be an object: {line[:200]!r}")
    code, text = error.get("code"), error.get("message")
    if isinstance(code, bool) or not isinstance(code, int) or not isinstance(text, str):
        raise ProtocolError(
            f"a JSON-RPC error needs an integer code and a string message: {line[:200]!r}"
        )
    return code, text, error.get("data")


def _expect(value: Any, kind: type | tuple[type, ...], what: str, nullable: bool = False) -> Any:
    if value is None and nullable:
        return None
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ProtocolError(f"the daemon sent a malformed {what}: {value!r}")
    return value


def parse_process_info(obj: Any) -> ProcessInfo:
    """A ProcessInfo from its JSON form; ProtocolError if it is not one."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"the daemon sent a malformed ProcessInfo: {obj!r}")
    state = obj.get("state")
    if state not in STATES:
        raise ProtocolError(f"the daemon sent a ProcessInfo with an unknown state: {obj!r}")
    return ProcessInfo(
        id=_expect(obj.get("id"), int, "ProcessInfo id"),
        name=_expect(obj.get("name"), str, "ProcessInfo name"),
        parent=_expect(obj.get("parent"), int, "ProcessInfo parent", nullable=True),
        state=state,
        pid=_expect(obj.get("pid"), int, "ProcessInfo pid", nullable=True),
        exitcode=_expect(obj.get("exitcode"), int, "ProcessInfo exitcode", nullable=True),
        program=_expect(obj.get("program"), str, "ProcessInfo program", nullable=True),
        argv=tuple(_expect(obj.get("argv", []), list, "ProcessInfo argv")),
        started_at=_expect(obj.get("started_at"), str, "ProcessInfo started_at", nullable=True),
        exited_at=_expect(obj.get("exited_at"), str, "ProcessInfo exited_at", nullable=True),
        node=_expect(obj.get("node"), str, "ProcessInfo node", nullable=True),
    )


def parse_daemon_info(obj: Any) -> DaemonInfo:
    """The result of `daemon.info`; ProtocolError if malformed."""
    if not isinstance(obj, dict):
        raise ProtocolError(f"the daemon sent a malformed daemon.info result: {obj!r}")
    return DaemonInfo(
        version=_expect(obj.get("version"), str, "daemon version"),
        protocol_version=_expect(obj.get("protocol_version"), str, "protocol version"),
        pid=_expect(obj.get("pid"), int, "daemon pid"),
    )


def check_protocol_version(info: DaemonInfo) -> None:
    """ProtocolVersionError unless the daemon speaks major version PROTOCOL_MAJOR."""
    major = info.protocol_version.partition(".")[0]
    if major != str(PROTOCOL_MAJOR):
        raise ProtocolVersionError(
            f"the daemon speaks protocol {info.protocol_version}; this client speaks "
            f"{PROTOCOL_MAJOR}.x (upgrade whichever is older)"
        )


def expect_string(obj: Any, what: str) -> str:
    return str(_expect(obj, str, what))
