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
    # It was running when its owner was lost (the keeper died with it, say): its exit status is
    # unknown (exitcode None) and it never runs again. Like EXITED, it is final.
    LOST = "lost"


FINAL_STATES = frozenset({State.EXITED, State.LOST})


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
class RunAs:
    """The user a child runs as, when not the daemon's (docs/security.md)."""

    uid: int
    gid: int
    groups: tuple[int, ...] = ()  # supplementary groups


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
    record: Mapping[str, Any] | None = None  # lineage, for a durable owner to hand back
    run_as: RunAs | None = None  # None: the daemon's own user
    log_max_bytes: int = 10 * 1024 * 1024  # output LOG: a log file is rotated past this size
    log_backups: int = 3  # output LOG: rotated files kept besides the current one
    kill_leftovers: bool = False  # at its exit, what is left of its tree is killed (programs)
    # Who created it, for the child's multiprocessing.parent_process(); None for nobody known.
    parent_pid: int | None = None
    parent_name: str | None = None
    placement: Placement | None = None  # cluster backends only


def authkey_bytes(key: str) -> bytes:
    """The bytes of a key (what the child's `current_process().authkey` is). Keys are kept as text;
    bytes that are not UTF-8 text (a caller's `os.urandom` key) are kept as lone surrogates
    (surrogateescape), so that any bytes fit and a text key means what it always did."""
    return key.encode("utf-8", "surrogateescape")


def authkey_from_bytes(raw: bytes) -> str:
    return raw.decode("utf-8", "surrogateescape")


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
    # An owner that lets a child run before the core has recorded its spawn (the keeper) also has
    # `unrecorded(pids) -> int | None`: the process id of such a child among `pids` (a caller's
    # pid and its ancestors, nearest first), so that a caller from it is known all the same.
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
    record: Mapping[str, Any] | None = None  # the record as the owner was given it at start
    lost_reason: str | None = None  # the owner knows it is gone, exit status unknown (a node died)


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
    parent_id: int | None  # stays when the parent's record is gone (released, or not reloaded)
    authkey: str  # see authkey_bytes
    target: Target
    args: Sequence[Any]
    kwargs: Mapping[str, Any]
    state: State = State.CREATED
    starting: bool = False
    pid: int | None = None
    exitcode: int | None = None
    child: Child | None = None
    children_created: int = 0
    lost_reason: str | None = None  # why it is LOST (for the log and the store; not on the wire)
    owner_uid: int = -1  # the uid of the caller that created it (docs/security.md)
    run_as: RunAs | None = None
    creator_pid: int | None = None  # the pid that called create (the kernel's word)
    placement: Placement | None = None
    node: str | None = None  # the cluster node it runs on (a cluster backend's process only)
    exited: asyncio.Event = field(default_factory=asyncio.Event)
    unacknowledged: bool = False  # its exit came from an owner that holds it until it is stored
    spawned: asyncio.Event | None = None  # set once an asynchronous spawn has a pid (or failed)
    program: str | None = None  # the program this process is a run of (supervision/)
    output: Output | None = None  # set at start
    started_at: str | None = None  # RFC 3339 UTC, set when the child has a pid
    exited_at: str | None = None
    started_mono: float | None = None  # time.monotonic() at start: run times for the log
    run_time: float | None = None  # seconds from start to exit

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
