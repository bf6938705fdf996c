"""The process owner's state machine: the rules of `processing.Process`, kept by the daemon.

Who calls is decided by the transport from the kernel's word (the peer pid); the core only walks
from that pid up to the nearest supervised process with the `parent_of` function it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from supervisord_lite.core import errors
from supervisord_lite.core.durability import Durability
from supervisord_lite.core.journal import Journal
from supervisord_lite.core.lifecycle import Lifecycle
from supervisord_lite.core.model import (
    EventHook,
    Placement,
    ProcessRecord,
    RunAs,
    Spawner,
    State,
    Target,
    TargetKind,
)
from supervisord_lite.core.retention import Retention
from supervisord_lite.core.starting import Starting
from supervisord_lite.core.store import Store

log = logging.getLogger(__name__)
DEFAULT_KEEP_EXITED = 1000

# Deep enough for any real process tree; bounds the walk if /proc lies or loops.
_MAX_ANCESTRY = 128


def new_authkey() -> str:
    """A random hexadecimal key from os.urandom, as the `processing` package makes them."""
    return os.urandom(32).hex()


class Supervisor(Starting, Retention, Durability, Lifecycle):
    def __init__(
        self,
        spawner: Spawner,
        *,
        parent_of: Callable[[int], int | None],
        daemon_pid: int | None = None,
        on_change: Callable[[], None] | None = None,
        store: Store | None = None,
        acknowledge: Callable[[list[int]], None] | None = None,
        keep_exited: int = DEFAULT_KEEP_EXITED,
        on_event: EventHook | None = None,
    ) -> None:
        """With a `store`, records are durable (loaded here, written in batches); `acknowledge`
        tells a durable owner which exits are stored, so it may forget them."""
        if keep_exited < 0:
            raise ValueError(f"keep_exited must be 0 or more, not {keep_exited}")
        self._spawner = spawner
        self._parent_of = parent_of
        self._daemon_pid = os.getpid() if daemon_pid is None else daemon_pid
        self._uid = os.geteuid()
        self._on_change = on_change or (lambda: None)
        self.on_event: EventHook = on_event or (lambda kind, record: None)
        self.authkey = new_authkey()  # the daemon is the main process
        self._records: dict[int, ProcessRecord] = {}  # in id order: ids only grow
        # Ids of exited (or lost) records, in the order they ended: the oldest beyond
        # `keep_exited` are released, so memory is bounded by what runs, not by what ever ran.
        self._finished: OrderedDict[int, None] = OrderedDict()
        self._keep_exited = keep_exited
        self._by_pid: dict[int, ProcessRecord] = {}
        self._last_id = 0
        self._children_of_main = 0
        self._shutting_down = False
        self._journal: Journal | None = None
        if store is not None:
            self._load(store)
            self._journal = Journal(store, meta=self._meta, acknowledge=acknowledge)
            self._trim()  # a smaller --keep-exited than the last run's applies at once

    # -- queries ---------------------------------------------------------------------------
    def get(self, process_id: int) -> ProcessRecord:
        try:
            return self._records[process_id]
        except KeyError:
            raise errors.NoSuchProcess(
                f"no process has id {process_id}; process.list shows the ids that exist",
                id=process_id,
            ) from None

    def records(self) -> Iterable[ProcessRecord]:
        return self._records.values()

    @property
    def running(self) -> int:
        return len(self._by_pid)

    def caller_of(self, peer_pid: int | None) -> ProcessRecord | None:
        """The supervised process that `peer_pid` is, or runs under; None for outside callers."""
        pid = peer_pid
        ancestry = []
        for _ in range(_MAX_ANCESTRY):
            if pid is None or pid <= 1 or pid == self._daemon_pid:
                break
            record = self._by_pid.get(pid)
            if record is not None:
                return record
            ancestry.append(pid)
            pid = self._parent_of(pid)
        # A child the owner let run before its spawn reached us (the keeper does not wait for
        # our go): its id is in what the owner has told us, perhaps not yet read.
        unrecorded = getattr(self._spawner, "unrecorded", None)
        process_id = None if unrecorded is None or not ancestry else unrecorded(ancestry)
        return None if process_id is None else self._records.get(process_id)

    # -- the Process API -------------------------------------------------------------------
    def create(
        self,
        *,
        caller: ProcessRecord | None,
        target: Target,
        args: Sequence[Any] = (),
        kwargs: Mapping[str, Any] | None = None,
        name: str | None = None,
        group: object = None,
        owner_uid: int | None = None,
        run_as: RunAs | None = None,
        authkey: str | None = None,
        caller_pid: int | None = None,
        program: str | None = None,
        placement: Placement | None = None,
    ) -> ProcessRecord:
        """A new record. `authkey` is the creator's own key when it says it (a Python caller's
        `current_process().authkey`), else the one it inherits: the caller's, or the daemon's."""
        if group is not None:
            raise errors.GroupNotNull(
                "group must be null; it exists only for compatibility with threading.Thread"
            )
        kwargs = kwargs or {}
        _check_target(target, args, kwargs)
        if placement is not None:
            self._check_placement(placement)
        if self._journal is not None:
            self._reserve(self._last_id + 1)  # before anything changes: a refusal costs nothing
        if caller is None:
            self._children_of_main += 1
            identity: tuple[int, ...] = (self._children_of_main,)
            inherited = self.authkey
        else:
            caller.children_created += 1
            identity = (*caller.identity, caller.children_created)
            inherited = caller.authkey
        self._last_id += 1
        record = ProcessRecord(
            id=self._last_id,
            identity=identity,
            name=name if name is not None else "Process-" + ":".join(map(str, identity)),
            parent=caller,
            parent_id=None if caller is None else caller.id,
            authkey=inherited if authkey is None else authkey,
            target=target,
            args=tuple(args),
            kwargs=dict(kwargs),
            owner_uid=self._uid if owner_uid is None else owner_uid,
            run_as=run_as,
            creator_pid=caller_pid,
            program=program,
            placement=placement,
        )
        self._records[record.id] = record
        if caller is not None:
            self._touch(caller)
        self._touch(record)
        self.on_event("created", record)
        return record

    def _check_placement(self, placement: Placement) -> None:
        check = getattr(self._spawner, "check_placement", None)
        if check is None:
            raise errors.BadPlacement(
                "this daemon runs processes on its own machine: a placement needs a cluster "
                "backend (serve --backend ray); drop the placement param"
            )
        check(placement)

    async def join(
        self, process_id: int, *, timeout: float | None, caller: ProcessRecord | None
    ) -> ProcessRecord:
        record = await self._spawned(self.get(process_id))
        if record.state is State.CREATED and not record.starting:
            raise errors.NotStarted(
                f"process {record.id} has not been started; call process.start first",
                id=record.id,
            )
        if caller is record:
            raise errors.JoinSelf(
                f"process {record.id} cannot join itself: that would wait for ever", id=record.id
            )
        if record.state is State.RUNNING and record.child is not None:
            # The child may have exited already, its pidfd not yet seen by the loop: on one CPU
            # it ran to its end before this join was read. Answered now, without a wait and the
            # two loop turns a waiting join costs. (One waitid when it still runs.)
            record.child.poll()
        if timeout is None:
            await record.exited.wait()
        else:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(record.exited.wait(), timeout)
        if record.state is State.CREATED and not record.starting:
            raise errors.NotStarted(
                f"process {record.id} did not start (its start failed); start it again",
                id=record.id,
            )
        return record

    def set_name(self, process_id: int, name: str) -> None:
        record = self.get(process_id)
        record.name = name
        self._touch(record)

    def set_authkey(self, process_id: int, value: str | None) -> None:
        record = self.get(process_id)
        record.authkey = new_authkey() if value is None else value
        self._touch(record)

    async def send_signal(self, process_id: int, signum: int) -> ProcessRecord:
        record = await self._spawned(self.get(process_id))
        if record.state is State.CREATED and record.child is None:
            raise errors.NotStarted(
                f"process {record.id} has not been started; there is nothing to signal",
                id=record.id,
            )
        if record.state is State.RUNNING and record.child is not None:
            record.child.signal(signum)  # an ended (exited, lost) process is left alone
        return record

    # -- lifecycle -------------------------------------------------------------------------
    def _changed(self) -> None:
        """Tell the owner (systemd's status line): a failure there is logged, never the caller's."""
        try:
            self._on_change()
        except Exception:
            log.exception("the change callback failed")


def _check_target(target: Target, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    if target.kind is TargetKind.ARGV:
        if not target.argv:
            raise errors.BadTarget("an argv target needs at least the program name")
        if kwargs:
            raise errors.BadTarget("kwargs must be empty for an argv target; put them in args")
        if args and not all(isinstance(a, str) and "\0" not in a for a in args):
            raise errors.BadTarget(
                "args of an argv target must all be strings, without NUL bytes (they are argv)"
            )
    elif target.kind is TargetKind.PICKLE and (args or kwargs):
        raise errors.BadTarget("args and kwargs must be empty for a pickle target (pickle them in)")
