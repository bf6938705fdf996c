"""Bounded memory in the core: release, --keep-exited, and listing by page and filter."""

from __future__ import annotations

import asyncio
import gc
import weakref

import pytest

from supervisord_lite.core import errors
from supervisord_lite.core.model import ProcessRecord, State, Target
from supervisord_lite.core.supervisor import Supervisor
from tests.test_core import FakeSpawner, make, run


class _Marker:
    pass


async def _ran(sv: Supervisor, spawner: FakeSpawner, code: int = 0) -> ProcessRecord:
    """A process started and exited with `code`."""
    p = sv.create(caller=None, target=Target())
    await sv.start(p.id)
    spawner.children[-1].exit(code)
    return p


def test_release_forgets_an_exited_process_and_never_reuses_its_id() -> None:
    gc.disable()  # so that only reference counting frees it
    try:
        run(_release_forgets())
    finally:
        gc.enable()


async def _release_forgets() -> None:
    sv, spawner = make()
    held = _Marker()  # held by the record only: it goes when the record goes
    p = sv.create(caller=None, target=Target(), args=(held,))
    ref = weakref.ref(held)
    del held
    await sv.start(p.id)
    spawner.children[-1].exit(3)
    sv.release(p.id)
    with pytest.raises(errors.NoSuchProcess):
        sv.get(p.id)
    with pytest.raises(errors.NoSuchProcess):
        sv.release(p.id)  # twice: the id is unknown now
    assert list(sv.records()) == []
    spawner.children.clear()  # the fake's own bookkeeping holds the child and the request
    spawner.requests.clear()
    del p
    assert ref() is None  # freed by reference counting alone: no cycle is left behind
    q = sv.create(caller=None, target=Target())
    assert q.id == 2 and q.name == "Process-2"


def test_release_refuses_a_running_or_starting_process_and_loses_nothing() -> None:
    async def go() -> None:
        sv, spawner = make()
        p = sv.create(caller=None, target=Target())
        await sv.start(p.id)
        with pytest.raises(errors.StillRunning, match="join it") as refused:
            sv.release(p.id)
        assert refused.value.data == {"id": p.id}
        assert sv.get(p.id) is p and p.state == "running" and sv.running == 1
        p.starting = True  # as while a spawn is under way
        with pytest.raises(errors.StillRunning):
            sv.release(p.id)
        p.starting = False
        spawner.children[0].exit(0)
        sv.release(p.id)
        never = sv.create(caller=None, target=Target())
        sv.release(never.id)  # created, never started: nothing runs, so it may go
        assert list(sv.records()) == []

    run(go())


def test_keep_exited_releases_the_oldest_beyond_n() -> None:
    async def go() -> None:
        sv, spawner = make(keep_exited=2)
        ran = [await _ran(sv, spawner) for _ in range(3)]
        assert [r.id for r in sv.records()] == [ran[1].id, ran[2].id]
        sv.release(ran[1].id)  # a released one no longer counts
        more = await _ran(sv, spawner)
        assert [r.id for r in sv.records()] == [ran[2].id, more.id]
        running = sv.create(caller=None, target=Target())
        await sv.start(running.id)
        created = sv.create(caller=None, target=Target())
        last = await _ran(sv, spawner)
        # Only ended records count and go: the running and the created ones stay.
        assert [r.id for r in sv.records()] == [more.id, running.id, created.id, last.id]

    run(go())


def test_keep_exited_zero_still_answers_the_joins_that_wait() -> None:
    """With 0 a record goes the moment its exit is recorded: joins already waiting get the exit
    status (they hold the record); anything asked later gets NoSuchProcess."""

    async def go() -> None:
        sv, spawner = make(keep_exited=0)
        p = sv.create(caller=None, target=Target())
        await sv.start(p.id)
        waiters = [
            asyncio.ensure_future(sv.join(p.id, timeout=None, caller=None)) for _ in range(3)
        ]
        for w in waiters:  # each reaches its wait: the child still runs
            assert not w.done()
        await asyncio.wait(waiters, timeout=0)
        spawner.children[0].exit(5)
        assert [(await w).exitcode for w in waiters] == [5, 5, 5]
        with pytest.raises(errors.NoSuchProcess):
            await sv.join(p.id, timeout=None, caller=None)
        assert list(sv.records()) == []

    run(go())


def test_a_negative_keep_exited_is_refused() -> None:
    with pytest.raises(ValueError, match="0 or more"):
        make(keep_exited=-1)


def test_select_pages_and_filters() -> None:
    async def go() -> None:
        sv, spawner = make({5000: 1001})  # pid 5000 runs under process 1's child (pid 1001)
        first = sv.create(caller=None, target=Target())
        await sv.start(first.id)
        parent = sv.caller_of(5000)
        assert parent is first
        kids = [sv.create(caller=parent, target=Target()) for _ in range(3)]
        done = await _ran(sv, spawner, 1)
        ids = [r.id for r in sv.select()]
        assert ids == [1, 2, 3, 4, 5]
        assert [r.id for r in sv.select(after=2, limit=2)] == [3, 4]
        assert [r.id for r in sv.select(after=4, limit=2)] == [5]
        assert sv.select(after=5) == []
        assert sv.select(after=99) == []
        assert [r.id for r in sv.select(parent=first.id)] == [k.id for k in kids]
        assert [r.id for r in sv.select(parent=0)] == [first.id, done.id]
        assert sv.select(parent=done.id) == []
        assert [r.id for r in sv.select(state=State.CREATED, after=2)] == [3, 4]
        assert [r.id for r in sv.select(state=State.EXITED)] == [done.id]
        assert [r.id for r in sv.select(state=State.RUNNING, parent=0)] == [first.id]
        sv.release(kids[1].id)
        # Both ways of finding the ids above `after` give the same pages, by id.
        assert [r.id for r in sv.select(after=0)] == [1, 2, 4, 5]
        assert [r.id for r in sv.select(after=3, limit=1)] == [4]
        assert [r.id for r in sv.select(after=1, limit=2)] == [2, 4]
        sv.release(kids[0].id)
        sv.release(done.id)
        # Now more ids above 1 than records (1, 4 are left): the records are walked instead.
        assert [r.id for r in sv.select(after=1)] == [4]
        assert [r.id for r in sv.select(after=3, limit=5)] == [4]

    run(go())
