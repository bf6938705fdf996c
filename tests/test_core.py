"""The pure core with a fake spawner: the `processing` rules, without processes or sockets."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Callable

import pytest

from supervisord_lite.core import errors
from supervisord_lite.core.model import (
    ExitCallback,
    Output,
    SpawnRequest,
    State,
    Target,
    TargetKind,
)
from supervisord_lite.core.supervisor import Supervisor


class FakeChild:
    def __init__(self, pid: int, on_exit: ExitCallback, load_problem: str | None) -> None:
        self._pid = pid
        self.on_exit = on_exit
        self.signals: list[int] = []
        self.load_problem = load_problem
        self.dies_on: set[int] = {signal.SIGKILL}
        self.unseen: int | None = None  # an exit the event loop has not reported yet
        self.polls = 0

    @property
    def pid(self) -> int:
        return self._pid

    async def loaded(self) -> str | None:
        if self.load_problem is not None:  # like the real bootstrap: report, then exit 1
            asyncio.get_running_loop().call_soon(self.exit, 1)
        return self.load_problem

    def signal(self, signum: int) -> None:
        self.signals.append(signum)
        if signum in self.dies_on:  # like a real child: the exit is reported later, by the loop
            asyncio.get_running_loop().call_soon(self.exit, -signum)

    def poll(self) -> None:
        self.polls += 1
        code, self.unseen = self.unseen, None
        if code is not None:
            self.exit(code)

    def exit(self, code: int) -> None:
        self.on_exit(code)


class FakeSpawner:
    def __init__(self) -> None:
        self.children: list[FakeChild] = []
        self.requests: list[SpawnRequest] = []
        self.fail: errors.CoreError | None = None
        self.load_problem: str | None = None
        self.next_pid = 1000

    async def spawn(self, request: SpawnRequest, on_exit: ExitCallback) -> FakeChild:
        if self.fail is not None:
            raise self.fail
        self.requests.append(request)
        self.next_pid += 1
        child = FakeChild(self.next_pid, on_exit, self.load_problem)
        self.children.append(child)
        return child


def make(
    parents: dict[int, int] | None = None, *, keep_exited: int = 1000
) -> tuple[Supervisor, FakeSpawner]:
    spawner = FakeSpawner()
    table = parents or {}
    parent_of: Callable[[int], int | None] = table.get
    sv = Supervisor(spawner, parent_of=parent_of, daemon_pid=1, keep_exited=keep_exited)
    return sv, spawner


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def test_default_names_by_generation_and_identity() -> None:
    async def go() -> None:
        sv, _ = make()
        p1 = sv.create(caller=None, target=Target())
        p2 = sv.create(caller=None, target=Target())
        assert (p1.name, p2.name) == ("Process-1", "Process-2")
        sv.set_name(p2.id, "renamed")
        c1 = sv.create(caller=p2, target=Target())
        c2 = sv.create(caller=p2, target=Target())
        g1 = sv.create(caller=c2, target=Target())
        # Numbering follows identity, not the (changed) name.
        assert (c1.name, c2.name, g1.name) == ("Process-2:1", "Process-2:2", "Process-2:2:1")
        assert c1.parent_id == p2.id and p1.parent_id is None
        assert [r.id for r in sv.records()] == [1, 2, 3, 4, 5]

    run(go())


def test_authkey_inherited_at_creation_and_regenerated() -> None:
    sv, _ = make()
    assert len(sv.authkey) == 64 and int(sv.authkey, 16) >= 0
    p = sv.create(caller=None, target=Target())
    assert p.authkey == sv.authkey
    sv.set_authkey(p.id, "s3cret")
    child = sv.create(caller=p, target=Target())
    assert child.authkey == "s3cret"
    sv.set_authkey(p.id, None)
    assert p.authkey not in ("s3cret", sv.authkey) and len(p.authkey) == 64
    assert child.authkey == "s3cret"  # inherited at creation, not linked afterwards


def test_group_must_be_none() -> None:
    sv, _ = make()
    with pytest.raises(errors.GroupNotNull):
        sv.create(caller=None, target=Target(), group="g")
    assert list(sv.records()) == []


def test_bad_targets() -> None:
    sv, _ = make()
    argv = Target(kind=TargetKind.ARGV, argv=("echo",))
    with pytest.raises(errors.BadTarget, match="kwargs"):
        sv.create(caller=None, target=argv, kwargs={"a": 1})
    with pytest.raises(errors.BadTarget, match="strings"):
        sv.create(caller=None, target=argv, args=[1])
    with pytest.raises(errors.BadTarget):
        sv.create(caller=None, target=Target(kind=TargetKind.ARGV))
    with pytest.raises(errors.BadTarget):
        sv.create(caller=None, target=Target(kind=TargetKind.PICKLE, payload="x"), args=[1])


def test_join_reaps_an_exit_the_loop_has_not_reported_yet() -> None:
    """A join polls a running child first: if it has exited (on one CPU it often has, before the
    join is even read), the join ends at its first step, without waiting for the loop's wake-up."""

    async def go() -> None:
        sv, spawner = make()
        p = sv.create(caller=None, target=Target())
        await sv.start(p.id)
        child = spawner.children[0]
        waiting = sv.join(p.id, timeout=None, caller=None)
        waiting.send(None)  # its first step: the child still runs, so it waits (no StopIteration)
        assert child.polls == 1
        child.unseen = 7
        join = sv.join(p.id, timeout=None, caller=None)
        with pytest.raises(StopIteration) as ended:
            join.send(None)
        assert ended.value.value is p and (p.state, p.exitcode) == ("exited", 7)
        with pytest.raises(StopIteration) as earlier:
            waiting.send(None)  # the earlier join has its answer too
        assert earlier.value.value.exitcode == 7
        await sv.join(p.id, timeout=None, caller=None)
        assert child.polls == 2  # an exited process is not polled again

    run(go())


def test_start_once_join_many() -> None:
    async def go() -> None:
        sv, spawner = make()
        p = sv.create(caller=None, target=Target())
        with pytest.raises(errors.NotStarted):
            await sv.join(p.id, timeout=None, caller=None)
        await sv.start(p.id)
        assert p.state == "running" and p.pid == spawner.children[0].pid
        with pytest.raises(errors.AlreadyStarted):
            await sv.start(p.id)
        waiters = [asyncio.create_task(sv.join(p.id, timeout=None, caller=None)) for _ in range(5)]
        timed = await sv.join(p.id, timeout=0, caller=None)
        assert timed.exitcode is None
        spawner.children[0].exit(-signal.SIGKILL)
        results = await asyncio.gather(*waiters)
        assert {r.exitcode for r in results} == {-9}
        again = await sv.join(p.id, timeout=None, caller=None)
        assert again.state == "exited" and again.exitcode == -9
        assert len(spawner.children) == 1

    run(go())


def test_spawn_failure_leaves_process_created() -> None:
    async def go() -> None:
        sv, spawner = make()
        p = sv.create(caller=None, target=Target(kind=TargetKind.ARGV, argv=("nope",)))
        spawner.fail = errors.SpawnFailed("cannot start 'nope'")
        with pytest.raises(errors.SpawnFailed):
            await sv.start(p.id)
        assert p.state == "created" and p.pid is None
        spawner.fail = None
        await sv.start(p.id)
        assert p.state == "running"

    run(go())


def test_load_failure_is_an_error_and_the_exit_is_kept() -> None:
    async def go() -> None:
        sv, spawner = make()
        spawner.load_problem = "ModuleNotFoundError: No module named 'x'"
        p = sv.create(caller=None, target=Target(kind=TargetKind.CALLABLE, ref="x:y"))
        with pytest.raises(errors.TargetFailed, match="No module named"):
            await sv.start(p.id)
        assert (p.state, p.exitcode) == ("exited", 1)  # already, when start answers
        assert (await sv.join(p.id, timeout=None, caller=None)).exitcode == 1

    run(go())


def test_caller_found_by_walking_up_from_the_peer_pid() -> None:
    async def go() -> None:
        # 1 (init) -> 1001 (Process-1, supervised) -> 5000 (a shell it ran) -> 5001 (a client)
        sv, _ = make({5001: 5000, 5000: 1001, 1001: 1, 7000: 1})
        p = sv.create(caller=None, target=Target())
        await sv.start(p.id)
        assert p.pid == 1001
        assert sv.caller_of(5001) is p
        assert sv.caller_of(1001) is p
        assert sv.caller_of(7000) is None
        assert sv.caller_of(None) is None
        with pytest.raises(errors.JoinSelf):
            await sv.join(p.id, timeout=None, caller=sv.caller_of(5001))

    run(go())


def test_signals_only_reach_running_children() -> None:
    async def go() -> None:
        sv, spawner = make()
        p = sv.create(caller=None, target=Target())
        with pytest.raises(errors.NotStarted):
            await sv.send_signal(p.id, signal.SIGTERM)
        await sv.start(p.id)
        spawner.children[0].dies_on.add(signal.SIGTERM)
        await sv.send_signal(p.id, signal.SIGTERM)
        await sv.join(p.id, timeout=None, caller=None)
        await sv.send_signal(p.id, signal.SIGKILL)  # already exited: left alone
        assert spawner.children[0].signals == [signal.SIGTERM]
        assert p.exitcode == -15

    run(go())


def test_fds_are_closed_when_start_is_refused() -> None:

    async def go() -> None:
        sv, _ = make()
        r, w = os.pipe()
        with pytest.raises(errors.NoSuchProcess):
            await sv.start(42, output=Output.PASSED, fds=(r, w))
        for fd in (r, w):
            with pytest.raises(OSError):
                os.fstat(fd)

    run(go())


def test_shutdown_terminates_then_kills() -> None:
    async def go() -> None:
        sv, spawner = make()
        polite = sv.create(caller=None, target=Target())
        stubborn = sv.create(caller=None, target=Target())
        await sv.start(polite.id)
        await sv.start(stubborn.id)
        a, b = spawner.children
        a.dies_on.add(signal.SIGTERM)  # b ignores SIGTERM
        await sv.shutdown(grace=0.05)
        assert a.signals == [signal.SIGTERM]
        assert b.signals == [signal.SIGTERM, signal.SIGKILL]
        assert (polite.exitcode, stubborn.exitcode) == (-15, -9)
        with pytest.raises(errors.ShuttingDown):
            await sv.start(sv.create(caller=None, target=Target()).id)

    run(go())


def test_a_start_whose_caller_goes_away_still_records_and_watches_the_child() -> None:
    async def go() -> None:
        sv, spawner = make()
        gate, entered = asyncio.Event(), asyncio.Event()
        real_spawn = spawner.spawn

        async def slow_spawn(request: SpawnRequest, on_exit: ExitCallback) -> FakeChild:
            entered.set()
            await gate.wait()  # e.g. the zygote has not answered yet
            return await real_spawn(request, on_exit)

        spawner.spawn = slow_spawn  # type: ignore[method-assign]
        p = sv.create(caller=None, target=Target())
        caller = asyncio.create_task(sv.start(p.id))
        await entered.wait()  # the start has reached the spawn
        caller.cancel()  # the client hung up
        gate.set()
        done = await sv.join(p.id, timeout=0, caller=None)
        while done.pid is None:
            await asyncio.sleep(0)  # poll the loop until the shielded start has finished
        assert (p.state, p.pid) == ("running", spawner.children[0].pid)
        spawner.children[0].exit(5)
        assert (await sv.join(p.id, timeout=None, caller=None)).exitcode == 5

    run(go())


def test_mark_lost_ends_a_running_process_with_no_exit_status() -> None:
    """What the reattach does to a child whose owner died with it: `lost` is final, exitcode
    None, joins (waiting or new) return at once, signals go nowhere, a late exit changes nothing."""

    async def go() -> None:
        sv, spawner = make()
        p = sv.create(caller=None, target=Target())
        await sv.start(p.id)
        child = spawner.children[0]
        waiting = sv.join(p.id, timeout=None, caller=None)
        waiting.send(None)  # its first step: the child runs, so it waits (no StopIteration)
        lost = sv.mark_lost(p.id, "the keeper died")
        assert lost is p and (p.state, p.exitcode, p.lost_reason) == (
            "lost",
            None,
            "the keeper died",
        )
        with pytest.raises(StopIteration) as answered:
            waiting.send(None)  # the waiting join has its answer
        assert answered.value.value is p
        assert (await sv.join(p.id, timeout=None, caller=None)).exitcode is None
        assert sv.running == 0 and sv.caller_of(child.pid) is None
        await sv.send_signal(p.id, signal.SIGKILL)
        assert child.signals == []
        child.exit(0)  # a late report from a handle that outlived its owner
        assert (p.state, p.exitcode) == ("lost", None)
        with pytest.raises(errors.AlreadyStarted):
            await sv.start(p.id)
        assert sv.mark_lost(p.id, "again") is p and p.lost_reason == "the keeper died"
        never = sv.create(caller=None, target=Target())
        with pytest.raises(errors.NotStarted):
            sv.mark_lost(never.id, "nothing ran")
        assert [r.id for r in sv.select(state=State.LOST)] == [p.id]
        sv.release(p.id)  # a lost process can be released like an exited one
        with pytest.raises(errors.NoSuchProcess):
            sv.get(p.id)

    run(go())
