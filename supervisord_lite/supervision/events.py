"""Events: every state change, numbered by a `seq` that only grows (across restarts too), kept in
a ring of the last N, read with a cursor and waited for on the server side.

As a Kubernetes watch: a reader passes the last `seq` it has seen; one older than the ring can
serve gets EventsExpired (data: the oldest `seq` kept), like a 410 Gone, and lists again. No
event is dropped for a slow reader while it stays inside the ring: readers hold no buffer, only
a cursor into it.
"""

from __future__ import annotations

import asyncio
import bisect
import contextlib
from collections import deque
from typing import Any

from supervisord_lite.core import errors
from supervisord_lite.core.store import EVENT, META, MemoryStore, Store
from supervisord_lite.core.times import rfc3339

DEFAULT_CAPACITY = 10_000
RESTART_GAP = 10_000  # seqs skipped after a stop that was not clean
_META_KEY = "events"

# The event types (the `type` member of an event).
CREATED = "process.created"
STARTED = "process.started"
EXITED = "process.exited"
RELEASED = "process.released"
LOST = "process.lost"
PROGRAM_ADDED = "program.added"
PROGRAM_REMOVED = "program.removed"
PROGRAM_STATE = "program.state"  # starting, running, backoff, exited, failed, stopped
RESTARTING = "program.restarting"
FAILED = "program.failed"

Event = dict[str, Any]


def _seq(event: Event) -> int:
    return int(event["seq"])


class EventLog:
    def __init__(self, store: Store | None = None, *, capacity: int = DEFAULT_CAPACITY) -> None:
        self._store: Store = store if store is not None else MemoryStore()
        self.capacity = capacity
        kept = sorted(self._store.load(EVENT).items(), key=lambda kv: int(kv[0]))
        for key, _ in kept[:-capacity]:
            self._store.delete(EVENT, key)
        self._ring: deque[Event] = deque((doc for _, doc in kept[-capacity:]), maxlen=capacity)
        meta = self._store.load(META).get(_META_KEY, {})
        last = self._ring[-1]["seq"] if self._ring else 0
        self.seq: int = max(int(meta.get("seq", 0)), last)
        # Every event after `_floor` is in the ring (those up to it were evicted or lost).
        self._floor = self._ring[0]["seq"] - 1 if self._ring else self.seq
        if (kept or meta) and not meta.get("clean"):
            # The last daemon did not stop cleanly: events it numbered in its last, unwritten
            # batch may have been seen by a reader. New ones get numbers no one has seen.
            self.seq += RESTART_GAP
        self._store.put(META, _META_KEY, {"seq": self.seq, "clean": False})
        self._waiters: set[asyncio.Future[None]] = set()

    def close(self) -> None:
        """A clean stop: the next daemon goes on from this seq with no gap."""
        self._store.put(META, _META_KEY, {"seq": self.seq, "clean": True})

    @property
    def oldest(self) -> int:
        """The oldest seq kept (seq + 1 when none is kept: the next one)."""
        return int(self._ring[0]["seq"]) if self._ring else self.seq + 1

    def emit(self, type_: str, **fields: Any) -> Event:
        self.seq += 1
        event: Event = {"seq": self.seq, "ts": rfc3339(), "type": type_, **fields}
        if len(self._ring) == self.capacity:
            self._floor = self._ring[0]["seq"]
            self._store.delete(EVENT, self._floor)
        self._ring.append(event)
        # The newest event is always kept, so its key is the seq to go on from after a restart:
        # no separate counter to write on each event (META has it at start and at a clean stop).
        self._store.put(EVENT, self.seq, event)
        waiters, self._waiters = self._waiters, set()
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)
        return event

    def since(self, since: int, limit: int) -> list[Event]:
        """Events after `since`, at most `limit`; EventsExpired if some after it are gone."""
        if since > self.seq:
            raise errors.BadSince(
                f"since {since} is ahead of the newest event ({self.seq}): that seq is not from "
                "this daemon's history; read from 0 or from the `next` an answer gave",
                newest=self.seq,
            )
        if since < self._floor:
            raise errors.EventsExpired(
                f"events after {since} are no longer kept (the oldest kept is {self.oldest}): "
                "list the state again, then read from the oldest seq",
                oldest=self.oldest,
            )
        ring = self._ring
        start = bisect.bisect_right(ring, since, key=_seq)  # seqs grow, maybe with a gap
        return [ring[i] for i in range(start, min(start + limit, len(ring)))]

    async def read(self, since: int, limit: int, timeout: float | None) -> tuple[list[Event], int]:
        """Events after `since` (waiting up to `timeout` seconds for one if there is none yet),
        and the `next` value to pass as `since`."""
        events = self.since(since, limit)
        if not events and timeout != 0:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.add(waiter)
            try:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(waiter, timeout)
            finally:
                self._waiters.discard(waiter)
            events = self.since(since, limit)
        return events, events[-1]["seq"] if events else since
