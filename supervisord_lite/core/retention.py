"""Which records the daemon keeps: release, `--keep-exited`, and lists by page, so that memory
follows what runs, not what ever ran. A part of Supervisor (core/supervisor.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from itertools import islice

from supervisord_lite.core import errors
from supervisord_lite.core.model import (
    ProcessRecord,
    State,
)
from supervisord_lite.core.parts import Part

log = logging.getLogger("supervisord_lite.core.supervisor")


class Retention(Part):
    def select(
        self,
        *,
        state: State | None = None,
        parent: int | None = None,
        after: int = 0,
        limit: int | None = None,
        visible: Callable[[ProcessRecord], bool] | None = None,
    ) -> list[ProcessRecord]:
        """Records by id, those with an id above `after`, at most `limit`; `state` and `parent`
        filter (`parent=0` means created by the daemon itself, parent None), and `visible` says
        which the caller may see (before the limit: a page is full while more are there)."""
        found: Iterator[ProcessRecord] = self._after(after)
        if visible is not None:
            found = filter(visible, found)
        if state is not None:
            found = (r for r in found if r.state is state)
        if parent is not None:
            want = None if parent == 0 else parent
            found = (r for r in found if r.parent_id == want)
        return list(found if limit is None else islice(found, limit))

    def _after(self, after: int) -> Iterator[ProcessRecord]:
        records = self._records
        if after <= 0:
            yield from records.values()
        elif self._last_id - after <= len(records):
            # Fewer ids above `after` than records: look those ids up (a page near the end).
            for i in range(after + 1, self._last_id + 1):
                record = records.get(i)
                if record is not None:
                    yield record
        else:
            for record in records.values():
                if record.id > after:
                    yield record

    def release(self, process_id: int) -> None:
        """Forget an ended (or never started) process: its record, name and key; its id is then
        unknown, and never given again. A join already waiting on it still gets its answer."""
        record = self.get(process_id)
        if record.starting or record.state is State.RUNNING:
            doing = "is still starting" if record.starting else "is still running"
            raise errors.StillRunning(
                f"process {record.id} {doing} and cannot be released; join it (or terminate or "
                "kill it, then join it) and release it once it has exited",
                id=record.id,
            )
        self._forget(record)

    def _forget(self, record: ProcessRecord) -> None:
        self.on_event("released", record)
        del self._records[record.id]
        self._finished.pop(record.id, None)
        if self._journal is not None:
            self._journal.forget(record)
        # The child handle holds the exit callback, which holds the record: drop the cycle now
        # rather than leave it to the cyclic collector.
        record.child = None

    def _finish(self, record: ProcessRecord) -> None:
        """The record reached a final state: count it, and release the oldest beyond the limit."""
        if record.pid is not None and self._by_pid.get(record.pid) is record:
            del self._by_pid[record.pid]
        record.exited.set()  # waiters hold the record: they get their answer even if it goes
        if record.id in self._records:
            self._finished[record.id] = None
            self._trim()
        self._changed()

    def _trim(self) -> None:
        while len(self._finished) > self._keep_exited:
            oldest, _ = self._finished.popitem(last=False)
            self._forget(self._records[oldest])
