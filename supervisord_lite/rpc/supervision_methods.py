"""The supervision methods (programs, events, logs): one small handler each, and their rows of the
method table (table.py: rows of MethodSpec's fields)."""

from __future__ import annotations

import signal
from typing import Any

from supervisord_lite.core.model import Output
from supervisord_lite.rpc import models as m
from supervisord_lite.rpc import supervision_models as sm
from supervisord_lite.rpc.errors import ErrorCode as E
from supervisord_lite.rpc.errors import RpcError
from supervisord_lite.rpc.methods import Api, CallContext, to_core_target
from supervisord_lite.supervision.follow import follow_program
from supervisord_lite.supervision.policy import Policy, Restart
from supervisord_lite.supervision.service import Supervision
from supervisord_lite.supervision.specs import ProgramSpec


def _sup(api: Api) -> Supervision:
    if api.supervision is None:  # pragma: no cover - the daemon always wires it
        raise RpcError(E.METHOD_NOT_FOUND, "Method not found: supervision is not enabled")
    return api.supervision


def _spec(p: sm.ProgramAddParams) -> ProgramSpec:
    if p.restart_max_delay < p.restart_delay:
        raise RpcError(
            E.INVALID_PARAMS,
            "Invalid params: restart_max_delay must be at least restart_delay",
            {"errors": [{"loc": ["restart_max_delay"], "msg": "below restart_delay",
                         "type": "value_error"}]},
        )  # fmt: skip
    policy = Policy(
        restart=Restart(p.restart),
        restart_delay=p.restart_delay,
        restart_max_delay=p.restart_max_delay,
        healthy_after=p.healthy_after,
        max_restarts=p.max_restarts,
        restart_window=p.restart_window,
        stop_signal=signal.Signals[p.stop_signal],
        stop_timeout=p.stop_timeout,
    )
    target = to_core_target(p.target)
    if target.kind.value == "argv" and (p.kwargs or not all(isinstance(a, str) for a in p.args)):
        raise RpcError(E.BAD_TARGET, "args of an argv target must be strings, and kwargs empty")
    return ProgramSpec(
        name=p.name,
        target=target,
        args=tuple(p.args),
        kwargs=dict(p.kwargs),
        policy=policy,
        output=Output(p.output),
        log_max_bytes=p.log_max_bytes,
        log_backups=p.log_backups,
    )


async def program_add(api: Api, ctx: CallContext, p: sm.ProgramAddParams) -> dict[str, Any]:
    programs = _sup(api).programs
    program = await programs.add(_spec(p), start=p.start)
    return programs.status(program)


async def program_remove(api: Api, ctx: CallContext, p: sm.ProgramNameParams) -> None:
    await _sup(api).programs.remove(p.name)


async def program_start(api: Api, ctx: CallContext, p: sm.ProgramNameParams) -> dict[str, Any]:
    programs = _sup(api).programs
    return programs.status(await programs.start(p.name))


async def program_stop(api: Api, ctx: CallContext, p: sm.ProgramNameParams) -> dict[str, Any]:
    programs = _sup(api).programs
    return programs.status(await programs.stop(p.name))


async def program_restart(api: Api, ctx: CallContext, p: sm.ProgramNameParams) -> dict[str, Any]:
    programs = _sup(api).programs
    return programs.status(await programs.restart(p.name))


def program_status(api: Api, ctx: CallContext, p: sm.ProgramNameParams) -> dict[str, Any]:
    programs = _sup(api).programs
    return programs.status(programs.get(p.name))


def program_list(api: Api, ctx: CallContext, p: m.NoParams) -> list[dict[str, Any]]:
    programs = _sup(api).programs
    return [programs.status(program) for program in programs.all()]


async def events_read(api: Api, ctx: CallContext, p: sm.EventsReadParams) -> dict[str, Any]:
    events, next_ = await _sup(api).events.read(p.since, p.limit, p.timeout)
    return {"events": events, "next": next_}


async def process_logs(api: Api, ctx: CallContext, p: sm.LogsParams) -> dict[str, Any]:
    sup = _sup(api)
    if p.id is None and p.program is None:
        raise RpcError(
            E.INVALID_PARAMS,
            'Invalid params: give "id" (a process), "program", or both (a run of the program)',
            {"errors": [{"loc": ["id"], "msg": "id or program", "type": "value_error"}]},
        )
    if p.program is not None:
        program = sup.programs.get(p.program)
        if program.spec.output is not Output.LOG:
            raise _no_log(program.run_ids[-1] if program.run_ids else None)
        run_id, batch = await follow_program(
            program, sup.logs, sup.events, run_id=p.id, cursor=p.cursor, limit=p.limit,
            stream=p.stream, follow=p.follow, timeout=p.timeout,
        )  # fmt: skip
    else:
        assert p.id is not None
        record = api.sv.get(p.id)
        if record.output is not Output.LOG or sup.logs.log_dir is None:
            raise _no_log(record.id)
        run_id = record.id
        batch = await sup.logs.read(
            record.id, cursor=p.cursor, limit=p.limit, stream=p.stream, follow=p.follow,
            timeout=p.timeout,
        )  # fmt: skip
    return {"id": run_id, "lines": batch.lines, "cursor": batch.cursor, "done": batch.done}


def _no_log(process_id: int | None) -> RpcError:
    return RpcError(
        E.INVALID_PARAMS,
        f'Invalid params: process {process_id} was not started with output "log", so the '
        'daemon has no log of it; start processes with output "log" to read them back',
        {"id": process_id},
    )


_P = (E.NO_SUCH_PROGRAM,)

SUPERVISION_METHODS: tuple[tuple[Any, ...], ...] = (
    ("program.add", program_add, sm.ProgramAddParams, sm.ProgramStatus,
               "Add a program (a named spec the daemon keeps running, one Process per run) "
               "and start it unless start is false.",
               (E.PROGRAM_EXISTS, E.BAD_TARGET, E.SPAWN_FAILED, E.SHUTTING_DOWN,
                E.STATE_UNWRITABLE)),
    ("program.remove", program_remove, sm.ProgramNameParams, None,
               "Stop the program (as program.stop) and forget it.", _P),
    ("program.start", program_start, sm.ProgramNameParams, sm.ProgramStatus,
               "Start a run now unless one is under way; resets the backoff.",
               (*_P, E.SPAWN_FAILED, E.SHUTTING_DOWN, E.STATE_UNWRITABLE)),
    ("program.stop", program_stop, sm.ProgramNameParams, sm.ProgramStatus,
               "Stop the current run (stop_signal to its tree, SIGKILL after stop_timeout) "
               "and restart nothing until the next program.start.", _P),
    ("program.restart", program_restart, sm.ProgramNameParams, sm.ProgramStatus,
               "program.stop, then program.start.",
               (*_P, E.SPAWN_FAILED, E.SHUTTING_DOWN, E.STATE_UNWRITABLE)),
    ("program.status", program_status, sm.ProgramNameParams, sm.ProgramStatus,
               "The program's state, current run and counters.", _P),
    ("program.list", program_list, m.NoParams, list[sm.ProgramStatus],
               "Every program's status, in the order they were added."),
    ("events.read", events_read, sm.EventsReadParams, sm.EventsReadResult,
               "Events after `since`, waiting up to `timeout` for one when there is none.",
               (E.EVENTS_EXPIRED,)),
    ("process.logs", process_logs, sm.LogsParams, sm.LogsResult,
               "Lines of a process's captured output (output \"log\") from a cursor; with "
               "follow, waits for one when there is none.",
               (E.NO_SUCH_PROCESS, E.NO_SUCH_PROGRAM, E.NOT_STARTED)),
)  # fmt: skip
