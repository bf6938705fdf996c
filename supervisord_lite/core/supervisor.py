"""The process owner's state machine: the rules of `processing.Process`, kept by the daemon.

Who calls is decided by the transport from the kernel's word (the peer pid); the core only walks
from that pid up to the nearest supervised process with the `parent_of` function it is given.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from supervisord_lite.core import errors
from supervisord_lite.core.model import (
    Output,
    Placement,
    ProcessRecord,
    Spawner,
    SpawnRequest,
    State,
    Target,
    TargetKind,
)
from supervisord_lite.eager import resume

# Deep enough for any real process tree; bounds the walk if /proc lies or loops.
_MAX_ANCESTRY = 128


def new_authkey() -> str:
    """A random hexadecimal key from os.urandom, as the `processing` package makes them."""
    return os.urandom(32).hex()


class Supervisor:
    def __init__(
        self,
        spawner: Spawner,
        *,
        parent_of: Callable[[int], int | None],
        daemon_pid: int | None = None,
        on_change: Callable[[], None] | None = None,
    ) -> None:
        self._spawner = spawner
        self._parent_of = parent_of
        self._daemon_pid = os.getpid() if daemon_pid is None else daemon_pid
        self._on_change = on_change or (lambda: None)
        self.authkey = new_authkey()  # the daemon is the main process
        self._records: dict[int, ProcessRecord] = {}
        self._by_pid: dict[int, ProcessRecord] = {}
        self._last_id = 0
        self._children_of_main = 0
        self._shutting_down = False

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
        for _ in range(_MAX_ANCESTRY):
            if pid is None or pid <= 1 or pid == self._daemon_pid:
                return None
            record = self._by_pid.get(pid)
            if record is not None:
                return record
            pid = self._parent_of(pid)
        return None

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
        placement: Placement | None = None,
    ) -> ProcessRecord:
        if group is not None:
            raise errors.GroupNotNull(
                "group must be null; it exists only for compatibility with threading.Thread"
            )
        kwargs = kwargs or {}
        _check_target(target, args, kwargs)
        if placement is not None:
            self._check_placement(placement)
        if caller is None:
            self._children_of_main += 1
            identity: tuple[int, ...] = (self._children_of_main,)
            authkey = self.authkey
        else:
            caller.children_created += 1
            identity = (*caller.identity, caller.children_created)
            authkey = caller.authkey
        self._last_id += 1
        record = ProcessRecord(
            id=self._last_id,
            identity=identity,
            name=name if name is not None else "Process-" + ":".join(map(str, identity)),
            parent=caller,
            authkey=authkey,
            target=target,
            args=tuple(args),
            kwargs=dict(kwargs),
            placement=placement,
        )
        self._records[record.id] = record
        return record

    def _check_placement(self, placement: Placement) -> None:
        check = getattr(self._spawner, "check_placement", None)
        if check is None:
            raise errors.BadPlacement(
                "this daemon runs processes on its own machine: a placement needs a cluster "
                "backend (serve --backend ray); drop the placement param"
            )
        check(placement)

    def skip_ids(self, last_id: int) -> None:
        """Number new processes after `last_id` (a backend still holds processes of an earlier
        run of this daemon under their ids)."""
        self._last_id = max(self._last_id, last_id)

    async def start(
        self,
        process_id: int,
        *,
        output: Output = Output.DAEMON,
        fds: tuple[int, int] | None = None,
    ) -> ProcessRecord:
        """Start once. The fds (if any) are the spawner's to close, on every path."""
        try:
            record = self.get(process_id)
            if record.starting or record.state is not State.CREATED:
                raise errors.AlreadyStarted(
                    f"process {record.id} was already started; a process can be started only once",
                    id=record.id,
                )
            if self._shutting_down:
                raise errors.ShuttingDown("the daemon is shutting down and starts nothing new")
        except errors.CoreError:
            _close_fds(fds)
            raise
        record.starting = True
        start = self._start(record, output, fds)
        try:
            waiting = start.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]  # no wait: a program, say
        # It waits (a Python target's load report). Once a spawn is under way it runs to its end
        # even if the caller goes away (a client that hangs up mid-start): the child must be
        # recorded, released and watched regardless. So it goes on in a task of its own.
        task = asyncio.ensure_future(resume(start, waiting))
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _start(
        self, record: ProcessRecord, output: Output, fds: tuple[int, int] | None
    ) -> ProcessRecord:
        request = SpawnRequest(
            process_id=record.id,
            name=record.name,
            authkey=record.authkey,
            target=record.target,
            args=record.args,
            kwargs=record.kwargs,
            output=output,
            fds=fds,
            placement=record.placement,
        )
        try:
            child = await self._spawner.spawn(request, lambda code: self._exited(record, code))
        except errors.SpawnFailed as exc:
            record.starting = False  # nothing ran: the process stays `created`
            exc.data.setdefault("id", record.id)
            raise
        record.child = child
        record.pid = child.pid
        if record.state is State.CREATED:  # not already reported as exited
            record.state = State.RUNNING
            self._by_pid[child.pid] = record
        record.starting = False
        self._on_change()
        problem = await child.loaded()
        if problem is not None:
            # The child is on its way out with code 1: report it as exited, as PROTOCOL.md says,
            # rather than racing its exit (bounded, in case it hangs while exiting).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(record.exited.wait(), 5)
            raise errors.TargetFailed(
                f"process {record.id}: the target could not be loaded in the child ({problem}); "
                "it exited with code 1 and its traceback is on the child's stderr",
                id=record.id,
            )
        return record

    async def join(
        self, process_id: int, *, timeout: float | None, caller: ProcessRecord | None
    ) -> ProcessRecord:
        record = self.get(process_id)
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
        return record

    def set_name(self, process_id: int, name: str) -> None:
        self.get(process_id).name = name

    def set_authkey(self, process_id: int, value: str | None) -> None:
        self.get(process_id).authkey = new_authkey() if value is None else value

    def send_signal(self, process_id: int, signum: int) -> ProcessRecord:
        record = self.get(process_id)
        if record.child is None:
            raise errors.NotStarted(
                f"process {record.id} has not been started; there is nothing to signal",
                id=record.id,
            )
        if record.state is State.RUNNING:
            record.child.signal(signum)
        return record

    # -- lifecycle -------------------------------------------------------------------------
    def _exited(self, record: ProcessRecord, exitcode: int) -> None:
        record.exitcode = exitcode
        record.state = State.EXITED
        if record.pid is not None:
            self._by_pid.pop(record.pid, None)
        record.exited.set()
        self._on_change()

    async def shutdown(self, grace: float) -> None:
        """Refuse new starts, SIGTERM every running child, SIGKILL what outlives `grace`."""
        self._shutting_down = True
        running = [r for r in self._records.values() if r.state is State.RUNNING]
        for record in running:
            assert record.child is not None
            record.child.signal(signal.SIGTERM)
        waits = [asyncio.ensure_future(r.exited.wait()) for r in running]
        if not waits:
            return
        _, pending = await asyncio.wait(waits, timeout=grace)
        if pending:
            for record in running:
                if record.state is State.RUNNING and record.child is not None:
                    record.child.signal(signal.SIGKILL)
            await asyncio.wait(pending, timeout=10)


def _check_target(target: Target, args: Sequence[Any], kwargs: Mapping[str, Any]) -> None:
    if target.kind is TargetKind.ARGV:
        if not target.argv:
            raise errors.BadTarget("an argv target needs at least the program name")
        if kwargs:
            raise errors.BadTarget("kwargs must be empty for an argv target; put them in args")
        if args and not all(isinstance(a, str) for a in args):
            raise errors.BadTarget("args of an argv target must all be strings")
    elif target.kind is TargetKind.PICKLE and (args or kwargs):
        raise errors.BadTarget("args and kwargs must be empty for a pickle target (pickle them in)")


def _retrieve(task: asyncio.Future[ProcessRecord]) -> None:
    """Mark the outcome of a start whose caller stopped waiting as seen (it is reported to
    whoever asked; an abandoned one needs no report: its state says it all)."""
    if not task.cancelled():
        task.exception()


def _close_fds(fds: tuple[int, int] | None) -> None:
    for fd in fds or ():
        with contextlib.suppress(OSError):
            os.close(fd)
