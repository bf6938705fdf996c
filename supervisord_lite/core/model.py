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
class Placement:
    """Where a cluster backend runs a process: a node (its id or address) and resources it needs.
    Local backends accept only none (the supervisor refuses one before it reaches them)."""

    node: str | None = None
    resources: Mapping[str, float] = field(default_factory=dict)


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
    placement: Placement | None = None  # cluster backends only


class Child(Protocol):
    """A started child as the spawner reports it. A cluster backend's child also has `node` (where
    it runs, a str); ProcessInfo reads it with getattr, so local children need not have it."""

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
    # A backend that can place processes also has `check_placement(placement) -> None`, which
    # raises BadPlacement; the supervisor refuses any placement for a backend without it.
    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> Child:
        """Start a child. Raises SpawnFailed if nothing could be started.

        `on_exit(exitcode)` is called exactly once, from the event loop, with the exit status or
        minus the signal number.
        """
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
    placement: Placement | None = None
    exited: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def parent_id(self) -> int | None:
        return None if self.parent is None else self.parent.id
