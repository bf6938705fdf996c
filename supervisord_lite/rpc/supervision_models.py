"""Params and results of the supervision methods (programs, events, logs)."""

from __future__ import annotations

import signal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from supervisord_lite.rpc.models import (
    Params,
    ProcessId,
    ProcessInfo,
    Target,
    _empty_dict,
    _empty_list,
)

ProgramName = Annotated[
    str,
    Field(
        min_length=1,
        max_length=128,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@:-]*$",
        description="Letters, digits and _.@:- (starting with a letter or digit)",
    ),
]
Seconds = Annotated[float, Field(ge=0)]


class ProgramAddParams(Params):
    name: ProgramName
    target: Target
    args: list[Any] = _empty_list()
    kwargs: dict[str, Any] = _empty_dict()
    restart: Literal["no", "on-failure", "always"] = "on-failure"
    restart_delay: Seconds = Field(0.1, description="First delay before a restart (doubles)")
    restart_max_delay: Seconds = Field(30.0, description="The delay doubles up to this")
    healthy_after: Seconds = Field(
        10.0, description="A run this long is healthy: running, and the delay resets"
    )
    max_restarts: Annotated[int, Field(ge=0)] = Field(
        5, description="More restarts than this within restart_window: failed"
    )
    restart_window: Annotated[float, Field(gt=0)] = 60.0
    stop_signal: str = Field("SIGTERM", description='A signal name, such as "SIGTERM", "SIGINT"')
    stop_timeout: Seconds = Field(10.0, description="SIGKILL this long after stop_signal")
    output: Literal["log", "daemon", "null"] = "log"
    log_max_bytes: Annotated[int, Field(ge=1024)] = 10 * 1024 * 1024
    log_backups: Annotated[int, Field(ge=0, le=100)] = 3
    start: bool = Field(True, description="Start it now (else it stays stopped)")

    @field_validator("stop_signal")
    @classmethod
    def _known_signal(cls, value: str) -> str:
        try:
            signal.Signals[value]
        except KeyError:
            raise ValueError(f"unknown signal {value!r}; use a name such as SIGTERM") from None
        return value


class ProgramNameParams(Params):
    name: ProgramName


ProgramState = Literal["stopped", "starting", "running", "backoff", "exited", "failed"]


class ProgramStatusObject(BaseModel):
    name: str
    state: ProgramState
    process: ProcessInfo | None = Field(description="The current (or last) run; null if none")
    runs: int
    restarts: int
    last_exitcode: int | None
    since: str = Field(description="When it entered its state (RFC 3339 UTC)")


# On the wire (openrpc.json) it is ProgramStatusObject: a generator turns program.status into
# ProgramStatus, a type of its own (as ProcessInfoObject, protocol/PROTOCOL.md).
ProgramStatus = ProgramStatusObject


class EventsReadParams(Params):
    since: Annotated[int, Field(ge=0)] = Field(
        0, description="The last seq seen (0: from the start); events after it are returned"
    )
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000
    timeout: Seconds | None = Field(
        None, description="Seconds to wait when none is newer; 0: do not wait; null: until one"
    )


class Event(BaseModel):
    model_config = ConfigDict(extra="allow")
    seq: int
    ts: str
    type: Literal[
        "process.created",
        "process.started",
        "process.exited",
        "process.released",
        "process.lost",
        "program.added",
        "program.removed",
        "program.state",
        "program.restarting",
        "program.failed",
    ]


class EventsReadResult(BaseModel):
    events: list[Event]
    next: int = Field(description="Pass as `since` to read on")


class LogsParams(Params):
    id: ProcessId | None = Field(
        None, description="A process; with program: the run to read from (an answer's id)"
    )
    program: ProgramName | None = Field(
        None, description="A program's runs, one after the other (from its current run if no id)"
    )
    cursor: Annotated[int, Field(ge=0)] = Field(0, description="0, or a cursor an answer gave")
    limit: Annotated[int, Field(ge=1, le=10_000)] = 1000
    stream: Literal["stdout", "stderr"] | None = Field(None, description="null: both")
    follow: bool = Field(False, description="Wait for a new line when there is none")
    timeout: Seconds | None = Field(None, description="How long follow waits; null: until one")


class LogLine(BaseModel):
    stream: Literal["stdout", "stderr"]
    text: str
    encoding: Literal["utf-8", "base64"]
    ts: str
    partial: bool = Field(False, description="A piece: the line goes on in the next one")


class LogsResult(BaseModel):
    id: int = Field(description="The process (run) these lines are from; pass it back as id")
    lines: list[LogLine]
    cursor: int = Field(description="Pass back to read on from here")
    done: bool = Field(
        description="The output has ended and every line has been read (for a program: of its "
        "last run, and it is not meant to run again)"
    )
