"""What changed since the last write, written in batches to the store.

Changes are written in one transaction `FLUSH_DELAY` after the first of them: a burst is one
commit (~20 µs, plus ~4 µs a record, measured), and no request waits for it. A crash inside that
window loses nothing that matters: exits stay with the keeper until `acknowledge` says they are
stored, and ids are reserved ahead in blocks (`reserve`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from supervisord_lite.core.model import ProcessRecord
from supervisord_lite.core.persistence import to_document
from supervisord_lite.core.store import META, PROCESS, Store, StoreWriteFailed

log = logging.getLogger(__name__)

FLUSH_DELAY = 0.01
# While the store cannot write (a full disk), it is tried again this often: one line in the log
# when it starts failing and one when it writes again, not a traceback per batch.
RETRY_DELAY = 1.0
ID_BLOCK = 1000  # ids reserved at a time: after a crash, numbering goes on past the block


class Journal:
    def __init__(
        self,
        store: Store,
        *,
        meta: Callable[[], dict[str, Any]],
        acknowledge: Callable[[list[int]], None] | None,
    ) -> None:
        self.store = store
        self._meta = meta
        self._acknowledge = acknowledge
        self._dirty: dict[int, ProcessRecord | None] = {}  # None: released, to delete
        self._handle: asyncio.TimerHandle | None = None
        self._forgotten: list[int] = []  # released before their exit was acknowledged
        self._flushing = False
        self._sealed = False
        self.failing: StoreWriteFailed | None = None  # the last write failed (kept in the store)
        self._held: list[int] = []  # exits stored in a batch that failed: acknowledged later

    @property
    def holds_exits(self) -> bool:
        """Whether exits come from an owner that keeps them until they are stored."""
        return self._acknowledge is not None

    def reserve(self, last_id: int) -> None:
        if last_id > self.store.reserved_ids():
            self.store.reserve_ids(last_id + ID_BLOCK)

    def touch(self, record: ProcessRecord) -> None:
        self._dirty[record.id] = record
        self._schedule()

    def forget(self, record: ProcessRecord) -> None:
        """Its record goes; an exit not yet acknowledged to the owner still is, with the batch."""
        self._dirty[record.id] = None
        if record.unacknowledged:
            record.unacknowledged = False
            self._forgotten.append(record.id)
        self._schedule()

    def soon(self) -> None:
        """Someone else put a document in the store: write it with the next batch, soon."""
        if not self._flushing:
            self._schedule()

    def seal(self) -> None:
        """The last write, at a stop: after it nothing is scheduled, since the store closes next.

        Without it a change made while the owner ends (an exit the keeper reports as it quits)
        left a timer that fired on the closed store, in the loop's last turns.
        """
        self.flush(clean=True)
        self._sealed = True
        if self._handle is not None:  # a retry of a write that failed: the store closes now
            self._handle.cancel()
            self._handle = None

    def _schedule(self) -> None:
        if self._handle is not None or self._sealed:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop (a unit test): write at once
            self.flush()
            return
        delay = FLUSH_DELAY if self.failing is None else RETRY_DELAY
        self._handle = loop.call_later(delay, self.flush)

    def flush(self, *, clean: bool = False) -> None:
        """Write what changed in one transaction; then tell the owner which exits it may forget."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        dirty, self._dirty = self._dirty, {}
        acknowledged, self._forgotten = self._forgotten, []
        self._flushing = True
        for key, record in dirty.items():
            if record is None:
                self.store.delete(PROCESS, key)
                continue
            self.store.put(PROCESS, key, to_document(record))
            if record.unacknowledged:
                record.unacknowledged = False
                acknowledged.append(key)
        self.store.put(META, "daemon", {**self._meta(), "clean": clean})
        self._flushing = False
        try:
            self.store.flush()
        except StoreWriteFailed as exc:
            # The batch stays in the store, and these exits with the owner, until a write works.
            self._held += acknowledged
            self._write_failed(exc)
            return
        if self.failing is not None:
            log.warning("writing the state works again (it had failed: %s)", self.failing)
            self.failing = None
        acknowledged, self._held = self._held + acknowledged, []
        if acknowledged and self._acknowledge is not None:
            self._acknowledge(acknowledged)

    def _write_failed(self, exc: StoreWriteFailed) -> None:
        if self.failing is None:
            log.error(
                "%s; what changed stays in memory, and exit statuses with the keeper, until a "
                "write succeeds (tried every %gs)",
                exc,
                RETRY_DELAY,
            )
        self.failing = exc
        self._schedule()
