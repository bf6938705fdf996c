"""The core's durability with a fake owner and an in-memory store: what a new front takes back."""

from __future__ import annotations

import asyncio
from typing import Any

from supervisord_lite.core.model import State, Survivor, Target, TargetKind
from supervisord_lite.core.persistence import to_document
from supervisord_lite.core.store import MemoryStore
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.owner.link import request_to_dict
from tests.test_core import FakeChild, FakeSpawner


def front(store: MemoryStore, acks: list[int] | None = None) -> tuple[Supervisor, FakeSpawner]:
    spawner = FakeSpawner()
    ack = None if acks is None else acks.extend
    sv = Supervisor(spawner, parent_of=lambda pid: None, daemon_pid=1, store=store, acknowledge=ack)
    return sv, spawner


def test_records_names_keys_and_ids_come_back_from_the_store() -> None:
    async def go() -> None:
        store = MemoryStore()
        sv, _ = front(store)
        a = sv.create(caller=None, target=Target(TargetKind.ARGV, argv=("sleep", "9")))
        await sv.start(a.id)
        b = sv.create(caller=None, target=Target(), name="b")
        sv.set_authkey(b.id, "k1")
        sv.persist(clean=True)

        sv2, _ = front(store)
        child = FakeChild(a.pid or 0, sv2.on_exit_of(a.id), None)
        assert sv2.reattach([Survivor(a.id, a.pid, None, child)]) == (1, 0, 0)
        got = {r.id: r for r in sv2.records()}
        assert got[a.id].state is State.RUNNING and got[a.id].pid == a.pid
        assert (got[b.id].name, got[b.id].authkey, got[b.id].state) == ("b", "k1", State.CREATED)
        assert sv2.authkey == sv.authkey, "the daemon's own key is kept: children inherit it"
        assert sv2.create(caller=None, target=Target()).id == b.id + 1  # clean stop: exact
        child.exit(3)
        assert (got[a.id].state, got[a.id].exitcode) == (State.EXITED, 3)

    asyncio.run(go())


def test_a_start_the_store_never_saw_is_rebuilt_from_the_owners_request() -> None:
    async def go() -> None:
        store = MemoryStore()
        sv, spawner = front(store)
        parent = sv.create(caller=None, target=Target())
        sv.persist()  # the parent is written; then a crash before its child's record is
        await sv.start(parent.id)
        kid = sv.create(caller=parent, target=Target(TargetKind.ARGV, argv=("true",)))
        await sv.start(kid.id)
        request: dict[str, Any] = request_to_dict(spawner.requests[-1])
        store_before_crash = MemoryStore()
        for kind in ("process", "meta"):
            for key, doc in store.load(kind).items():
                if kind != "process" or key == parent.id:
                    store_before_crash.put(kind, key, doc)
        store_before_crash.reserve_ids(store.reserved_ids())

        sv2, _ = front(store_before_crash, acks=[])
        assert kid.id not in {r.id for r in sv2.records()}
        sv2.reattach([Survivor(kid.id, kid.pid, 0, None, request)])
        rebuilt = sv2.get(kid.id)
        assert (rebuilt.name, rebuilt.identity, rebuilt.parent_id) == (
            kid.name,
            kid.identity,
            parent.id,
        )
        assert (rebuilt.state, rebuilt.exitcode) == (State.EXITED, 0)
        assert sv2.create(caller=None, target=Target()).id > kid.id  # past the reserved block

    asyncio.run(go())


def test_running_records_the_owner_does_not_know_are_lost_and_exits_are_acknowledged() -> None:
    async def go() -> None:
        store = MemoryStore()
        sv, _ = front(store)
        gone = sv.create(caller=None, target=Target())
        await sv.start(gone.id)
        ended = sv.create(caller=None, target=Target())
        await sv.start(ended.id)
        sv.persist()

        acks: list[int] = []
        sv2, _ = front(store, acks)
        # The owner knows only `ended`, which exited while no front was there.
        assert sv2.reattach([Survivor(ended.id, ended.pid, 7, None)]) == (0, 1, 1)
        assert (sv2.get(gone.id).state, sv2.get(gone.id).exitcode) == (State.LOST, None)
        assert sv2.get(gone.id).exited.is_set(), "a join of a lost process returns at once"
        assert acks == [], "an exit is acknowledged only once it is stored"
        sv2.persist()
        assert acks == [ended.id]
        assert store.load("process")[ended.id]["exitcode"] == 7

    asyncio.run(go())


def test_an_exit_reported_while_the_start_is_under_way_is_stored_as_an_exit() -> None:
    # A child that ends at once (`sh -c 'exit 5'`) can be reported exited before its spawn has
    # returned. A batch written then must say `exited 5`: `running` would make a front that
    # restarts after a crash of both front and keeper call it lost, and its code would be gone
    # (the owner dropped it once the batch was acknowledged).
    sv, _ = front(MemoryStore())
    record = sv.create(caller=None, target=Target(TargetKind.ARGV, argv=("true",)))
    record.starting = True
    assert to_document(record)["state"] == "running"  # under way: the owner knows it
    record.state, record.exitcode = State.EXITED, 5
    assert (to_document(record)["state"], to_document(record)["exitcode"]) == ("exited", 5)


class _ClosingStore(MemoryStore):
    """A store that, like SQLite's, cannot be written once closed."""

    closed = False

    def flush(self) -> None:
        if self.closed:
            raise RuntimeError("flush of a closed store")

    def close(self) -> None:
        self.closed = True


def test_what_changes_after_the_last_write_at_a_stop_is_written_and_nothing_is_left_scheduled() -> (
    None
):
    # At a stop the keeper may report exits as it quits, after the stop's own write. The last
    # write (seal) takes them, and no batch timer is left to fire on the closed store.
    async def go() -> None:
        store = _ClosingStore()
        sv, spawner = front(store, acks=[])
        record = sv.create(caller=None, target=Target(TargetKind.ARGV, argv=("sleep", "9")))
        await sv.start(record.id)
        sv.persist(clean=True)  # the stop's write
        spawner.children[-1].exit(-9)  # the keeper's end kills what it held
        sv.seal()
        store.close()
        assert store.load("process")[record.id]["exitcode"] == -9
        sv.set_name(record.id, "renamed")  # a change after the store closed
        failures: list[dict[str, Any]] = []
        loop = asyncio.get_running_loop()
        loop.set_exception_handler(lambda _loop, context: failures.append(context))
        later = loop.create_future()
        loop.call_later(0.05, later.set_result, None)  # timers fire in time order: a batch first
        await later
        assert failures == []

    asyncio.run(go())
