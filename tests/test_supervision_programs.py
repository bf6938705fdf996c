"""Programs over the core with a fake spawner: runs, restarts, failed, stop, persistence.

Timing is driven by the events the layer emits (each test waits for the event it needs), with
restart delays of 10 ms; no test sleeps."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from supervisord_lite.core import errors
from supervisord_lite.core.model import Output, Target, TargetKind
from supervisord_lite.core.store import MemoryStore
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.rpc.methods import info
from supervisord_lite.supervision.policy import Policy, Restart
from supervisord_lite.supervision.service import Supervision
from supervisord_lite.supervision.specs import ProgramSpec
from tests.test_core import FakeChild, FakeSpawner

ARGV = Target(TargetKind.ARGV, argv=("svc",))


def spec(name: str = "svc", **policy: Any) -> ProgramSpec:
    defaults: dict[str, Any] = {"restart_delay": 0.01, "healthy_after": 60, "stop_timeout": 0.05}
    return ProgramSpec(name, ARGV, policy=Policy(**{**defaults, **policy}), output=Output.NULL)


def make(store: MemoryStore | None = None) -> tuple[Supervision, FakeSpawner]:
    spawner = FakeSpawner()
    sv = Supervisor(spawner, parent_of=lambda pid: None, daemon_pid=1)
    return Supervision(sv, store=store or MemoryStore(), info=info), spawner


async def until(sup: Supervision, cond: Callable[[dict[str, Any]], bool], since: int = 0) -> int:
    """Read events until one satisfies `cond`; its seq (bounded by a timeout)."""

    async def scan() -> int:
        cursor = since
        while True:
            events, cursor = await sup.events.read(cursor, 100, None)
            for e in events:
                if cond(e):
                    return int(e["seq"])

    return await asyncio.wait_for(scan(), 5)


def run(main: Callable[[], Awaitable[None]]) -> None:
    asyncio.run(main())  # type: ignore[arg-type]


def test_a_crashing_program_is_restarted_with_a_new_process_each_run() -> None:
    async def main() -> None:
        sup, spawner = make()
        program = await sup.programs.add(spec(max_restarts=10))
        assert program.state == "starting" and program.runs == 1
        first = program.record
        assert first is not None and first.program == "svc" and first.name == "svc"
        spawner.children[0].exit(2)
        await until(sup, lambda e: e["type"] == "program.restarting")
        assert program.state == "backoff" and program.last_exitcode == 2
        await until(sup, lambda e: e["type"] == "process.started" and e["id"] != first.id)
        assert program.runs == 2 and program.restarts == 1 and program.record is not first
        assert first.state.value == "exited"  # the old Process keeps its own rules and result
        status = sup.programs.status(program)
        assert status["process"]["program"] == "svc" and status["state"] == "starting"

    run(main)


def test_too_many_restarts_within_the_window_fail_until_started_by_hand() -> None:
    async def main() -> None:
        sup, spawner = make()
        program = await sup.programs.add(spec(max_restarts=2))
        for n in range(3):
            spawner.children[n].exit(1)
            if n < 2:
                await until(sup, lambda e, n=n: e["type"] == "process.started" and e["id"] == n + 2)
        await until(sup, lambda e: e["type"] == "program.failed")
        assert (program.state, program.runs, program.restarts) == ("failed", 3, 2)
        await sup.programs.start("svc")  # by hand: a fresh window
        assert program.state == "starting" and program.runs == 4

    run(main)


def test_a_clean_exit_is_not_restarted_on_failure_and_is_with_always() -> None:
    async def main() -> None:
        sup, spawner = make()
        once = await sup.programs.add(spec("once", restart=Restart.ON_FAILURE))
        always = await sup.programs.add(spec("always", restart=Restart.ALWAYS))
        spawner.children[0].exit(0)
        spawner.children[1].exit(0)
        await until(sup, lambda e: e["type"] == "process.started" and e["program"] == "always"
                    and e["id"] != 2)  # fmt: skip
        assert once.state == "exited" and once.runs == 1
        assert always.runs == 2

    run(main)


def test_stop_sends_the_stop_signal_and_disables_restarts() -> None:
    async def main() -> None:
        sup, spawner = make()
        program = await sup.programs.add(spec(stop_signal=signal.SIGINT, stop_timeout=5))
        child = spawner.children[0]
        child.dies_on.add(signal.SIGINT)
        await sup.programs.stop("svc")
        assert child.signals == [signal.SIGINT]
        assert program.state == "stopped" and program.last_exitcode == -signal.SIGINT
        assert len(spawner.children) == 1  # no restart
        await sup.programs.start("svc")
        assert program.state == "starting" and len(spawner.children) == 2

    run(main)


def test_stop_escalates_to_sigkill_after_stop_timeout() -> None:
    async def main() -> None:
        sup, spawner = make()
        await sup.programs.add(spec(stop_timeout=0.01))
        child: FakeChild = spawner.children[0]
        child.dies_on = {signal.SIGKILL}  # ignores SIGTERM
        program = await sup.programs.stop("svc")
        assert child.signals == [signal.SIGTERM, signal.SIGKILL]
        assert program.last_exitcode == -signal.SIGKILL

    run(main)


def test_healthy_after_marks_the_program_running() -> None:
    async def main() -> None:
        sup, _ = make()
        program = await sup.programs.add(spec(healthy_after=0.01))
        await until(sup, lambda e: e["type"] == "program.state" and e["state"] == "running")
        assert program.state == "running"

    run(main)


def test_names_are_unique_and_unknown_names_are_clear_errors() -> None:
    async def main() -> None:
        sup, _ = make()
        await sup.programs.add(spec(), start=False)
        with pytest.raises(errors.ProgramExists):
            await sup.programs.add(spec())
        with pytest.raises(errors.NoSuchProgram) as info_:
            sup.programs.get("nope")
        assert info_.value.data == {"name": "nope"}
        await sup.programs.remove("svc")
        assert list(sup.programs.all()) == []

    run(main)


def test_a_spawn_failure_fails_the_program_and_tells_the_caller() -> None:
    async def main() -> None:
        sup, spawner = make()
        spawner.fail = errors.SpawnFailed("cannot start 'svc': No such file or directory")
        with pytest.raises(errors.SpawnFailed):
            await sup.programs.add(spec())
        assert sup.programs.get("svc").state == "failed"

    run(main)


def test_programs_and_the_event_seq_come_back_after_a_restart() -> None:
    store = MemoryStore()

    async def first() -> None:
        sup, _ = make(store)
        await sup.programs.add(spec("kept"))
        await sup.programs.add(spec("idle"), start=False)
        await sup.programs.shutdown()

    async def second() -> None:
        sup, spawner = make(store)
        assert {p.name for p in sup.programs.all()} == {"kept", "idle"}
        seq = sup.events.seq
        assert seq > 0
        await sup.programs.resume()
        assert sup.programs.get("kept").state == "starting"  # it was meant to run
        assert sup.programs.get("idle").state == "stopped"
        assert [r.target.argv for r in spawner.requests] == [("svc",)]
        assert sup.events.since(seq, 100)[0]["seq"] == seq + 1

    run(first)
    run(second)
