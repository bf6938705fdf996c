"""Programs, events and captured output (protocol 1.1): typed results, and iterators that follow a
log or the event stream with one long-polling call per batch, resuming from their cursor.

    with Client() as c:
        c.add_program("web", Command(["python3", "-m", "http.server"]), restart="always")
        for line in c.follow_logs(program="web"):
            print(line.stream, line.text)
"""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from supervisord_lite_client.errors import ProtocolError
from supervisord_lite_client.protocol import ProcessInfo, parse_process_info

if TYPE_CHECKING:
    from supervisord_lite_client.client import Client


class ProgramStatus(NamedTuple):
    name: str
    state: str  # stopped, starting, running, backoff, exited, failed
    process: ProcessInfo | None  # the current (or last) run
    runs: int
    restarts: int
    last_exitcode: int | None
    since: str  # RFC 3339 UTC


class LogLine(NamedTuple):
    stream: str  # "stdout" or "stderr"
    text: str  # the line without its newline; base64 when encoding is "base64"
    encoding: str  # "utf-8" or "base64" (bytes that are not UTF-8)
    ts: str
    partial: bool = False  # a piece of a longer line, or output that ended without a newline

    @property
    def data(self) -> bytes:
        """The line's bytes, whatever its encoding on the wire."""
        if self.encoding == "base64":
            return base64.b64decode(self.text)
        return self.text.encode("utf-8")


class Event(NamedTuple):
    seq: int
    type: str  # process.created, process.exited, program.restarting, ...
    ts: str
    fields: dict[str, Any]  # the rest: id, name, program, state, pid, exitcode, ...


def parse_status(obj: Any) -> ProgramStatus:
    if not isinstance(obj, dict) or not isinstance(obj.get("name"), str):
        raise ProtocolError(f"the daemon sent a malformed program status: {obj!r}")
    process = obj.get("process")
    return ProgramStatus(
        name=obj["name"],
        state=str(obj.get("state")),
        process=None if process is None else parse_process_info(process),
        runs=int(obj.get("runs", 0)),
        restarts=int(obj.get("restarts", 0)),
        last_exitcode=obj.get("last_exitcode"),
        since=str(obj.get("since")),
    )


def parse_event(obj: Any) -> Event:
    if not isinstance(obj, dict) or not isinstance(obj.get("seq"), int):
        raise ProtocolError(f"the daemon sent a malformed event: {obj!r}")
    rest = {k: v for k, v in obj.items() if k not in ("seq", "type", "ts")}
    return Event(obj["seq"], str(obj.get("type")), str(obj.get("ts")), rest)


class LogFollower:
    """Iterates over a process's log lines, waiting on the daemon for new ones; ends when the
    output has ended (the process exited and every line was read). A program's follower goes on
    across its runs, and ends once the program is not meant to run again. `cursor` (and, for a
    program, `run_id`) is where it is: pass them to a new follower to go on from there."""

    def __init__(
        self, client: Client, target: dict[str, Any], *, cursor: int, stream: str | None,
        timeout: float, follow: bool,
    ) -> None:  # fmt: skip
        self._client = client
        self._target = target
        self.cursor = cursor
        self._stream = stream
        self._timeout = timeout
        self._follow = follow
        self.done = False

    @property
    def run_id(self) -> int | None:
        """The process whose log the cursor is in."""
        value = self._target.get("id")
        return None if value is None else int(value)

    def batch(self) -> list[LogLine]:
        """One call: the next lines (waiting up to the timeout for one when following)."""
        params: dict[str, Any] = {**self._target, "cursor": self.cursor, "follow": self._follow,
                                  "timeout": self._timeout}  # fmt: skip
        if self._stream is not None:
            params["stream"] = self._stream
        result = self._client.call("process.logs", params)
        if "program" in self._target:  # the run read: a program's cursor is into that run
            self._target["id"] = int(result["id"])
        self.cursor = int(result["cursor"])
        self.done = bool(result["done"])
        return [LogLine(**line) for line in result["lines"]]

    def __iter__(self) -> Iterator[LogLine]:
        while not self.done:
            lines = self.batch()
            yield from lines
            if not self._follow and not lines:
                return


class EventStream:
    """Iterates over the daemon's events for ever, one long-polling `events.read` per batch.
    `next` is the last seq seen; EventsExpired means the reader fell out of the ring."""

    def __init__(self, client: Client, *, since: int, timeout: float) -> None:
        self._client = client
        self.next = since
        self._timeout = timeout

    def batch(self) -> list[Event]:
        result = self._client.call("events.read", {"since": self.next, "timeout": self._timeout})
        self.next = int(result["next"])
        return [parse_event(e) for e in result["events"]]

    def __iter__(self) -> Iterator[Event]:
        while True:
            yield from self.batch()
