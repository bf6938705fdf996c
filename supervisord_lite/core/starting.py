"""How a process starts: the spawn, the record's walk from `created` to `running`, a Python
target's load report. A part of Supervisor (core/supervisor.py)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import platform
import signal
import time
from collections.abc import Mapping
from typing import Any

from supervisord_lite.core import errors
from supervisord_lite.core.model import Child, Output, ProcessRecord, SpawnRequest, State
from supervisord_lite.core.parts import Part
from supervisord_lite.core.persistence import lineage
from supervisord_lite.core.times import rfc3339
from supervisord_lite.eager import resume

log = logging.getLogger("supervisord_lite.core.supervisor")


class Starting(Part):
    async def start(
        self,
        process_id: int,
        *,
        output: Output = Output.DAEMON,
        fds: tuple[int, int] | None = None,
        spawn_options: Mapping[str, Any] | None = None,
    ) -> ProcessRecord:
        """Start once. The fds (if any) are the spawner's to close, on every path.
        `spawn_options` are more SpawnRequest fields (log rotation, kill_leftovers)."""
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
        record.output = output
        start = self._start(record, output, fds, spawn_options)
        try:
            waiting = start.send(None)
        except StopIteration as done:
            return done.value  # type: ignore[no-any-return]  # no wait: a program, say
        if record.child is None:  # the spawn itself waits (on the keeper): let others know when
            record.spawned = asyncio.Event()
        # It waits (a Python target's load report). Once a spawn is under way it runs to its end
        # even if the caller goes away (a client that hangs up mid-start): the child must be
        # recorded, released and watched regardless. So it goes on in a task of its own.
        task = asyncio.ensure_future(resume(start, waiting))
        task.add_done_callback(_retrieve)
        return await asyncio.shield(task)

    async def _start(
        self,
        record: ProcessRecord,
        output: Output,
        fds: tuple[int, int] | None,
        spawn_options: Mapping[str, Any] | None,
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
            record=None if self._journal is None else lineage(record),
            run_as=record.run_as,
            parent_pid=record.creator_pid,
            parent_name=_creator_name(record),
            **(spawn_options or {}),
            placement=record.placement,
        )
        # The invariant: whatever fails, the record ends `created` (nothing runs: the spawner
        # leaves no child behind when it raises) or `running`, never stuck `starting` (a join
        # that never returns, a start that says AlreadyStarted for ever).
        child: Child | None = None
        try:
            child = await self._spawner.spawn(request, lambda code: self._exited(record, code))
            pid = child.pid
        except errors.SpawnFailed as exc:
            _start_failed(record)  # nothing ran: the process stays `created`
            exc.data.setdefault("id", record.id)
            raise
        except BaseException as exc:
            _start_failed(record)
            if not isinstance(exc, Exception):
                raise  # a cancellation, say: the record is `created` again, the cause goes on
            log.error("process %d: the spawner failed", record.id, exc_info=exc)
            if child is not None:  # made, but it cannot be tracked: it must not run on
                with contextlib.suppress(Exception):
                    child.signal(signal.SIGKILL)
            raise errors.SpawnFailed(
                f"process {record.id} could not be started (an internal error, in the daemon's "
                "log); it stays created and may be started again",
                id=record.id,
            ) from None
        record.child = child
        record.pid = pid
        record.node = getattr(child, "node", None)  # where a cluster backend placed it
        record.started_mono = time.monotonic()
        record.started_at = rfc3339()
        reported = record.state is State.EXITED  # an exit reported before the spawn returned
        if record.state is State.CREATED:  # not already reported as exited (or lost)
            record.state = State.RUNNING
            self._by_pid[pid] = record
        record.starting = False
        _settle(record)
        self._touch(record)
        self.on_event("started", record)
        if reported:
            self._report_exit(record)
        self._changed()
        try:
            problem = await child.loaded()
        except Exception as exc:  # the child runs and is watched: it is `running` regardless
            log.error("process %d: reading its load report failed", record.id, exc_info=exc)
            problem = None
        if problem is not None:
            # The child is on its way out with code 1: report it as exited, as PROTOCOL.md says,
            # rather than racing its exit (bounded, in case it hangs while exiting).
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(record.exited.wait(), 5)
            raise errors.TargetFailed(
                f"process {record.id}: the target could not be loaded in the child ({problem}); "
                "it exited with code 1 and its traceback is on the child's stderr",
                id=record.id,
                # Python targets run on the daemon's interpreter: a caller on another version
                # can say so, rather than leave its user with a SyntaxError from its module.
                python=platform.python_version(),
            )
        return record

    async def _spawned(self, record: ProcessRecord) -> ProcessRecord:
        """Once a spawn under way has its pid (or has failed): a join or signal sent right after
        a start acts as if sent after the start's answer (PROTOCOL.md, "Order")."""
        if record.starting and record.spawned is not None:
            await record.spawned.wait()
        return record


def _creator_name(record: ProcessRecord) -> str | None:
    """The creator's name as its child's `parent_process()` shows it: the supervised parent's, if
    it called create itself; for a caller from outside (or a process of its own below the parent),
    `MainProcess`, the name multiprocessing gives a program's first process."""
    if record.creator_pid is None:
        return None
    parent = record.parent
    if parent is not None and parent.pid == record.creator_pid:
        return parent.name
    return "MainProcess"


def _start_failed(record: ProcessRecord) -> None:
    """Back to `created`; a join that came during the start is woken (it answers NotStarted)."""
    record.starting = False
    _settle(record)
    record.exited.set()  # wakes every waiter now; clear() takes nothing back from them
    record.exited.clear()


def _retrieve(task: asyncio.Future[ProcessRecord]) -> None:
    """Mark the outcome of a start whose caller stopped waiting as seen (it is reported to
    whoever asked; an abandoned one needs no report: its state says it all)."""
    if not task.cancelled():
        task.exception()


def _close_fds(fds: tuple[int, int] | None) -> None:
    for fd in fds or ():
        with contextlib.suppress(OSError):
            os.close(fd)


def _settle(record: ProcessRecord) -> None:
    spawned, record.spawned = record.spawned, None
    if spawned is not None:
        spawned.set()
