"""Plain data the core works with: targets, process records, and the spawner interface."""

from __future__ import annotations

import asyncio
import enum
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol


class State(enum.StrEnum):
    CREATED = "created"
    RUNNING = "running"
    EXITED = "exited"


class TargetKind(enum.StrEnum):
    NONE = "none"  # the seed's default run(): nothing is called, exit code 0
    ARGV = "argv"
    CALLABLE = "callable"
    PICKLE = "pickle"


class Output(enum.StrEnum):
    DAEMON = "daemon"  # the daemon's own stderr (the journal under systemd)
    NULL = "null"
    PASSED = "passed"  # file descriptors passed by the caller
    LOG = "log"  # pipes the owner reads into rotated log files (process.logs reads them back)


@dataclass(frozen=True)
class Target:
    kind: TargetKind = TargetKind.NONE
    argv: tuple[str, ...] = ()
    ref: str | None = None  # "package.module:function"
    payload: str | None = None  # base64 pickle: opaque data for the child, never unpickled here
    main_path: str | None = None
    sys_path: tuple[str, ...] = ()
    env: Mapping[str, str | None] = field(default_factory=dict)
    cwd: str | None = None

    @property
    def is_python(self) -> bool:
        return self.kind is not TargetKind.ARGV


@dataclass(frozen=True)
class SpawnRequest:
    """Everything a spawner needs to start one process."""

    process_id: int
    name: str
    authkey: str
    target: Target
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    output: Output
    fds: tuple[int, int] | None  # (stdout, stderr) when output is PASSED; the spawner closes them
    log_max_bytes: int = 10 * 1024 * 1024  # output LOG: a log file is rotated past this size
    log_backups: int = 3  # output LOG: rotated files kept besides the current one
    kill_leftovers: bool = False  # at its exit, what is left of its tree is killed (programs)


class Child(Protocol):
    """A started child as the spawner reports it."""

    @property
    def pid(self) -> int: ...

    async def loaded(self) -> str | None:
        """None once the target is loaded (or for programs); otherwise why loading failed."""
        ...

    def signal(self, signum: int) -> None:
        """Send a signal; a no-op once the child has been reaped."""
        ...

    def poll(self) -> None:
        """Reap the child now if it has exited, before the event loop would have: its `on_exit`
        has run when this returns. A no-op while it runs, and once it has been reaped."""
        ...


ExitCallback = Callable[[int], None]


class Spawner(Protocol):
    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> Child:
        """Start a child. Raises SpawnFailed if nothing could be started.

        `on_exit(exitcode)` is called exactly once, from the event loop, with the exit status or
        minus the signal number.
        """
        ...


@dataclass(frozen=True)
class Survivor:
    """What an owner still holds from an earlier front: a child that still runs (with a live
    handle), or an exit status the earlier front had not stored yet."""

    process_id: int
    pid: int | None
    exitcode: int | None  # None while it still runs
    child: Child | None  # a live handle while it runs


class Owner(Spawner, Protocol):
    """A spawner whose children outlive the front: the keeper process, or a cluster backend."""

    async def reattach(self, on_exit: Callable[[int], ExitCallback]) -> list[Survivor]:
        """Everything held from before; `on_exit(process_id)` gives each running one's callback."""
        ...

    def acknowledge(self, process_id: int) -> None:
        """The front has stored this process's exit durably: the owner may forget it."""
        ...

    def close(self) -> None:
        """Let go of the owner at a clean stop of the front (children have been stopped)."""
        ...


@dataclass(eq=False, slots=True)
class ProcessRecord:
    id: int
    identity: tuple[int, ...]  # ("Process-" + ":".join(identity)) is the default name
    name: str
    parent: ProcessRecord | None
    authkey: str
    target: Target
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    state: State = State.CREATED
    starting: bool = False
    pid: int | None = None
    exitcode: int | None = None
    child: Child | None = None
    children_created: int = 0
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    program: str | None = None  # the program this process is a run of (supervision/)
    output: Output | None = None  # set at start
    started_at: str | None = None  # RFC 3339 UTC, set when the child has a pid
    exited_at: str | None = None
    started_mono: float | None = None  # time.monotonic() at start: run times for the log
    run_time: float | None = None  # seconds from start to exit

    @property
    def parent_id(self) -> int | None:
        return None if self.parent is None else self.parent.id

    @property
    def command(self) -> list[str]:
        """What the process runs, for a status table: an argv target's program and arguments, a
        callable's "module:function", ["<pickle>"] for a pickled callable, [] for no target."""
        target = self.target
        if target.kind is TargetKind.ARGV:
            return [*target.argv, *self.args]
        if target.kind is TargetKind.CALLABLE:
            return [target.ref or ""]
        if target.kind is TargetKind.PICKLE:
            return ["<pickle>"]
        return []


EventHook = Callable[[str, ProcessRecord], None]
"""Called by the core on each state change of a process: ("created" | "started" | "exited",
record). The supervision layer turns these into events, log lines and restarts."""
