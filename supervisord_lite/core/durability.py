"""Records across the daemon's restarts: loaded from the store, taken back from a durable owner
(reattach), written in batches (core/journal.py). A part of Supervisor (core/supervisor.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from supervisord_lite.core import errors
from supervisord_lite.core.model import (
    FINAL_STATES,
    ProcessRecord,
    State,
    Survivor,
)
from supervisord_lite.core.parts import Part
from supervisord_lite.core.persistence import from_document, from_request
from supervisord_lite.core.store import META, PROCESS, Store, StoreWriteFailed

log = logging.getLogger("supervisord_lite.core.supervisor")


class Durability(Part):
    def _load(self, store: Store) -> None:
        meta = store.load(META).get("daemon")
        if meta is not None:
            self.authkey = meta["authkey"]
            self._children_of_main = meta["children_of_main"]
        docs = store.load(PROCESS)
        for key in sorted(docs, key=int):
            record = from_document(docs[key], self._records)
            self._records[record.id] = record
            if record.state in FINAL_STATES:
                self._finished[record.id] = None  # oldest first, as near as ids tell
        # After a clean stop the exact last id; after a crash, past every id it may have given.
        clean_last = meta["last_id"] if meta is not None and meta.get("clean") else 0
        self._last_id = max(clean_last or store.reserved_ids(), max(self._records, default=0))

    def reattach(self, survivors: Iterable[Survivor]) -> tuple[int, int, int]:
        """Take back what the owner held across a restart of the front; every record that was
        running and that the owner does not know is lost. Returns (running, exited, lost)."""
        running = exited = lost = 0
        for survivor in survivors:
            # Its id was given, whatever becomes of it: new ids go on past it (and past the
            # names a cluster backend gave its actors).
            self._last_id = max(self._last_id, survivor.process_id)
            record = self._records.get(survivor.process_id)
            if record is None:
                if survivor.record is None:
                    continue
                # Started just before a crash, before its record was written: the owner had it.
                record = from_request(survivor.record, self._records)
                self._records[record.id] = record
                self._records = dict(sorted(self._records.items()))  # lists go by id
                self._last_id = max(self._last_id, record.id)
            record.pid = survivor.pid if survivor.pid is not None else record.pid
            record.starting = False
            if survivor.lost_reason is not None:
                self.mark_lost(record.id, survivor.lost_reason)
                lost += 1
            elif survivor.exitcode is None and survivor.child is not None:
                record.state = State.RUNNING
                record.child = survivor.child
                if record.pid is not None:
                    self._by_pid[record.pid] = record
                running += 1
            else:
                self._exited(record, survivor.exitcode if survivor.exitcode is not None else -255)
                exited += 1
            self._touch(record)
        for record in self._records.values():
            if record.state is State.RUNNING and record.child is None:
                self.mark_lost(
                    record.id, "its keeper no longer knows it (a reboot, or the keeper was killed)"
                )
                lost += 1
        return running, exited, lost

    def on_exit_of(self, process_id: int) -> Callable[[int], None]:
        """The exit callback of a process taken back at reattach."""
        return lambda code: self._exited(self._records[process_id], code)

    def _touch(self, record: ProcessRecord) -> None:
        if self._journal is not None:
            self._journal.touch(record)

    def _meta(self) -> dict[str, Any]:
        return {
            "authkey": self.authkey,
            "children_of_main": self._children_of_main,
            "last_id": self._last_id,
        }

    def _reserve(self, next_id: int) -> None:
        """Ids up to `next_id` recorded as maybe handed out (a write once a block), or
        StateUnwritable: an id the store does not know of could be handed out again after a crash."""
        assert self._journal is not None
        try:
            self._journal.reserve(next_id)
        except StoreWriteFailed as exc:
            raise errors.StateUnwritable(
                f"no process can be created now: {exc}. A new block of ids must be written "
                "first, so that no restart hands one out twice; free space in the state "
                "directory (what runs goes on meanwhile)"
            ) from None

    @property
    def unwritten(self) -> bool:
        """Whether the last write of the state failed (what changed is still in memory only)."""
        return self._journal is not None and self._journal.failing is not None

    def persist_soon(self) -> None:
        """Another layer put something in the store: it goes with the next batch, soon."""
        if self._journal is not None:
            self._journal.soon()

    def persist(self, *, clean: bool = False) -> None:
        """Write what changed now (at a stop, or when a test asks)."""
        if self._journal is not None:
            self._journal.flush(clean=clean)

    def seal(self) -> None:
        """The last write before the store closes: whatever changed since the stop's write."""
        if self._journal is not None:
            self._journal.seal()
