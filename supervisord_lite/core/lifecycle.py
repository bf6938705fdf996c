"""How processes end: an exit, a loss with their owner, a stop with escalation, the daemon's own
stop. A part of Supervisor (core/supervisor.py)."""

from __future__ import annotations

import asyncio
import logging
import signal
import time

from supervisord_lite.core import errors
from supervisord_lite.core.model import (
    FINAL_STATES,
    ProcessRecord,
    State,
)
from supervisord_lite.core.parts import Part
from supervisord_lite.core.times import rfc3339

log = logging.getLogger("supervisord_lite.core.supervisor")


class Lifecycle(Part):
    def _exited(self, record: ProcessRecord, exitcode: int) -> None:
        if record.state in FINAL_STATES:
            return  # already lost: a late report changes nothing
        record.exitcode = exitcode
        record.state = State.EXITED
        record.child = None  # its pidfd and pipes are gone; nothing is left to hold
        record.unacknowledged = self._journal is not None and self._journal.holds_exits
        if record.started_mono is not None:  # else reported once the spawn has returned
            self._report_exit(record)
        self._touch(record)
        self._finish(record)

    def mark_lost(self, process_id: int, reason: str) -> ProcessRecord:
        """The process was running when its owner was lost: it never runs again and its exit
        status is unknown (exitcode None). Joins waiting on it return at once. A no-op on a
        process that has already ended. Meant for the reattach, when no start is under way (a
        start still running would set the child it spawns on the record again)."""
        record = self.get(process_id)
        if record.state in FINAL_STATES:
            return record
        if record.state is State.CREATED and not record.starting:
            raise errors.NotStarted(
                f"process {record.id} was never started, so it cannot be lost", id=record.id
            )
        record.state = State.LOST
        record.exitcode = None
        record.lost_reason = reason
        record.child = None  # nothing can be signalled or reaped through it any more
        log.warning(
            "process %d (%s, pid %s) is lost: %s", record.id, record.name, record.pid, reason
        )
        self._touch(record)
        self.on_event("lost", record)
        self._finish(record)
        return record

    def _report_exit(self, record: ProcessRecord) -> None:
        """The "exited" event, with its run time (the supervision layer logs and restarts)."""
        assert record.started_mono is not None
        record.run_time = time.monotonic() - record.started_mono
        record.exited_at = rfc3339()
        self.on_event("exited", record)

    async def stop(self, process_id: int, signum: int, timeout: float) -> ProcessRecord:
        """Send `signum` (to the process's whole tree, as every signal is sent), wait up to
        `timeout` seconds for the exit, then SIGKILL and wait for it (systemd's stop)."""
        record = await self.send_signal(process_id, signum)
        if record.state is State.RUNNING:
            try:
                await asyncio.wait_for(asyncio.shield(record.exited.wait()), timeout)
            except TimeoutError:
                if record.state is State.RUNNING and record.child is not None:
                    record.child.signal(signal.SIGKILL)
                await record.exited.wait()
        return record

    async def shutdown(self, grace: float) -> None:
        """Refuse new starts, SIGTERM every running child, SIGKILL what outlives `grace`."""
        self._shutting_down = True
        running = [r for r in self._records.values() if r.state is State.RUNNING]
        for record in running:
            assert record.child is not None
            record.child.signal(signal.SIGTERM)
        waits = [asyncio.ensure_future(r.exited.wait()) for r in running]
        if not waits:
            self.persist(clean=True)
            return
        _, pending = await asyncio.wait(waits, timeout=grace)
        if pending:
            for record in running:
                if record.state is State.RUNNING and record.child is not None:
                    record.child.signal(signal.SIGKILL)
            await asyncio.wait(pending, timeout=10)
        self.persist(clean=True)
