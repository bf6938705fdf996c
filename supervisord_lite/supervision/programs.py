"""Programs: named specs that the daemon keeps running, one new `Process` for each run.

States (supervisord's, with systemd's words where they differ):
- `stopped`: never started, or stopped by hand (`program.stop`); no restart until `program.start`.
- `starting`: a run is under way and has not yet lasted `healthy_after` seconds.
- `running`: the current run has lasted `healthy_after` seconds (the restart delay is reset).
- `backoff`: a run ended and the policy restarts it after the current delay.
- `exited`: a run ended and the policy wants no restart ("no", or "on-failure" and exit 0).
- `failed`: more than `max_restarts` restarts within `restart_window`, or the program could not
  be started at all; it stays so until started by hand.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from supervisord_lite.core import errors
from supervisord_lite.core.journal import RETRY_DELAY
from supervisord_lite.core.model import ProcessRecord, State
from supervisord_lite.core.store import PROGRAM, MemoryStore, Store
from supervisord_lite.core.supervisor import Supervisor
from supervisord_lite.core.times import rfc3339
from supervisord_lite.supervision import events as ev
from supervisord_lite.supervision.policy import Action, Backoff
from supervisord_lite.supervision.specs import ProgramSpec, spec_doc, spec_from_doc

log = logging.getLogger("supervisord_lite.programs")

STOPPED, STARTING, RUNNING = "stopped", "starting", "running"
BACKOFF, EXITED, FAILED = "backoff", "exited", "failed"
ACTIVE = (STARTING, RUNNING, BACKOFF)  # the states of a program meant to be running
_ACTIVE = ACTIVE


@dataclass(eq=False)
class Program:
    spec: ProgramSpec
    backoff: Backoff
    state: str = STOPPED
    since: str = field(default_factory=rfc3339)
    record: ProcessRecord | None = None
    runs: int = 0
    restarts: int = 0
    last_exitcode: int | None = None
    timer: asyncio.TimerHandle | None = None  # the pending restart, or the healthy mark
    run_ids: list[int] = field(default_factory=list)  # the processes of its runs, oldest first

    @property
    def name(self) -> str:
        return self.spec.name

    def cancel_timer(self) -> None:
        if self.timer is not None:
            self.timer.cancel()
            self.timer = None


class Programs:
    def __init__(
        self,
        supervisor: Supervisor,
        events: ev.EventLog,
        store: Store | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        info: Callable[[ProcessRecord], dict[str, Any]] | None = None,
    ) -> None:
        self._sv = supervisor
        self._events = events
        self._store: Store = store if store is not None else MemoryStore()
        self._clock = clock
        self._info = info or (lambda r: {"id": r.id})
        self._programs: dict[str, Program] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._closing = False
        self._resume: list[Program] = []
        for doc in self._store.load(PROGRAM).values():
            spec, wanted = spec_from_doc(doc)
            program = Program(spec, Backoff(spec.policy))
            self._programs[spec.name] = program
            if wanted:
                self._resume.append(program)

    # -- queries ---------------------------------------------------------------------------
    def get(self, name: str) -> Program:
        try:
            return self._programs[name]
        except KeyError:
            raise errors.NoSuchProgram(
                f"no program is named {name!r}; program.list shows the programs that exist",
                name=name,
            ) from None

    def all(self) -> Iterable[Program]:
        return self._programs.values()

    def status(self, program: Program) -> dict[str, Any]:
        record = program.record
        return {
            "name": program.name,
            "state": program.state,
            "process": None if record is None else self._info(record),
            "runs": program.runs,
            "restarts": program.restarts,
            "last_exitcode": program.last_exitcode,
            "since": program.since,
        }

    # -- the methods -----------------------------------------------------------------------
    async def add(self, spec: ProgramSpec, *, start: bool = True) -> Program:
        if spec.name in self._programs:
            raise errors.ProgramExists(
                f"a program named {spec.name!r} exists already; program.remove it first, or "
                "choose another name",
                name=spec.name,
            )
        program = Program(spec, Backoff(spec.policy))
        self._programs[spec.name] = program
        self._save(program)
        self._events.emit(ev.PROGRAM_ADDED, program=spec.name, state=program.state)
        if start:
            await self.start(spec.name)
        return program

    async def remove(self, name: str) -> None:
        program = self.get(name)
        await self.stop(name)
        del self._programs[name]
        self._store.delete(PROGRAM, name)
        self._events.emit(ev.PROGRAM_REMOVED, program=name, state=program.state)

    async def start(self, name: str) -> Program:
        """Start a run now unless one is under way; resets the backoff and the restart window."""
        program = self.get(name)
        if program.state in (STARTING, RUNNING):
            return program
        if self._closing:
            raise errors.ShuttingDown("the daemon is shutting down and starts nothing new")
        program.cancel_timer()
        program.backoff.reset()
        await self._run(program)
        return program

    async def stop(self, name: str) -> Program:
        """Stop the current run (stop_signal to its tree, SIGKILL after stop_timeout) and disable
        restarts until the next program.start."""
        program = self.get(name)
        program.cancel_timer()
        if program.state != STOPPED:
            self._set_state(program, STOPPED)  # before the exit comes: no restart is decided
        await self._stop_run(program)
        return program

    async def _stop_run(self, program: Program) -> None:
        record = program.record
        if record is not None and record.state is State.RUNNING:
            policy = program.spec.policy
            await self._sv.stop(record.id, policy.stop_signal, policy.stop_timeout)

    async def restart(self, name: str) -> Program:
        await self.stop(name)
        return await self.start(name)

    # -- runs ------------------------------------------------------------------------------
    async def _run(self, program: Program) -> None:
        spec = program.spec
        try:
            record = self._sv.create(
                caller=None,
                target=spec.target,
                args=spec.args,
                kwargs=spec.kwargs,
                name=spec.name,
                program=spec.name,
            )
        except errors.StateUnwritable as exc:
            # No id can be given until the state can be written (a full disk): the run waits in
            # backoff, tried again as often as the write is, rather than never.
            log.error("program %s cannot start a run now: %s", spec.name, exc.message)
            self._set_state(program, BACKOFF, delay=RETRY_DELAY)
            loop = asyncio.get_running_loop()
            program.timer = loop.call_later(RETRY_DELAY, self._restart, program)
            raise
        program.record = record
        program.run_ids.append(record.id)
        program.runs += 1
        self._set_state(program, STARTING, process=record.id)
        try:
            await self._sv.start(
                record.id,
                output=spec.output,
                spawn_options={**spec.log_limits, "kill_leftovers": True},
            )
        except errors.TargetFailed:
            return  # it ran and exited with 1: the exit has been (or will be) decided on
        except errors.SpawnFailed as exc:
            # Nothing ran and retrying the same spec will not help: failed until fixed by hand.
            program.last_exitcode = None
            self._set_state(program, FAILED, reason=exc.message)
            log.error("program %s cannot be started: %s", spec.name, exc.message)
            raise
        except errors.ShuttingDown:
            self._set_state(program, STOPPED)
            raise
        if program.record is record and program.state != STARTING:
            await self._stop_run(program)  # stopped while its spawn was under way
            return
        if program.record is record and record.state is State.RUNNING:
            healthy_after = spec.policy.healthy_after
            if healthy_after <= 0:
                self._healthy(program, record)
            else:
                loop = asyncio.get_running_loop()
                program.timer = loop.call_later(healthy_after, self._healthy, program, record)

    def _healthy(self, program: Program, record: ProcessRecord) -> None:
        program.timer = None
        if program.record is record and record.state is State.RUNNING:
            program.backoff.healthy()
            if program.state == STARTING:
                self._set_state(program, RUNNING, process=record.id)

    def process_event(self, kind: str, record: ProcessRecord) -> None:
        """The core's hook: a run of a program has exited (or was lost with its owner)."""
        if kind not in ("exited", "lost") or record.program is None:
            return
        program = self._programs.get(record.program)
        if program is None or program.record is not record:
            return
        program.cancel_timer()
        program.last_exitcode = record.exitcode
        if program.state not in _ACTIVE or self._closing:
            return  # stopped by hand (or the daemon stops): no restart
        decision = program.backoff.decide(self._clock(), record.run_time or 0.0, record.exitcode)
        if decision.action is Action.EXITED:
            self._set_state(program, EXITED, exitcode=record.exitcode)
        elif decision.action is Action.FAILED:
            reason = (
                f"more than {program.spec.policy.max_restarts} restarts within "
                f"{program.spec.policy.restart_window}s"
            )
            log.error("program %s failed: %s; program.start starts it again", program.name, reason)
            self._set_state(program, FAILED, exitcode=record.exitcode, reason=reason)
        else:
            program.restarts += 1
            self._set_state(program, BACKOFF, exitcode=record.exitcode, delay=decision.delay)
            loop = asyncio.get_running_loop()
            program.timer = loop.call_later(decision.delay, self._restart, program)

    def released(self, record: ProcessRecord) -> None:
        """A run's record was released (`--keep-exited`, process.release): it is no longer one
        of the program's runs to read back (so run_ids stays bounded by retention too)."""
        program = None if record.program is None else self._programs.get(record.program)
        if program is not None and record.id in program.run_ids:
            program.run_ids.remove(record.id)

    def _restart(self, program: Program) -> None:
        program.timer = None
        if program.state != BACKOFF or self._closing:
            return
        task = asyncio.ensure_future(self._run(program))
        self._tasks.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            exc = task.exception()
            if not isinstance(exc, errors.CoreError):  # those are logged where they happen
                log.error("a program's restart failed", exc_info=exc)

    def _set_state(self, program: Program, state: str, **details: Any) -> None:
        was_wanted = program.state in _ACTIVE
        program.state = state
        program.since = rfc3339()
        if (state in _ACTIVE) != was_wanted:
            self._save(program)
        type_ = {BACKOFF: ev.RESTARTING, FAILED: ev.FAILED}.get(state, ev.PROGRAM_STATE)
        self._events.emit(type_, program=program.name, state=state, **details)

    def _save(self, program: Program) -> None:
        self._store.put(
            PROGRAM, program.name, spec_doc(program.spec, wanted=program.state in _ACTIVE)
        )

    # -- the daemon's life -----------------------------------------------------------------
    async def resume(self) -> None:
        """Start again the programs that were meant to be running when the daemon stopped."""
        programs, self._resume = self._resume, []
        for program in programs:
            if self._adopt(program):
                continue
            with contextlib.suppress(errors.CoreError):  # logged and shown in its state
                await self.start(program.name)

    def _adopt(self, program: Program) -> bool:
        """After a crash of the front, a run of it still running under the keeper (reattached
        by the core) goes on as its current run: starting another would run it twice."""
        runs = [r for r in self._sv.records() if r.program == program.name]
        program.run_ids = [r.id for r in runs]
        program.runs = len(runs)
        live = [r for r in runs if r.state is State.RUNNING]
        if not live:
            return False
        program.record = live[-1]
        self._set_state(program, RUNNING, id=program.record.id)
        log.info("program %s: run %d still runs, taken back", program.name, program.record.id)
        return True

    async def shutdown(self) -> None:
        """Stop every run, each with its own stop signal and timeout, keeping each program's
        wish to run (so it is started again when the daemon comes back)."""
        self._closing = True
        for program in self._programs.values():
            program.cancel_timer()
        for task in list(self._tasks):
            task.cancel()
        stops = [self._stop_run(program) for program in self._programs.values()]
        await asyncio.gather(*stops, return_exceptions=True)
