"""The event ring: seq, cursors, expiry (as a Kubernetes watch's 410 Gone), waiting, persistence."""

from __future__ import annotations

import asyncio

import pytest

from supervisord_lite.core import errors
from supervisord_lite.core.store import EVENT, MemoryStore
from supervisord_lite.supervision.events import RESTART_GAP, EventLog
from tests.wire import poll_until


def test_seq_grows_and_since_returns_what_is_after_it() -> None:
    log = EventLog()
    for i in range(5):
        log.emit("process.created", id=i)
    assert [e["seq"] for e in log.since(0, 100)] == [1, 2, 3, 4, 5]
    assert [e["seq"] for e in log.since(3, 100)] == [4, 5]
    assert [e["seq"] for e in log.since(1, 2)] == [2, 3]
    assert log.since(5, 100) == []
    assert all(e["ts"].endswith("Z") for e in log.since(0, 100))


def test_a_since_older_than_the_ring_is_expired_and_says_the_oldest() -> None:
    log = EventLog(capacity=3)
    for _ in range(5):
        log.emit("process.created")
    assert [e["seq"] for e in log.since(2, 100)] == [3, 4, 5]  # still inside the ring
    with pytest.raises(errors.EventsExpired) as info:
        log.since(1, 100)
    assert info.value.data == {"oldest": 3}
    with pytest.raises(errors.EventsExpired):
        log.since(0, 100)


def test_a_since_ahead_of_the_newest_is_refused() -> None:
    log = EventLog()
    log.emit("process.created")
    with pytest.raises(errors.BadSince) as info:
        log.since(7, 10)
    assert info.value.data == {"newest": 1}


def test_a_slow_reader_inside_the_ring_loses_nothing() -> None:
    log = EventLog(capacity=100)
    seen: list[int] = []
    cursor = 0
    for i in range(250):
        log.emit("process.created", id=i)
        if i % 40 == 39:  # reads rarely, in small batches, but within the ring
            while batch := log.since(cursor, 7):
                seen += [e["seq"] for e in batch]
                cursor = batch[-1]["seq"]
    seen += [e["seq"] for e in log.since(cursor, 1000)]
    assert seen == list(range(1, 251))


def test_read_waits_for_the_next_event_and_times_out_empty() -> None:
    async def main() -> None:
        log = EventLog()
        log.emit("process.created")
        reader = asyncio.ensure_future(log.read(1, 10, None))
        await poll_until(lambda: bool(log._waiters), timeout=5, what="the reader to wait")
        assert not reader.done()
        log.emit("process.started", id=1)
        events, next_ = await asyncio.wait_for(reader, 5)
        assert [e["type"] for e in events] == ["process.started"] and next_ == 2
        assert await log.read(2, 10, 0) == ([], 2)  # timeout 0: at once
        assert await log.read(2, 10, 0.01) == ([], 2)

    asyncio.run(main())


def test_seq_and_the_ring_survive_a_clean_restart_through_the_store() -> None:
    store = MemoryStore()
    first = EventLog(store, capacity=4)
    for i in range(6):
        first.emit("process.created", id=i)
    first.close()
    assert sorted(store.load(EVENT)) == [3, 4, 5, 6]  # evicted events leave the store too
    second = EventLog(store, capacity=4)
    assert [e["id"] for e in second.since(2, 10)] == [2, 3, 4, 5]
    assert second.emit("program.added")["seq"] == 7
    second.close()
    third = EventLog(store, capacity=2)  # a smaller ring keeps the newest
    assert third.oldest == 6 and third.seq == 7
    with pytest.raises(errors.EventsExpired):
        third.since(4, 10)


def test_after_an_unclean_stop_new_seqs_skip_ahead_and_old_cursors_still_work() -> None:
    store = MemoryStore()
    first = EventLog(store)
    for _ in range(3):
        first.emit("process.created")
    # No close(): the daemon died. Events it numbered after its last write may have been seen.
    second = EventLog(store)
    new = second.emit("process.created")["seq"]
    assert new == 4 + RESTART_GAP
    assert [e["seq"] for e in second.since(3, 10)] == [new]  # a reader of the old ones goes on
    assert [e["seq"] for e in second.since(5, 10)] == [new]  # one that saw a lost one too
    assert [e["seq"] for e in second.since(1, 10)] == [2, 3, new]
